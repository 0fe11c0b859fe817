"""Samples per second of every occluder kind at 128x128 and 256x256 (single thread, CPU).

Run: python benchmarks/occlusion.py. Uses a square crop around the astronaut's face, resized; landmarks are
detected once per size.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import skimage.data

from unmask.face import detect_faces
from unmask.occlusion import KINDS, occlude

SIZES = (128, 256)
SECONDS = 0.5


def face_crop(size: int) -> np.ndarray:
    """(size, size, 3) uint8 crop of the astronaut around her face (face ~ half the crop)."""
    image = skimage.data.astronaut()
    x0, y0, x1, y1 = detect_faces(image)[0].box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    top, left = int(max(cy - half, 0)), int(max(cx - half, 0))
    crop = image[top : int(cy + half), left : int(cx + half)]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def rate(image: np.ndarray, kind: str, face) -> float:
    """Calls per second of ``occlude(image, kind)`` over about SECONDS."""
    rng = np.random.default_rng(0)
    occlude(image, kind, rng, face=face)  # warm caches
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        occlude(image, kind, rng, face=face)
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    cv2.setNumThreads(1)
    images = {s: face_crop(s) for s in SIZES}
    faces = {s: detect_faces(images[s])[0] for s in SIZES}
    print(f"{'kind':<10}" + "".join(f"{f'{s}x{s} /s':>14}" for s in SIZES) + f"{'ms @256':>10}")
    for kind in KINDS:
        rates = [rate(images[s], kind, faces[s]) for s in SIZES]
        print(f"{kind:<10}" + "".join(f"{r:>14.0f}" for r in rates) + f"{1000 / rates[-1]:>10.2f}")


if __name__ == "__main__":
    main()
