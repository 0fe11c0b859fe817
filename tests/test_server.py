import asyncio
import base64
import inspect
import io
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from unmask.errors import UnmaskError
from unmask.face import detect_faces
from unmask.models import list_models
from unmask.models.pretrained import shipped_models
from unmask.occlusion import occlude
from unmask.provenance import edited_by
from unmask.server.app import create_app
from unmask.server.local import process_tree_rss, serve_in_background
from unmask.server.settings import Settings
from unmask.server.tasks import UploadError

MAX_UPLOAD = 2 * 1024 * 1024
MAX_PIXELS = 1_000_000


def _encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def masked(astronaut):
    """The astronaut with a synthetic surgical mask (PNG and JPEG bytes) and the true hole (H, W) bool."""
    occluded, hole = occlude(astronaut, "surgical", np.random.default_rng(0), face=detect_faces(astronaut)[0])
    return {"png": _encode(occluded), "jpeg": _encode(occluded, "JPEG"), "array": occluded, "hole": hole > 0,
            "mask_png": _encode((hole > 0).astype(np.uint8) * 255)}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings(max_upload_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS, workers=1, queue=2,
                        study_db=tmp_path_factory.mktemp("study") / "none.sqlite")
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client


def _remove(client, image: bytes, name="astro.png", **fields):
    files = {"image": (name, image)}
    for key in ("mask", "reference"):
        if key in fields:
            files[key] = (f"{key}.png", fields.pop(key))
    return client.post("/api/v1/remove", files=files, data=fields)


def _assert_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert fragment in response.json()["detail"]


def test_health_and_openapi(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["capacity"] == 3 and health["admitted"] == 0
    schema = client.get("/openapi.json").json()
    assert {"/api/v1/remove", "/api/v1/detect", "/api/v1/models", "/healthz"} <= set(schema["paths"])
    assert "ErrorResponse" in schema["components"]["schemas"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="mask"' in page.text
    assert client.get("/static/app.js").status_code == 200


def test_models_come_from_the_registry(client):
    body = client.get("/api/v1/models").json()
    models = {model["name"]: model for model in body["models"]}
    assert set(models) == set(list_models()) | set(shipped_models())  # shipped variants too (pconv_texture)
    assert all(models[name]["available"] and models[name]["kind"] == "classical"
               for name in ("telea", "ns", "biharmonic", "patchmatch"))
    assert models[body["default"]]["available"] and models[body["default"]]["default"]
    for model in models.values():
        assert model["available"] or "weights" in model["reason"] or "reference photo" in model["reason"]
    assert isinstance(body["reference_supported"], bool)


def test_detect_returns_faces_and_the_mask(client, masked):
    response = client.post("/api/v1/detect", files={"image": ("astro.png", masked["png"])})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (512, 512) and len(body["faces"]) == 1
    x0, y0, x1, y1 = body["faces"][0]["box"]
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 200 and len(body["faces"][0]["keypoints"]) == 5
    found = _decode(base64.b64decode(body["mask_png"]))[..., 0] > 127
    assert (found & masked["hole"]).sum() / masked["hole"].sum() > 0.7
    assert body["occluded_fraction"] == pytest.approx(found.mean())
    png = client.post("/api/v1/detect?format=png", files={"image": ("astro.png", masked["png"])})
    assert png.headers["content-type"] == "image/png" and png.headers["x-unmask-faces"] == "1"
    assert np.array_equal(_decode(png.content)[..., 0] > 127, found)


def test_remove_with_a_mask_keeps_size_format_and_outside_pixels(client, masked):
    response = _remove(client, masked["png"], name="dir/../astro.png", mask=masked["mask_png"], model="telea")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'attachment; filename="astro.unmasked.png"'
    assert response.headers["x-unmask-model"] == "telea" and response.headers["x-unmask-faces"] == "1"
    result, hole = _decode(response.content), masked["hole"]
    assert result.shape == masked["array"].shape
    assert np.array_equal(result[~hole], masked["array"][~hole])
    assert (result[hole] != masked["array"][hole]).any(axis=-1).mean() > 0.9
    assert edited_by(io.BytesIO(response.content)) == "telea"
    jpeg = _remove(client, masked["jpeg"], name="astro.jpg")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content[:3] == b"\xff\xd8\xff" and Image.open(io.BytesIO(jpeg.content)).size == (512, 512)
    assert jpeg.headers["x-unmask-region"] != "none"


def test_the_onnxruntime_backend_serves_the_shipped_model(masked, tmp_path):
    settings = Settings(workers=1, queue=0, backend="onnxruntime", study_db=tmp_path / "none.sqlite")
    with TestClient(create_app(settings), base_url="http://localhost") as onnx_client:
        body = onnx_client.get("/api/v1/models").json()
        assert body["backend"] == "onnxruntime"
        models = {model["name"]: model for model in body["models"]}
        assert models["deepfill"]["available"] and models["telea"]["available"]
        response = _remove(onnx_client, masked["png"], mask=masked["mask_png"], model="deepfill")
    assert response.status_code == 200, response.text
    result, hole = _decode(response.content), masked["hole"]
    assert np.array_equal(result[~hole], masked["array"][~hole])
    assert (result[hole] != masked["array"][hole]).any(axis=-1).mean() > 0.9


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(UnmaskError, match="unknown backend 'tensorflow'"):
        Settings(backend="tensorflow")


def test_models_that_cannot_run_are_refused(client, masked):
    unavailable = [m for m in client.get("/api/v1/models").json()["models"] if not m["available"]]
    for model in unavailable:  # untrained ones, and the reference-guided one, which needs a reference photo
        reason = "reference photo" if "reference photo" in model["reason"] else "no trained weights"
        _assert_error(_remove(client, masked["png"], model=model["name"]), 400, reason)
    _assert_error(_remove(client, masked["png"], model="nonsense"), 400, "unknown model 'nonsense'")


def test_a_reference_photo_is_passed_on_or_refused(client, masked):
    supported = client.get("/api/v1/models").json()["reference_supported"]
    response = _remove(client, masked["png"], mask=masked["mask_png"], reference=masked["png"])
    if supported:  # passed to the pipeline, which fills with it or says why it cannot (no shipped weights)
        assert response.status_code == 200 or (response.status_code == 422
                                                and "reference" in response.json()["detail"]), response.text
    else:
        _assert_error(response, 400, "reference-guided unmasking is not available in this version")


def test_reference_is_refused_when_the_pipeline_lacks_it(masked, monkeypatch):
    from unmask.pipeline import Unmasker
    from unmask.server import jobs

    assert jobs.supports_reference() == ("reference" in inspect.signature(Unmasker.__call__).parameters)
    monkeypatch.setattr(jobs, "supports_reference", lambda: False)
    with pytest.raises(UploadError, match="reference-guided unmasking is not available in this version"):
        jobs.remove_job(masked["png"], "PNG", "telea", masked["mask_png"], masked["png"])
    assert jobs.describe()["reference_supported"] is False


def test_bad_uploads_get_a_4xx_with_a_message(client, masked, astronaut):
    _assert_error(_remove(client, b"not an image at all"), 400, "image: not a readable image")
    _assert_error(_remove(client, masked["png"][: len(masked["png"]) // 2]), 400, "image: not a readable image")
    _assert_error(_remove(client, b""), 400, "image: the upload is empty")
    _assert_error(_remove(client, masked["png"], mask=_encode(np.zeros((10, 10), np.uint8))), 400,
                  "mask: mask is 10x10 but the image is 512x512")
    _assert_error(_remove(client, masked["png"], mask=b"garbage"), 400, "mask: not a readable image")
    _assert_error(_remove(client, _encode(np.zeros((1000, 1001), np.uint8))), 413, "over the server's limit")
    _assert_error(_remove(client, _encode(np.full((64, 64, 3), 128, np.uint8))), 422, "no face found")
    _assert_error(client.post("/api/v1/remove", data={"model": "telea"}), 422, "image: Field required")
    _assert_error(client.post("/api/v1/detect?format=gif", files={"image": ("a.png", masked["png"])}), 422, "format")
    big = os.urandom(MAX_UPLOAD + 1)
    _assert_error(_remove(client, big), 413, "over the server's limit of 2.0 MB")
    streamed = client.post("/api/v1/remove", content=iter([b"x" * 1024 * 1024] * 3),
                           headers={"content-type": "multipart/form-data; boundary=b"})
    _assert_error(streamed, 413, "over the server's limit")
    assert client.get("/healthz").json()["admitted"] == 0


def test_a_full_queue_answers_503_with_retry_after(client, masked):
    pool = client.app.state.pool
    taken = [pool.admit() for _ in range(pool.capacity)]
    try:
        assert all(taken) and not pool.admit()
        response = _remove(client, masked["png"])
        _assert_error(response, 503, "the server is busy")
        assert int(response.headers["retry-after"]) >= 1
    finally:
        for _ in taken:
            pool.release()
    assert _remove(client, masked["png"], mask=masked["mask_png"]).status_code == 200


def test_a_killed_worker_is_replaced(client, masked):
    pool = client.app.state.pool
    os.kill(asyncio.run(pool.run("worker_pid")), signal.SIGKILL)
    time.sleep(0.5)
    _assert_error(_remove(client, masked["png"], mask=masked["mask_png"]), 503, "restarted")
    assert _remove(client, masked["png"], mask=masked["mask_png"]).status_code == 200


def test_fifty_simultaneous_clients_on_loopback(masked, tmp_path):
    settings = Settings(workers=1, queue=2, study_db=tmp_path / "none.sqlite")
    app = create_app(settings)
    clients = 50
    start = threading.Barrier(clients)
    peak = {"admitted": 0, "rss": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak["admitted"] = max(peak["admitted"], app.state.pool.admitted)
            peak["rss"] = max(peak["rss"], process_tree_rss())
            time.sleep(0.01)

    def post(url: str) -> httpx.Response:
        start.wait()
        files = {"image": ("astro.png", masked["png"]), "mask": ("mask.png", masked["mask_png"])}
        return httpx.post(f"{url}/api/v1/remove", files=files, timeout=60)

    with serve_in_background(app) as url:
        assert httpx.post(f"{url}/api/v1/remove", files={"image": ("a.png", masked["png"])}, timeout=60).is_success
        baseline = process_tree_rss()
        watcher = threading.Thread(target=watch)
        watcher.start()
        with ThreadPoolExecutor(clients) as executor:
            responses = list(executor.map(post, [url] * clients))
        done.set()
        watcher.join()
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= settings.workers + settings.queue and statuses.count(503) >= 1
    busy = [response for response in responses if response.status_code == 503]
    assert all(int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["detail"] for r in busy)
    assert peak["admitted"] <= settings.workers + settings.queue
    assert peak["rss"] - baseline < 300 * 1024 * 1024, (baseline, peak["rss"])
