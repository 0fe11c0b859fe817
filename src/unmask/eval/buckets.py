"""Hole-ratio buckets and border contact, as in the partial-convolution test set (Liu et al. 2018)."""

from __future__ import annotations

import numpy as np

BUCKET_EDGES = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
BELOW_LABEL = "<=0.01"
ABOVE_LABEL = ">0.6"
BUCKET_LABELS = (
    BELOW_LABEL,
    *(f"({low:g},{high:g}]" for low, high in zip(BUCKET_EDGES[:-1], BUCKET_EDGES[1:], strict=True)),
    ABOVE_LABEL,
)


def _hole(mask: np.ndarray) -> np.ndarray:
    """Bool hole (H, W) of a mask: > 0.5 for float masks, non-zero for integer or bool masks."""
    mask = np.asarray(mask)
    return mask > 0.5 if mask.dtype.kind == "f" else mask > 0


def hole_ratio(mask: np.ndarray) -> float:
    """Fraction of hole pixels in a mask (H, W) (float: > 0.5 = hole; integer/bool: non-zero = hole)."""
    return float(_hole(mask).mean())


def hole_bucket(ratio: float) -> str:
    """Bucket label of a hole ratio: "<=0.01", "(0.01,0.1]", "(0.1,0.2]", ..., "(0.5,0.6]" or ">0.6"."""
    for index, high in enumerate(BUCKET_EDGES):
        if ratio <= high:
            return BUCKET_LABELS[index]
    return ABOVE_LABEL


def touches_border(mask: np.ndarray) -> bool:
    """True when any hole pixel of a mask (H, W) lies in the outermost row or column."""
    hole = _hole(mask)
    return bool(hole[0].any() or hole[-1].any() or hole[:, 0].any() or hole[:, -1].any())
