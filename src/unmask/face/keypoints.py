"""The keypoints a face is aligned by for filling: as near as can be to those its training crops were aligned by.

Training crops are aligned by five keypoints of each face's landmarks (:func:`keypoints_from_landmarks`: the eyes'
centres, the nose tip, the outer mouth corners), found on the clean face. On a covered face YuNet's keypoints put
the crop a median 6.0-6.7 % of its side from that alignment (2.9 % on a clean face); the FaceMesh landmarks'
keypoints do better where they see the face, but under a mask the mesh guesses a nose and mouth on the mask. Those
keypoints that lie under the hole are taken from the mean face instead, placed by the eyes' centres, which a face
mask leaves free (``benchmarks/alignment_error.py``: a median 3.2-4.2 % on masked faces, 2.0 % under eye bars).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from unmask.face.align import invert_matrix, similarity_matrix, warp_points
from unmask.face.detect import mean_shape
from unmask.face.types import Face, keypoints_from_landmarks


@lru_cache(maxsize=1)
def _mean_keypoints() -> np.ndarray:
    """The mean shape's five keypoints (unit crop frame)."""
    return keypoints_from_landmarks(mean_shape()).astype(np.float64)


def covered_keypoints(face: Face, hole: np.ndarray) -> np.ndarray:
    """(5, 2) keypoints of ``face``'s landmarks, with the nose tip and mouth corners that lie under ``hole`` (H, W,
    non-zero = hole, the photo's frame) replaced by the mean face's, placed by the eyes' centres."""
    keypoints = keypoints_from_landmarks(face.landmarks).astype(np.float64)
    height, width = hole.shape[:2]
    lower = np.clip(np.round(keypoints[2:]).astype(int), 0, [width - 1, height - 1])
    hidden = np.asarray(hole)[lower[:, 1], lower[:, 0]] != 0
    if hidden.any():
        mean_keypoints = _mean_keypoints()
        placed = warp_points(mean_keypoints, invert_matrix(similarity_matrix(keypoints[:2], mean_keypoints[:2])))
        keypoints[2:][hidden] = placed[2:][hidden]
    return keypoints


def aligned_for_filling(face: Face, hole: np.ndarray | None = None) -> Face:
    """The face with the keypoints its fill is aligned by: those of its FaceMesh landmarks when the mesh fitted
    (:func:`covered_keypoints` where ``hole`` covers the nose tip or the mouth corners), else YuNet's as they are."""
    if face.mesh is None:
        return face
    keypoints = keypoints_from_landmarks(face.landmarks) if hole is None else covered_keypoints(face, hole)
    return replace(face, keypoints=keypoints)
