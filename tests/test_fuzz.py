"""Fuzz / property tests: loaders, the pipeline, the CLI and the HTTP API get truncated, corrupt, huge-dimension,
zero-size, wrong-mode, mismatched-mask and random-byte inputs. The only outcomes allowed are a correct result or a
clear one-line ``UnmaskError`` (4xx JSON for the API). Each test prints how many inputs it tried.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.io import MAX_PIXELS, as_rgb_uint8, load_image, load_mask
from unmask.pipeline import Unmasker

FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK", "YCbCr")
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
tried: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _report(request, capsys):
    """Print how many inputs the test tried (visible with ``pytest -s`` and in the captured output on failure)."""
    yield
    with capsys.disabled():
        print(f"\n{request.node.name}: {tried.get(request.node.name, 0)} inputs tried", end="")


def _count(name: str) -> None:
    tried[name] = tried.get(name, 0) + 1


def _encode(image: Image.Image, fmt: str) -> bytes:
    """``image`` saved as ``fmt``, converted to a mode the format can hold when it has to be."""
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk (8-bit RGB) claiming ``width`` x ``height``, plus one empty IDAT and IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@st.composite
def image_files(draw) -> bytes:
    """Bytes of an image file: valid in any mode/format, truncated, bit-flipped, a bomb header, or noise."""
    kind = draw(st.sampled_from(["valid", "truncated", "flipped", "header", "noise"]))
    if kind == "noise":
        return draw(st.binary(max_size=2048))
    if kind == "header":
        side = st.sampled_from([0, 1, 7, 20_000, 70_000, 2**31 - 1])
        return _png_header(draw(side), draw(side))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    mode = draw(st.sampled_from(MODES))
    pixels = np.random.default_rng(draw(st.integers(0, 2**16))).integers(0, 255, (height, width, 3), np.uint8)
    data = _encode(Image.fromarray(pixels).convert(mode), draw(st.sampled_from(FORMATS)))
    if kind == "truncated":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if kind == "flipped":
        array = bytearray(data)
        for position in draw(st.lists(st.integers(0, len(array) - 1), min_size=1, max_size=8)):
            array[position] ^= draw(st.integers(1, 255))
        return bytes(array)
    return data


def _one_line(error: Exception) -> None:
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message


@FUZZ
@given(data=image_files())
def test_load_image_and_mask(tmp_path_factory, data):
    _count("test_load_image_and_mask")
    path = tmp_path_factory.mktemp("fuzz") / "input.png"
    path.write_bytes(data)
    try:
        image = load_image(path)
    except UnmaskError as error:
        _one_line(error)
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert 0 < image.shape[0] * image.shape[1] <= MAX_PIXELS
    with pytest.raises(UnmaskError, match="mask is"):
        load_mask(path, (image.shape[0] + 1, image.shape[1]))
    assert load_mask(path, image.shape).shape == image.shape[:2]


@st.composite
def arrays(draw) -> np.ndarray:
    """Arrays users might pass: odd shapes (zero-size too), dtypes, NaN/inf floats."""
    shape = draw(st.sampled_from([(0, 4, 3), (4, 0), (5,), (2, 2, 2, 2), (6, 7), (6, 7, 1), (6, 7, 2), (6, 7, 3),
                                  (6, 7, 4), (6, 7, 5), (1, 1, 3)]))
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.int64, np.float32, np.float64, np.bool_]))
    array = np.random.default_rng(draw(st.integers(0, 2**16))).uniform(-2, 300, shape).astype(dtype)
    if np.issubdtype(dtype, np.floating) and array.size and draw(st.booleans()):
        array.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return array


@FUZZ
@given(array=arrays())
def test_as_rgb_uint8(array):
    _count("test_as_rgb_uint8")
    try:
        image = as_rgb_uint8(array)
    except UnmaskError as error:
        _one_line(error)
        return
    assert image.dtype == np.uint8 and image.shape == (*array.shape[:2], 3) and image.size > 0


@pytest.fixture(scope="module")
def telea():
    return Unmasker("telea")


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_pipeline(telea, astronaut, data):
    """Random crops of the astronaut or noise, with no mask, a matching random mask or a mismatched one."""
    _count("test_pipeline")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    if data.draw(st.booleans()):
        side = data.draw(st.integers(64, 512))
        top, left = data.draw(st.integers(0, 512 - side)), data.draw(st.integers(0, 512 - side))
        image = np.ascontiguousarray(astronaut[top: top + side, left: left + side])
    else:
        image = rng.integers(0, 255, (data.draw(st.integers(1, 96)), data.draw(st.integers(1, 96)), 3), np.uint8)
    mask_kind = data.draw(st.sampled_from(["none", "match", "mismatch", "empty", "full"]))
    height, width = image.shape[:2]
    mask = {"none": None, "match": (rng.random((height, width)) > 0.8).astype(np.uint8) * 255,
            "mismatch": np.zeros((height + 3, width), np.uint8), "empty": np.zeros((height, width), np.uint8),
            "full": np.full((height, width), 255, np.uint8)}[mask_kind]
    try:
        result = telea(image, mask=mask)
    except UnmaskError as error:
        _one_line(error)
        assert mask_kind == "mismatch" or "no face" in str(error)
        return
    assert mask_kind != "mismatch"
    assert result.image.shape == image.shape and result.mask.shape == image.shape[:2]
    outside = result.mask == 0
    assert np.array_equal(result.image[outside], image[outside])


def test_cli_remove_on_broken_folder(tmp_path, capsys):
    """A folder of broken files: one line per file, exit status 1, nothing written, no traceback."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    good = _encode(Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)), "PNG")
    broken = {"noise.png": rng.bytes(300), "truncated.png": good[:60], "empty.jpg": b"",
              "bomb.png": _png_header(50_000, 50_000), "zero.png": _png_header(0, 10), "noface.png": good}
    for name, data in broken.items():
        (folder / name).write_bytes(data)
        _count("test_cli_remove_on_broken_folder")
    assert main(["remove", str(folder), "-o", str(tmp_path / "out"), "--model", "telea"]) == 1
    err = capsys.readouterr().err  # progress-bar text interleaves with the error lines
    assert err.count("unmask: ") == len(broken) and "Traceback" not in err
    assert all(f"{name}: " in err for name in broken)
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_api(tmp_path, astronaut):
    """The HTTP API answers a broken upload with a 4xx JSON one-liner (never a 500), a readable one with a photo."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from unmask.server.app import create_app
    from unmask.server.settings import Settings

    rng = np.random.default_rng(1)
    photo = _encode(Image.fromarray(astronaut), "PNG")
    cases = [rng.bytes(500), photo[:1000], b"", _png_header(60_000, 60_000), _png_header(0, 0),
             _encode(Image.fromarray(astronaut).convert("CMYK"), "TIFF"), _encode(Image.new("I;16", (40, 40)), "PNG")]
    cases += [bytes(b ^ 0x55 if i % 97 == 0 else b for i, b in enumerate(photo[:5000]))]
    settings_ = Settings(max_upload_bytes=4 * 1024 * 1024, max_pixels=4_000_000, workers=1, queue=2,
                         study_db=tmp_path / "study.sqlite")
    with TestClient(create_app(settings_), base_url="http://localhost") as client:
        for data in cases:
            for route in ("/api/v1/remove", "/api/v1/detect"):
                _count("test_api")
                response = client.post(route, files={"image": ("../../x.png", data)}, data={"model": "telea"}
                                       if route.endswith("remove") else None)
                if response.status_code == 200:  # a readable photo with a face: a correct result
                    if route.endswith("remove"):
                        assert Image.open(io.BytesIO(response.content)).size == Image.open(io.BytesIO(data)).size
                    continue
                assert 400 <= response.status_code < 500, (route, response.status_code, response.text[:200])
                detail = response.json()["detail"]
                assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
        mismatched = _encode(Image.new("L", (10, 10), 255), "PNG")
        _count("test_api")
        response = client.post("/api/v1/remove", files={"image": ("a.png", photo), "mask": ("m.png", mismatched)},
                               data={"model": "telea"})
        assert response.status_code in (400, 422) and "mask" in response.json()["detail"]


def test_atheris_load_image(tmp_path):
    """Coverage-guided fuzzing of ``load_image`` (PIL and unmask instrumented) from a corpus of small images."""
    pytest.importorskip("atheris")
    runs = 800
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pixels = np.random.default_rng(2).integers(0, 255, (9, 7, 3), np.uint8)
    for fmt, mode in zip(FORMATS, ("RGBA", "L", "P", "CMYK", "RGB", "P"), strict=True):
        (corpus / f"seed.{fmt.lower()}").write_bytes(_encode(Image.fromarray(pixels).convert(mode), fmt))
    script = tmp_path / "fuzz_load.py"
    script.write_text(textwrap.dedent(f"""
        import sys, atheris
        import numpy, torch  # imported first: not instrumented
        with atheris.instrument_imports(include=["PIL", "unmask"]):
            import unmask.io as uio
        from unmask.errors import UnmaskError
        path = {str(tmp_path / "input.img")!r}
        def one(data):
            open(path, "wb").write(data)
            try:
                image = uio.load_image(path)
            except UnmaskError as error:
                assert "\\n" not in str(error)
                return
            assert image.dtype.name == "uint8" and image.ndim == 3 and image.shape[2] == 3
        atheris.Setup([sys.argv[0], "-runs={runs}", "-max_len=4096", "-seed=1", {str(corpus)!r}], one)
        atheris.Fuzz()
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Done {runs} runs" in done.stderr
    tried["test_atheris_load_image"] = runs
