"""Huge photos: find and fill the faces on a copy scaled down to ``WORK_PIXELS``, then paste the changed pixels back
into the full-size photo, scaled up. The model fills an aligned crop of a fixed size (128² or 256²) whatever the
photo's size, so a face that still spans half that crop in the reduced copy loses nothing by it; smaller faces are
worked on at full size. Pixels outside the changed ones keep their exact full-size values, and a given mask is
followed exactly at full size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from unmask.face import Face

WORK_PIXELS = 8_000_000  # photos above this are worked on reduced (a 3,460 x 2,310 copy of a 3:2 photo)
STRIP_ROWS = 128  # rows blended at a time, so pasting back needs no full-size float arrays


@dataclass
class FullSize:
    """The full-size photo a reduced job came from: pixels, the factor to the reduced copy, the given hole."""

    photo: np.ndarray  # RGB uint8 (H, W, 3)
    scale: tuple[float, float]  # reduced width / full width, reduced height / full height
    hole: np.ndarray | None  # uint8 (H, W), 1 = hole, when a mask was given


def reduce(photo: np.ndarray, hole: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, FullSize | None]:
    """``photo`` and a given ``hole`` scaled down to about ``WORK_PIXELS`` (any hole pixel keeps its reduced pixel
    a hole), and the full-size record to paste back into; unchanged and None when the photo is not larger."""
    height, width = photo.shape[:2]
    if height * width <= WORK_PIXELS:
        return photo, hole, None
    factor = math.sqrt(WORK_PIXELS / (height * width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    small_hole = None if hole is None else (cv2.resize(hole, size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    return small, small_hole, FullSize(photo, (size[0] / width, size[1] / height), hole)


def large_enough(faces: Sequence[Face], crop: int) -> bool:
    """Whether every face is at least half of ``crop`` wide in the reduced copy, so its ``crop``² aligned crop (about
    twice the face) is cut from at least as many pixels as it has."""
    return all(face.box[2] - face.box[0] >= crop / 2 for face in faces)


def paste_back(full: FullSize, result: np.ndarray, changed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A full-size copy of the photo with the reduced ``result``'s changed pixels (``changed`` > 0) scaled up into
    it, and the full-size uint8 mask of the pixels that changed. A given hole bounds the change exactly."""
    photo = full.photo.copy()
    mask = np.zeros(photo.shape[:2], np.uint8)
    rows, columns = np.nonzero(changed)
    if not len(rows):
        return photo, mask
    (sx, sy), (height, width) = full.scale, photo.shape[:2]
    x0, x1 = max(0, math.floor((columns.min() - 2) / sx)), min(width, math.ceil((columns.max() + 3) / sx))
    y0, y1 = max(0, math.floor((rows.min() - 2) / sy)), min(height, math.ceil((rows.max() + 3) / sy))
    weight = changed.astype(np.float32)
    for top in range(y0, y1, STRIP_ROWS):
        bottom = min(top + STRIP_ROWS, y1)
        # full pixel (x, y) sits at ((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5) in the reduced copy, as cv2.resize
        matrix = np.array([[sx, 0, (x0 + 0.5) * sx - 0.5], [0, sy, (top + 0.5) * sy - 0.5]])
        shape = (x1 - x0, bottom - top)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        filled = cv2.warpAffine(result, matrix, shape, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(weight, matrix, shape, flags=flags, borderMode=cv2.BORDER_CONSTANT)
        if full.hole is not None:
            alpha = ((alpha > 0) & (full.hole[top:bottom, x0:x1] > 0)).astype(np.float32)
        region = photo[top:bottom, x0:x1]
        blended = region * (1 - alpha[..., None]) + filled * alpha[..., None] + 0.5
        photo[top:bottom, x0:x1] = np.clip(blended, 0, 255).astype(np.uint8)
        mask[top:bottom, x0:x1] = alpha > 0
    return photo, mask
