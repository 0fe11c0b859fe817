"""Seam removal: take away the step in level between a pasted fill and the photo along the hole's outline.

A fill made at the model's size and scaled up to the photo meets the known pixels with a small step (a few grey
levels), which on smooth skin reads as a line drawn around the hole. As in membrane (mean-value) cloning, the step
measured across the outline is spread into the hole and fades out over a few pixels, so the fill continues the photo
at its border and is unchanged further in. Large steps are real edges (the hole's border running along hair or the
background) and are kept. Only hole pixels change.
"""

from __future__ import annotations

import cv2
import numpy as np

REACH = 3.0  # px into the hole over which the correction fades out (at a 2x upscaled fill the step is ~2 px wide)
SMOOTH = 1.5  # Gaussian sigma (px) that averages the step along the outline, so noise is not copied inward
SMALL_STEP, REAL_EDGE = 45.0, 90.0  # step size (RGB vector length, 0-255) corrected in full / not at all
_EPSILON = 1e-3


def _local_mean(values: np.ndarray, where: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted mean of ``values`` (H, W, C) over the pixels of ``where`` (H, W), and the weight map."""
    weight = cv2.GaussianBlur(where.astype(np.float32), (0, 0), sigma)
    total = cv2.GaussianBlur(values * where[..., None], (0, 0), sigma)
    return total / np.maximum(weight, _EPSILON)[..., None], weight


def remove_seam(fill: np.ndarray, photo: np.ndarray, hole: np.ndarray, known: np.ndarray,
                reach: float = REACH) -> np.ndarray:
    """``fill`` (H, W, 3) uint8 with the step to ``photo`` along the outline of ``hole`` (H, W) spread into the hole.

    ``known``: pixels whose ``photo`` value is final (outside the photo's hole, or filled already); only the outline
    they share with ``hole`` is matched. Returns uint8 (H, W, 3); pixels outside ``hole`` are those of ``fill``.
    """
    hole = hole.astype(bool)
    if not hole.any():
        return fill
    ys, xs = np.nonzero(hole)
    pad = int(np.ceil(4 * max(reach, SMOOTH))) + 2  # the blurs reach no farther
    box = (slice(max(ys.min() - pad, 0), ys.max() + pad + 1), slice(max(xs.min() - pad, 0), xs.max() + pad + 1))
    result = fill.copy()
    result[box] = _remove_seam(fill[box], photo[box], hole[box], known[box], reach)
    return result


def _remove_seam(fill: np.ndarray, photo: np.ndarray, hole: np.ndarray, known: np.ndarray,
                 reach: float) -> np.ndarray:
    """:func:`remove_seam` on a box around the hole."""
    outside = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~hole & known
    inside = cv2.dilate(outside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & hole
    if outside.sum() < 3 or not inside.any():
        return fill
    filled = fill.astype(np.float32)
    outer, _ = _local_mean(photo.astype(np.float32), outside, SMOOTH)
    inner, _ = _local_mean(filled, inside, SMOOTH)
    step = (outer - inner) * inside[..., None]
    size = np.linalg.norm(step, axis=2)
    keep = np.clip((REAL_EDGE - size) / (REAL_EDGE - SMALL_STEP), 0, 1)  # 1 for small steps, 0 for real edges
    spread, weight = _local_mean(step * keep[..., None], inside, reach)
    distance = cv2.distanceTransform((~outside).astype(np.uint8), cv2.DIST_L2, 3)
    fade = np.exp(-(distance - 1) / reach) * (weight > _EPSILON) * hole
    return np.clip(filled + spread * fade[..., None] + 0.5, 0, 255).astype(np.uint8)
