"""End to end in headless Chromium: upload, see the found mask, paint, undo, run, download, check the file; the
result and Download in view after Remove, truthful model labels, and no horizontal overflow on a 420 px screen.
"""

import base64
import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unmask.face import detect_faces
from unmask.io import load_image, save_image
from unmask.occlusion import occlude
from unmask.server.app import create_app
from unmask.server.local import serve_in_background
from unmask.server.settings import Settings

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="no chromium/chromedriver binary (apt-get install chromium chromium-driver)")
STROKE_Y, STROKE_X0, STROKE_X1 = 84, 195, 250  # forehead, above the synthetic mask, in photo pixels
LAPTOP, PHONE = (1024, 757), (420, 757)  # viewports (CSS px): a small laptop's browser window, a phone


@pytest.fixture()
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={LAPTOP[0]},{LAPTOP[1]}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    _set_viewport(driver, *LAPTOP)
    yield driver
    driver.quit()


def _set_viewport(driver, width, height):
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels (the window size includes no chrome)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def _in_view(driver, element_id):
    """The element's box in the viewport, and whether all of it is visible without scrolling."""
    return driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return [r.top, r.bottom, r.height, r.left >= 0 && r.top >= 0 && r.height > 0 &&"
        "        r.right <= innerWidth && r.bottom <= innerHeight];", element_id)


def _just_above(driver, upper_id, lower_id, gap=48):
    """Whether ``upper_id`` sits right above ``lower_id``, within its column and at most ``gap`` px from it."""
    return driver.execute_script(
        "const [u, l] = [arguments[0], arguments[1]].map((id) => document.getElementById(id).getBoundingClientRect());"
        "return u.left >= l.left && u.right <= l.right && u.bottom <= l.top && l.top - u.bottom <= arguments[2];",
        upper_id, lower_id, gap)


def _paint_stroke(driver):
    """Drag the brush along the forehead; returns the brush width in photo pixels."""
    left, top, width = driver.execute_script(
        "const r = document.getElementById('faces').getBoundingClientRect(); return [r.left, r.top, r.width];")
    scale = width / 512
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(round(left + STROKE_X0 * scale), round(top + STROKE_Y * scale))
    actions.pointer_action.pointer_down()
    actions.pointer_action.move_to_location(round(left + STROKE_X1 * scale), round(top + STROKE_Y * scale))
    actions.pointer_action.pointer_up()
    actions.perform()
    _wait_for_state(driver, "edited")
    return float(driver.find_element(By.ID, "size").get_attribute("value")) / scale


def _status(driver):
    return driver.find_element(By.ID, "status").text


def _wait_for_state(driver, *states, timeout=300):  # generous: a busy 2-core machine starts workers slowly
    WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                         in (*states, "error"))
    state = driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")
    assert state in states, driver.find_element(By.ID, "status").text


def test_upload_paint_run_download(browser, astronaut, tmp_path):
    occluded, hole = occlude(astronaut, "surgical", np.random.default_rng(0), face=detect_faces(astronaut)[0])
    photo = save_image(tmp_path / "astronaut.png", occluded)
    with serve_in_background(create_app(Settings(study_db=tmp_path / "none.sqlite"))) as url:
        browser.get(url)
        browser.find_element(By.ID, "image").send_keys(str(photo))
        _wait_for_state(browser, "detected")
        assert "1 face found" in browser.find_element(By.ID, "status").text

        data_url = browser.execute_script("return document.getElementById('mask').toDataURL('image/png')")
        found = np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))[..., 3] > 127
        assert found.shape == hole.shape and (found & (hole > 0)).sum() > 0.7 * hole.sum()

        found_status = _status(browser)
        _paint_stroke(browser)
        browser.find_element(By.ID, "undo").click()  # undo says so: back to the found mask and its message
        _wait_for_state(browser, "detected")
        assert _status(browser) == found_status
        brush = _paint_stroke(browser)

        browser.find_element(By.ID, "run").click()
        _wait_for_state(browser, "done")
        top, bottom, height, seen = _in_view(browser, "compare")  # the before/after is where the user looks
        assert seen and height >= LAPTOP[1] / 2, (top, bottom, height)
        assert _in_view(browser, "download")[3] and _just_above(browser, "download", "compare")  # Download next to it
        clip = browser.execute_script("const s = document.getElementById('slider'); s.value = 35;"
                                      "s.dispatchEvent(new Event('input'));"
                                      "return document.getElementById('after').style.clipPath;")
        assert clip == "inset(0px 0px 0px 35%)" or clip == "inset(0 0 0 35%)"  # the before/after slider moves
        if os.environ.get("UNMASK_WEBAPP_SCREENSHOT"):
            browser.save_screenshot(os.environ["UNMASK_WEBAPP_SCREENSHOT"])
        labels = {option.get_attribute("value"): option.text
                  for option in browser.find_elements(By.CSS_SELECTOR, "#model option")}
        assert "reference photo" in labels["reference_guided"] and "weights" not in labels["reference_guided"]

        _set_viewport(browser, *PHONE)  # a phone: no sideways scrolling, and the next result is brought into view
        assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
        browser.find_element(By.ID, "run").click()
        _wait_for_state(browser, "done")
        assert _in_view(browser, "compare")[3] and _in_view(browser, "download")[3]
        assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
        browser.find_element(By.ID, "download").click()
        target = tmp_path / "downloads" / "astronaut.unmasked.png"
        deadline = time.monotonic() + 10
        while not target.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)

    result = load_image(target)
    assert result.shape == occluded.shape
    changed = (result != occluded).any(axis=-1)
    ys, xs = np.mgrid[:512, :512]
    reach = brush / 2 + 2  # the stroke's half width plus antialiasing and pointer rounding
    distance = np.hypot(np.clip(xs, STROKE_X0, STROKE_X1) - xs, ys - STROKE_Y)
    stroke = distance <= reach
    assert not changed[~(found | stroke)].any()  # pixels outside the mask the page sent are untouched
    assert changed[stroke & ~found & (distance <= reach - 4)].mean() > 0.9  # the painted stroke was filled
    assert changed[found].mean() > 0.5  # and so was the found mask
    assert Path(target).stat().st_size > 0
