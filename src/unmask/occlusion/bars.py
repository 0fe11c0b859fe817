"""Eye censor bars: a filled rotated rectangle along the line through both eye centres."""

from __future__ import annotations

import cv2
import numpy as np

from unmask.face.types import EYE_LEFT, EYE_RIGHT, Face

_BROW_PROBA = 0.3


def _bar_color(rng: np.random.Generator) -> tuple[int, int, int]:
    """Black 70 %, white 10 %, grey 10 %, any colour 10 %."""
    u = rng.random()
    if u < 0.7:
        return (0, 0, 0)
    if u < 0.8:
        return (255, 255, 255)
    if u < 0.9:
        g = int(rng.integers(60, 200))
        return (g, g, g)
    r, g, b = rng.integers(0, 256, 3)
    return (int(r), int(g), int(b))


def bar_corners(landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(4, 2) float32 corners of a jittered eye bar for 68 ``landmarks``.

    The bar runs along the eye-centre line; its length is 1.3-1.8x the outer-eye-corner distance (never less
    than the eyes' own extent plus a margin) and its height covers all 12 eye landmarks with a margin,
    plus the eyebrows with probability 0.3.
    """
    lm = np.asarray(landmarks, np.float64)
    centres = np.stack([lm[EYE_LEFT].mean(0), lm[EYE_RIGHT].mean(0)])
    along = centres[1] - centres[0]
    along /= max(float(np.linalg.norm(along)), 1e-6)
    across = np.array([-along[1], along[0]])  # points down the face
    mid = centres.mean(0)
    span = float(np.linalg.norm(lm[45] - lm[36]))
    covered = lm[np.r_[36:48, 17:27]] if rng.random() < _BROW_PROBA else lm[36:48]
    u = (covered - mid) @ along
    v = (covered - mid) @ across
    pad = span * rng.uniform(0.06, 0.14, 2)
    v0, v1 = v.min() - pad[0], v.max() + pad[1]
    half_len = max(span * rng.uniform(1.3, 1.8), float(np.ptp(u)) + 0.3 * span) / 2
    u_mid = (u.max() + u.min()) / 2 + rng.normal(0.0, 0.03 * span)
    u0, u1 = u_mid - half_len, u_mid + half_len
    corners = [mid + a * along + b * across for a, b in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))]
    return np.asarray(corners, np.float32)


def eye_bar(image: np.ndarray, face: Face, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paint an eye censor bar over ``face``.

    image: (H, W, 3) uint8 RGB. Returns the occluded image (H, W, 3) uint8 and the bar mask (H, W) uint8
    (1 = bar).
    """
    corners = bar_corners(face.landmarks, rng)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(corners * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    occluded = image.copy()
    occluded[mask.astype(bool)] = _bar_color(rng)
    return occluded, mask
