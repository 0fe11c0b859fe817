"""Training augmentations that make aligned crops look like the ones the pipeline cuts from real photos.

The pipeline aligns a masked face from keypoints found on the masked photo, and those land off the clean ones (on
60 test faces with a synthetic surgical mask at 512²: crop scale off by a median 8 % (log-scale s.d. 0.10),
rotation s.d. 4.2°, centre s.d. 10 px across and 3 px down at 256², which puts the mouth a median 16 px from where
the clean alignment has it; ``python benchmarks/alignment_error.py --data prepared/hq256``). Training crops are
aligned from the clean keypoints, so a model learns to paint the mouth at one place. :func:`jitter_alignment`
moves the crop by such an error; :func:`degrade` makes it look like a small or compressed face scaled up to the
crop (crowd photos, web images). A mask the detector finds is grown past the mask's own edge (by 0.1 to 0.3 eye
distances, ``unmask.face.segment.grow_in_crop``: 8 to 25 px at 256²) and synthetic ones are not; :func:`grow_hole`
grows them alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from unmask.face.align import warp_points
from unmask.occlusion.holes import grow_mask


@dataclass(frozen=True)
class AlignmentJitter:
    """Standard deviations of a random similarity about the crop's centre: ``scale`` of the log of the scale,
    ``rotation`` in degrees, ``shift_x``/``shift_y`` as fractions of the crop's side."""

    scale: float = 0.08
    rotation: float = 4.0
    shift_x: float = 0.035
    shift_y: float = 0.015


def jitter_matrix(size: int, jitter: AlignmentJitter, rng: np.random.Generator) -> np.ndarray:
    """A random (2, 3) similarity of a ``size``² crop about its centre, drawn from ``jitter``."""
    scale = float(np.exp(rng.normal(0.0, jitter.scale)))
    angle = float(np.radians(rng.normal(0.0, jitter.rotation)))
    shift = rng.normal(0.0, [jitter.shift_x * size, jitter.shift_y * size])
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([size / 2, size / 2])
    return np.concatenate([linear, (centre - linear @ centre + shift)[:, None]], axis=1)


def jitter_alignment(image: np.ndarray, landmarks: np.ndarray, jitter: AlignmentJitter,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (S, S, 3) uint8 and its landmarks (N, 2) moved by one random :func:`jitter_matrix`; what the move
    brings in from beyond the crop is mirrored from inside it."""
    size = image.shape[0]
    matrix = jitter_matrix(size, jitter, rng)
    moved = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return moved, warp_points(landmarks, matrix)


def grow_hole(mask: np.ndarray, rng: np.random.Generator, largest: float = 0.1) -> np.ndarray:
    """``mask`` (S, S), non-zero = hole, grown by a random radius of 1 px to ``largest`` x S (a disc)."""
    return grow_mask(mask, int(rng.integers(1, max(2, round(largest * mask.shape[0]) + 1))))


def degrade(image: np.ndarray, rng: np.random.Generator, smallest: float = 0.25,
            jpeg: tuple[int, int] = (40, 90)) -> np.ndarray:
    """``image`` (S, S, 3) uint8 shrunk to a random fraction in [``smallest``, 2/3] of its side and scaled back up,
    then, half the time, JPEG-compressed at a random quality in ``jpeg``."""
    size = image.shape[0]
    side = max(8, round(size * rng.uniform(smallest, 2 / 3)))
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    image = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.5:
        _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(*jpeg))])
        image = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return image
