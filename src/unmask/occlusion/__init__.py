"""Synthetic occlusions for training and testing: face masks, eye bars and hole masks (1 = hole)."""

from unmask.occlusion.bars import bar_corners, eye_bar
from unmask.occlusion.face_masks import MASK_KINDS, face_anchors, face_mask, head_side
from unmask.occlusion.holes import (
    HOLE_BUCKETS,
    LAMA_CONFIGS,
    FileMasks,
    LamaMaskConfig,
    border_margin,
    bucketed_holes,
    fill_holes,
    free_form_mask,
    lama_mask,
)
from unmask.occlusion.mixture import FACE_KINDS, FREE_KINDS, KINDS, OcclusionMixture, occlude

__all__ = [
    "FACE_KINDS",
    "FREE_KINDS",
    "HOLE_BUCKETS",
    "KINDS",
    "LAMA_CONFIGS",
    "MASK_KINDS",
    "FileMasks",
    "LamaMaskConfig",
    "OcclusionMixture",
    "bar_corners",
    "border_margin",
    "bucketed_holes",
    "eye_bar",
    "face_anchors",
    "face_mask",
    "fill_holes",
    "free_form_mask",
    "head_side",
    "lama_mask",
    "occlude",
]
