"""Extend a face mask found on a face along the photo with GrabCut: the side panel or the lower part the segmenter
stopped short of, the rim under the chin.

The segmenter sees each face in a 96² crop, where the side of a turned face is at the crop's edge and a large mask's
lower part is often left out. GrabCut works on the photo around the find (scaled to at most EXTEND_WORK px a side)
with colour models of the found mask and of what lies around it and an edge-aware smoothness term, so it follows the
mask's own colour and outline.
It may add only what lies beside the find (EXTEND_SIDE eye distances along the eye line) or below it
(EXTEND_DOWN: a chin's shadow looks like a mask's), never above it (the skin under the eyes looks like a white mask's
shading), never within EXTEND_KEEP_OUT eye distances of the eyes, and only what touches the find. Measured on
benchmarks/data/real_masks with benchmarks/detection_real.py (docs/DETECTION.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from unmask.face.morph import disk, pieces_touching
from unmask.face.types import EYE_LEFT, EYE_RIGHT, Face

EXTEND_SIDE, EXTEND_DOWN, EXTEND_KEEP_OUT = 0.5, 0.15, 0.3  # eye distances
EXTEND_WORK = 128  # GrabCut runs on the box around the find scaled to at most this many px a side
GRABCUT_ROUNDS = 2


def reach_kernel(side: int, down: int, angle: float) -> np.ndarray:
    """Structuring element (uint8, odd square) whose dilation reaches ``side`` px both ways along a line at ``angle``
    degrees (the eye line, image coordinates) and ``down`` px across it, downward only."""
    size = 2 * side + 1
    kernel = np.zeros((size, size), np.uint8)
    # cv2.dilate takes the maximum over src(x + offset): the kernel's upper half reaches down
    cv2.ellipse(kernel, (side, side), (side, max(down, 1)), 0, 180, 360, 1, -1)
    rotation = cv2.getRotationMatrix2D((side, side), -angle, 1.0)
    return cv2.warpAffine(kernel, rotation, (size, size), flags=cv2.INTER_NEAREST)


def extend_mask(image: np.ndarray, found: np.ndarray, grown: np.ndarray, face: Face) -> np.ndarray:
    """What GrabCut adds to a face's mask: ``image`` RGB uint8 (H, W, 3); ``found`` the segmenter's find (the sure
    part of the mask) and ``grown`` that find grown along its border (a rim of mostly skin), bool (H, W); ``face``
    in photo coordinates. Returns bool (H, W), the added pixels only (touching ``grown``, outside it)."""
    added = np.zeros(grown.shape, bool)
    if not grown.any():
        return added
    eye_vector = face.keypoints[1] - face.keypoints[0]
    eye_distance = max(float(np.linalg.norm(eye_vector)), 4.0)
    reach = max(2, int(round(EXTEND_SIDE * eye_distance)))
    rows, columns = np.nonzero(grown)
    height, width = grown.shape
    y0, y1 = max(rows.min() - reach, 0), min(rows.max() + reach + 1, height)
    x0, x1 = max(columns.min() - reach, 0), min(columns.max() + reach + 1, width)
    scale = min(1.0, EXTEND_WORK / max(y1 - y0, x1 - x0))
    shape = (max(1, int(round((x1 - x0) * scale))), max(1, int(round((y1 - y0) * scale))))  # cv2's (w, h)

    def small(mask: np.ndarray) -> np.ndarray:
        return cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), shape, interpolation=cv2.INTER_NEAREST) > 0

    border = small(grown)
    seed = small(found)
    if not seed.any():
        return added
    angle = float(np.degrees(np.arctan2(eye_vector[1], eye_vector[0])))
    kernel = reach_kernel(max(1, int(round(reach * scale))), int(round(EXTEND_DOWN * eye_distance * scale)), angle)
    band = cv2.dilate(border.astype(np.uint8), kernel) > 0
    eyes = np.zeros(seed.shape, np.uint8)
    for part in (EYE_LEFT, EYE_RIGHT):
        points = (face.landmarks[part] - (x0, y0)) * scale
        cv2.fillConvexPoly(eyes, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    eyes = cv2.dilate(eyes, disk(2 * int(round(EXTEND_KEEP_OUT * eye_distance * scale)) + 1)) > 0
    labels = np.full(seed.shape, cv2.GC_BGD, np.uint8)
    labels[band & ~eyes] = cv2.GC_PR_BGD
    labels[border] = cv2.GC_PR_BGD  # the grown rim is mostly skin: kept out of the mask's colour model (with it,
    # GrabCut took ears and necks)
    labels[seed] = cv2.GC_FGD
    if not (labels == cv2.GC_PR_BGD).any():
        return added
    picture = image[y0:y1, x0:x1]
    if scale < 1:
        picture = cv2.resize(picture, shape, interpolation=cv2.INTER_AREA)
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(picture), labels, None, np.zeros((1, 65)), np.zeros((1, 65)), GRABCUT_ROUNDS,
                cv2.GC_INIT_WITH_MASK)
    mask = pieces_touching(np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)) | border, border)
    full = cv2.resize(mask.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) > 0.5
    added[y0:y1, x0:x1] = full & ~grown[y0:y1, x0:x1]
    return added
