"""JPEG and PNG encoding of huge images straight from their array, by OpenCV, with the metadata Pillow would write.

Pillow first copies an RGB array into its own 4-bytes-a-pixel image, which for a 118-megapixel photo is 470 MB
more than the array itself; OpenCV encodes the array where it is (its channels are swapped to BGR in place and
back). Smaller images keep Pillow's encoder (``unmask.io.save_image``).
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np
from PIL import Image

DIRECT_PIXELS = 16_000_000  # images from this size on are encoded from their array
JPEG_QUALITY = 95
STRIP_ROWS = 512  # rows whose channels are swapped at a time
PNG_HEADER = 8 + 25  # the PNG signature and the IHDR chunk: text chunks go right after them


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def _png_text(key: str, value: str) -> bytes:
    """A tEXt chunk (iTXt when the value is not Latin-1), as Pillow's ``PngInfo.add_text`` writes."""
    try:
        return _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _png_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))


def _jpeg_description(text: str) -> bytes:
    """An APP1 segment holding EXIF with ``text`` as the ImageDescription."""
    exif = Image.Exif()
    exif[0x010E] = text
    payload = exif.tobytes()
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def _swap_channels(image: np.ndarray) -> None:
    """RGB <-> BGR in place, a strip of rows at a time (OpenCV's in-place conversion copies the whole image)."""
    for top in range(0, image.shape[0], STRIP_ROWS):
        strip = image[top:top + STRIP_ROWS]
        cv2.cvtColor(strip, cv2.COLOR_RGB2BGR, dst=strip)


def encode_direct(image: np.ndarray, suffix: str, metadata: dict[str, str] | None) -> bytes | None:
    """The file bytes of a huge RGB/grey uint8 ``image`` as ``.jpg``/``.jpeg``/``.png``, or None when Pillow should
    encode it (another format, a small image, an array that is not writable and contiguous)."""
    if (suffix not in (".jpg", ".jpeg", ".png") or image.shape[0] * image.shape[1] < DIRECT_PIXELS
            or image.dtype != np.uint8 or not (image.flags.writeable and image.flags.c_contiguous)):
        return None
    colour = image.ndim == 3
    jpeg = suffix != ".png"
    if colour:
        _swap_channels(image)
    try:
        ok, encoded = cv2.imencode(".jpg" if jpeg else ".png", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if jpeg
                                   else [])
    finally:
        if colour:
            _swap_channels(image)
    if not ok:
        return None
    data = encoded.tobytes()
    if not metadata:
        return data
    if jpeg:  # after the start-of-image marker and the JFIF segment when there is one
        at = 4 + int.from_bytes(data[4:6], "big") if data[2:4] == b"\xff\xe0" else 2
        return data[:at] + _jpeg_description("; ".join(f"{key}={value}" for key, value in metadata.items())) + data[at:]
    return data[:PNG_HEADER] + b"".join(_png_text(key, value) for key, value in metadata.items()) + data[PNG_HEADER:]
