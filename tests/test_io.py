import os
import stat
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from unmask import io as unmask_io
from unmask.errors import UnmaskError
from unmask.io import (
    as_rgb_uint8,
    image_to_tensor,
    list_images,
    load_image,
    load_mask,
    save_image,
    tensor_to_image,
)


def test_grey_rgba_16bit_and_palette_become_rgb(tmp_path):
    Image.new("L", (8, 6), 100).save(tmp_path / "grey.png")
    Image.new("RGBA", (8, 6), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.fromarray(np.full((6, 8), 65535, np.uint16)).save(tmp_path / "deep.png")
    Image.new("P", (8, 6), 3).save(tmp_path / "palette.png")
    assert load_image(tmp_path / "grey.png").shape == (6, 8, 3)
    assert (load_image(tmp_path / "grey.png") == 100).all()
    assert (load_image(tmp_path / "clear.png") == 255).all()  # transparent composited on white
    deep = load_image(tmp_path / "deep.png")
    assert deep.dtype == np.uint8 and (deep == 255).all()
    assert load_image(tmp_path / "palette.png").shape == (6, 8, 3)


def test_exif_rotation_is_applied(tmp_path):
    pixels = np.zeros((4, 10, 3), np.uint8)
    pixels[:, :5] = 255  # left half white
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    upright = load_image(tmp_path / "rotated.jpg")
    assert upright.shape == (10, 4, 3)
    assert upright[:3].mean() > 200 and upright[-3:].mean() < 50  # white half now on top


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"])
def test_corrupt_files_give_one_line_errors(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(UnmaskError) as error:
        load_image(path)
    assert "broken.png" in str(error.value) and "\n" not in str(error.value)


def test_truncated_jpeg_is_refused(tmp_path, astronaut):
    Image.fromarray(astronaut).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(UnmaskError):
        load_image(tmp_path / "cut.jpg")


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header of a grey image of ``width`` x ``height`` pixels, with no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def test_the_pixel_budget_follows_free_memory_and_is_checked_before_decoding(tmp_path, monkeypatch):
    (tmp_path / "big.png").write_bytes(_png_claiming(12_000, 11_000))  # 132 MP
    monkeypatch.setattr(unmask_io, "available_memory", lambda: 1024 ** 3)  # 1 GiB free: about 89 MP
    assert unmask_io.pixel_budget() == 1024 ** 3 // unmask_io.BYTES_PER_PIXEL
    with pytest.raises(UnmaskError, match="memory free now"):
        load_image(tmp_path / "big.png")
    monkeypatch.setattr(unmask_io, "available_memory", lambda: 64 * 1024 ** 3)  # plenty: decoding is tried
    with pytest.raises(UnmaskError, match="not a readable image"):
        load_image(tmp_path / "big.png")
    (tmp_path / "bomb.png").write_bytes(_png_claiming(20_000, 13_000))  # never, whatever the memory
    with pytest.raises(UnmaskError, match="decompression bomb"):
        load_image(tmp_path / "bomb.png")
    assert 0 < unmask_io.available_memory()


def test_a_mask_of_the_wrong_size_is_refused_from_its_header(tmp_path, monkeypatch):
    Image.new("L", (8, 6), 255).save(tmp_path / "mask.png")
    monkeypatch.setattr(unmask_io, "load_image", lambda path: pytest.fail("the mask was decoded"))
    with pytest.raises(UnmaskError, match="mask is 8x6 but the image is 5x4"):
        load_mask(tmp_path / "mask.png", (4, 5))


def test_outputs_get_the_permissions_of_an_ordinary_file(tmp_path):
    previous = os.umask(0o027)
    try:
        save_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
        save_image(tmp_path / "out.jpg", np.zeros((4, 4, 3), np.uint8), {"unmask_model": "telea"})
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()} == {0o640}


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UnmaskError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(UnmaskError):
        list_images([tmp_path / "nowhere"])


def test_mask_size_must_match(tmp_path):
    Image.new("L", (8, 6), 255).save(tmp_path / "mask.png")
    assert load_mask(tmp_path / "mask.png", (6, 8)).sum() == 48
    with pytest.raises(UnmaskError, match="mask is 8x6"):
        load_mask(tmp_path / "mask.png", (7, 8))


def test_save_is_atomic_and_keeps_metadata(tmp_path, astronaut):
    out = save_image(tmp_path / "sub" / "out.png", astronaut, {"unmask": "edited"})
    assert Image.open(out).text["unmask"] == "edited"
    assert [p.name for p in out.parent.iterdir()] == ["out.png"]
    jpeg = save_image(tmp_path / "out.jpg", astronaut, {"unmask": "edited"})
    assert "unmask=edited" in Image.open(jpeg).getexif()[0x010E]
    with pytest.raises(UnmaskError):
        save_image(tmp_path / "out.xyz", astronaut)


def test_coercion_round_trips(astronaut):
    tensor = image_to_tensor(astronaut)
    assert tensor.shape == (1, 3, 512, 512) and tensor.max() <= 1
    assert np.array_equal(tensor_to_image(tensor), astronaut)
    assert np.array_equal(as_rgb_uint8(Image.fromarray(astronaut)), astronaut)
    assert np.array_equal(as_rgb_uint8(tensor), astronaut)
    assert np.array_equal(as_rgb_uint8(astronaut.astype(np.float32) / 255), astronaut)
    assert as_rgb_uint8(np.zeros((5, 5), np.uint8)).shape == (5, 5, 3)
    with pytest.raises(UnmaskError):
        as_rgb_uint8(torch.zeros(2, 3, 4, 4))


def test_huge_images_are_encoded_from_their_array_with_the_same_metadata(tmp_path, astronaut, monkeypatch):
    from unmask import encode
    from unmask.provenance import edited_by, provenance_metadata

    hole = np.zeros(astronaut.shape[:2], np.uint8)
    hole[100:200, 100:200] = 1
    metadata = provenance_metadata("telea", hole) | {"unmask_settings": "remove grow=3 é"}
    photo = astronaut.copy()
    monkeypatch.setattr(encode, "DIRECT_PIXELS", 0)
    for suffix in (".png", ".jpg"):
        assert encode.encode_direct(photo, suffix, metadata) is not None  # this path, not Pillow's
        path = save_image(tmp_path / f"direct{suffix}", photo, metadata)
        assert np.array_equal(photo, astronaut)  # channels swapped back
        assert edited_by(path) == "telea" and load_image(path).shape == astronaut.shape
    assert np.array_equal(load_image(tmp_path / "direct.png"), astronaut)
    assert Image.open(tmp_path / "direct.png").info["unmask_settings"] == "remove grow=3 é"
    assert np.abs(load_image(tmp_path / "direct.jpg").astype(int) - astronaut).mean() < 3
    assert encode.encode_direct(photo, ".webp", metadata) is None  # Pillow writes the other formats
