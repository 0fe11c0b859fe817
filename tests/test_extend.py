"""GrabCut extension of a found face mask: it takes the side or lower part the segmenter stopped short of, and not the
skin above or beside it."""

from __future__ import annotations

import cv2
import numpy as np

from unmask.face import detect_faces
from unmask.face.extend import EXTEND_KEEP_OUT, extend_mask, reach_kernel
from unmask.face.morph import disk
from unmask.occlusion import occlude


def _masked_astronaut(astronaut: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray, object, float]:
    face = detect_faces(astronaut)[0]
    masked, truth = occlude(astronaut, kind, np.random.default_rng(1), face=face)
    eye_distance = float(np.linalg.norm(face.keypoints[1] - face.keypoints[0]))
    return masked, truth > 0, face, eye_distance


def _grown(found: np.ndarray, eye_distance: float) -> np.ndarray:
    return cv2.dilate(found.astype(np.uint8), disk(2 * int(round(0.1 * eye_distance)) + 1)) > 0


def test_reach_kernel_goes_sideways_and_down_never_up() -> None:
    """Dilating one pixel by the kernel reaches ``side`` px both ways along the line and ``down`` px below it."""
    point = np.zeros((41, 41), np.uint8)
    point[20, 20] = 1
    reached = cv2.dilate(point, reach_kernel(10, 4, 0.0)) > 0
    rows, columns = np.nonzero(reached)
    assert (columns.min(), columns.max()) == (10, 30)
    assert (rows.min(), rows.max()) == (20, 24)
    tilted = cv2.dilate(point, reach_kernel(10, 4, 30.0)) > 0  # a face tilted clockwise: the line tilts with it
    assert tilted[25, 29] and not tilted[15, 29]


def test_the_missed_side_of_a_mask_is_added(astronaut: np.ndarray) -> None:
    """A surgical mask found without its image-left quarter gets most of that quarter back, at the price of a thin
    rim beyond the mask (the chin's shadow under it)."""
    masked, truth, face, eye_distance = _masked_astronaut(astronaut, "surgical")
    columns = np.nonzero(truth.any(0))[0]
    cut = columns.min() + (columns.max() - columns.min()) // 4
    found = truth.copy()
    found[:, :cut] = False
    grown = _grown(found, eye_distance)
    added = extend_mask(masked, found, grown, face)
    missed = truth & ~grown
    assert (added | grown)[missed].mean() > 0.8
    assert (added & ~truth).sum() < 0.15 * truth.sum()


def test_nothing_is_added_above_the_find_or_near_the_eyes(astronaut: np.ndarray) -> None:
    """With only a mask's lower half found, its upper half (towards the eyes) is never added."""
    masked, truth, face, eye_distance = _masked_astronaut(astronaut, "cloth")
    rows = np.nonzero(truth.any(1))[0]
    middle = (rows.min() + rows.max()) // 2
    found = truth.copy()
    found[:middle] = False
    grown = _grown(found, eye_distance)
    added = extend_mask(masked, found, grown, face)
    assert not added[: middle - int(0.1 * eye_distance) - 2].any()
    eyes = np.zeros(truth.shape, np.uint8)
    for centre in face.eye_centers():
        cv2.circle(eyes, tuple(int(v) for v in np.round(centre)), int(EXTEND_KEEP_OUT * eye_distance), 1, -1)
    assert not (added & (eyes > 0)).any()


def test_no_find_adds_nothing(astronaut: np.ndarray) -> None:
    """An empty find returns an empty addition of the photo's size."""
    face = detect_faces(astronaut)[0]
    empty = np.zeros(astronaut.shape[:2], bool)
    added = extend_mask(astronaut, empty, empty, face)
    assert added.shape == empty.shape and not added.any()
