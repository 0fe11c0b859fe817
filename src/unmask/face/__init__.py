"""Faces: detection with keypoints, mesh and 68 iBUG landmarks; alignment to an upright crop and back."""

from unmask.face.align import AlignedFace, align_face, transform_face, unwarp, warp_points
from unmask.face.detect import detect_faces
from unmask.face.types import (
    BROW_LEFT,
    BROW_RIGHT,
    CHIN,
    EYE_LEFT,
    EYE_RIGHT,
    JAW,
    MOUTH_INNER,
    MOUTH_OUTER,
    NOSE_BOTTOM,
    NOSE_BRIDGE,
    NOSE_TIP,
    Face,
)

__all__ = [
    "BROW_LEFT",
    "BROW_RIGHT",
    "CHIN",
    "EYE_LEFT",
    "EYE_RIGHT",
    "JAW",
    "MOUTH_INNER",
    "MOUTH_OUTER",
    "NOSE_BOTTOM",
    "NOSE_BRIDGE",
    "NOSE_TIP",
    "AlignedFace",
    "Face",
    "align_face",
    "detect_faces",
    "transform_face",
    "unwarp",
    "warp_points",
]
