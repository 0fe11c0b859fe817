"""One entry point for every occluder kind, and a weighted random mixture of kinds for training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unmask.errors import UnmaskError
from unmask.face.types import Face
from unmask.occlusion.bars import eye_bar
from unmask.occlusion.face_masks import MASK_KINDS, face_mask
from unmask.occlusion.holes import (
    HOLE_BUCKETS,
    LAMA_CONFIGS,
    FileMasks,
    bucketed_holes,
    fill_holes,
    free_form_mask,
    lama_mask,
)

KINDS = ("surgical", "n95", "kn95", "cloth", "gas", "bar", "strokes", "holes", "thick", "medium", "thin")
FACE_KINDS = (*MASK_KINDS, "bar")
FREE_KINDS = tuple(k for k in KINDS if k not in FACE_KINDS)


def occlude(
    image: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    face: Face | None = None,
    ratio: tuple[float, float] | None = None,
    border: bool | None = None,
    fill: int | tuple[int, int, int] = 255,
) -> tuple[np.ndarray, np.ndarray]:
    """Occlude ``image`` (H, W, 3) uint8 RGB with one ``kind`` of KINDS; returns (occluded (H, W, 3) uint8,
    mask (H, W) uint8 with 1 = hole).

    Face kinds (FACE_KINDS) need ``face``. ``holes`` uses ``bucketed_holes`` with ``ratio`` (default: a random
    PConv bucket) and ``border``; hole kinds paint the holes with ``fill`` (white by default).
    """
    if kind not in KINDS:
        raise UnmaskError(f"unknown occlusion kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind in FACE_KINDS:
        if face is None:
            raise UnmaskError(f"occlusion kind {kind!r} needs a detected face, none was given")
        return eye_bar(image, face, rng) if kind == "bar" else face_mask(image, face, rng, kind)
    shape = image.shape[:2]
    if kind == "strokes":
        mask = free_form_mask(shape, rng)
    elif kind == "holes":
        bucket = HOLE_BUCKETS[int(rng.integers(len(HOLE_BUCKETS)))] if ratio is None else ratio
        mask = bucketed_holes(shape, bucket, border, rng)
    else:
        mask = lama_mask(shape, rng, LAMA_CONFIGS[kind])
    return fill_holes(image, mask, fill), mask


class OcclusionMixture:
    """Weighted random choice of occluder kinds: ``mixture(image, face, rng) -> (occluded, mask, kind)``.

    weights: kind -> relative weight (kinds of KINDS). Without a face, face kinds fall back to the face-free
    kinds of ``weights`` (by their weights), or to ``strokes`` when there are none. ``ratio``/``border`` go to
    the ``holes`` kind; with ``hole_folder`` (PNG masks, white = hole) and no ``ratio``, ``holes`` draws file
    masks instead (see ``FileMasks``).
    """

    def __init__(
        self,
        weights: dict[str, float],
        ratio: tuple[float, float] | None = None,
        border: bool | None = None,
        hole_folder: str | Path | None = None,
    ) -> None:
        unknown = sorted(set(weights) - set(KINDS))
        if unknown:
            raise UnmaskError(
                f"unknown occlusion kind(s) {', '.join(unknown)}; expected some of {', '.join(KINDS)}"
            )
        kinds = [k for k, w in weights.items() if w > 0]
        if not kinds or any(w < 0 for w in weights.values()):
            raise UnmaskError("occlusion weights must be >= 0 with at least one positive")
        self.kinds = tuple(kinds)
        p = np.array([weights[k] for k in kinds], np.float64)
        self.p = p / p.sum()
        free = [k for k in kinds if k not in FACE_KINDS]
        self.free_kinds = tuple(free) or ("strokes",)
        q = np.array([weights[k] for k in free] or [1.0], np.float64)
        self.free_p = q / q.sum()
        self.ratio, self.border = ratio, border
        self.files = FileMasks(hole_folder) if hole_folder is not None else None

    def __call__(
        self, image: np.ndarray, face: Face | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """image (H, W, 3) uint8 RGB -> occluded (H, W, 3) uint8, mask (H, W) uint8 (1 = hole), kind used."""
        kind = self.kinds[int(rng.choice(len(self.kinds), p=self.p))]
        if kind in FACE_KINDS and face is None:
            kind = self.free_kinds[int(rng.choice(len(self.free_kinds), p=self.free_p))]
        if kind == "holes" and self.files is not None and self.ratio is None:
            mask = self.files(image.shape[:2], rng)
            return fill_holes(image, mask), mask, kind
        occluded, mask = occlude(image, kind, rng, face=face, ratio=self.ratio, border=self.border)
        return occluded, mask, kind
