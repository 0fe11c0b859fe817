"""Morphology helpers the occlusion finders share: a disk structuring element and the pieces touching a seed."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def disk(diameter: int) -> np.ndarray:
    """Elliptical structuring element (uint8) of the given diameter in px, made odd and at least 1."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(1, diameter) | 1,) * 2)


def pieces_touching(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The connected pieces of ``mask`` (bool (H, W)) that overlap ``seed`` (bool (H, W)); bool (H, W)."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    touching = np.unique(labels[seed & mask])
    return np.isin(labels, touching[touching > 0])
