"""Occlusion finder: synthetic surgical masks, eye bars and real worn masks are found, clean faces stay (nearly)
empty."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from unmask.face import EYE_LEFT, EYE_RIGHT, MOUTH_OUTER, Face, align_face, detect_faces, transform_face
from unmask.face.segment import GROW_MARGIN, find_occlusions, grow_in_crop
from unmask.io import load_image
from unmask.occlusion import occlude

PHOTOS = ("faces_hq/celebatest_182694.jpg", "faces_hq/celebatest_182697.jpg", "faces_hq/celebatest_182705.jpg")
MASKED = ("masked/rmfd_0016_0034.jpg", "masked/rmfd_0001_0043.jpg", "masked/chandrika_with_mask617.jpg")  # train split


def _iou(first: np.ndarray, second: np.ndarray) -> float:
    union = ((first > 0) | (second > 0)).sum()
    return float(((first > 0) & (second > 0)).sum() / max(union, 1))


def _check_face(image: np.ndarray) -> None:
    """Align the first face to 256², then check a surgical mask, a bar and the clean crop (the found outline, and
    that the grown mask covers the occluder)."""
    faces = detect_faces(image)
    assert faces
    aligned = align_face(image, faces[0], 256)
    crop, face = aligned.image, transform_face(faces[0], aligned.matrix)
    clean, clean_faces = find_occlusions(crop)
    assert clean_faces
    x0, y0, x1, y1 = clean_faces[0].box
    assert clean.sum() < 0.02 * (x1 - x0) * (y1 - y0)
    for kind in ("surgical", "bar"):
        occluded, truth = occlude(crop, kind, np.random.default_rng(3), face=face)
        found, _ = find_occlusions(occluded, margin=0)  # the segmenter's own outline
        assert _iou(found, truth) >= 0.8, kind
        grown, _ = find_occlusions(occluded)  # grown by the default margin: covers it all
        assert grown[truth > 0].mean() > 0.95, kind


def test_astronaut(astronaut: np.ndarray) -> None:
    """The astronaut: surgical mask and bar found, clean face empty."""
    _check_face(astronaut)


@pytest.mark.parametrize("name", PHOTOS)
def test_real_faces(shared_data: Path, name: str) -> None:
    """Real photos from faces_hq: surgical mask and bar found, clean face empty."""
    _check_face(load_image(shared_data / name))


@pytest.mark.parametrize("name", MASKED)
def test_real_masks(shared_data: Path, name: str) -> None:
    """Real photos of worn masks (small, soft-edged): a mask is found on the lower half of the face."""
    found, faces = find_occlusions(load_image(shared_data / name))
    assert faces
    x0, y0, x1, y1 = faces[0].box
    area = (x1 - x0) * (y1 - y0)
    assert 0.1 * area < found.sum() < 0.8 * area
    assert np.nonzero(found)[0].mean() > y0 + 0.5 * (y1 - y0)


def _crop_face(astronaut: np.ndarray) -> tuple[np.ndarray, Face]:
    """The astronaut aligned to 256² and its face in crop coordinates."""
    face = detect_faces(astronaut)[0]
    aligned = align_face(astronaut, face, 256)
    return aligned.image, transform_face(face, aligned.matrix)


def test_grow_covers_the_rim(astronaut: np.ndarray) -> None:
    """A synthetic surgical mask found 4 px short of its outline (the rim a segmenter leaves) is covered again by
    the default grow, without spreading more than a few pixels past it."""
    crop, face = _crop_face(astronaut)
    _, truth = occlude(crop, "surgical", np.random.default_rng(3), face=face)
    truth = truth > 0
    short = cv2.erode(truth.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    grown = grow_in_crop(short, face, GROW_MARGIN)
    assert grown[truth].mean() > 0.97 > short[truth].mean()
    assert (grown & ~truth).sum() < 0.2 * truth.sum()


def test_grow_keeps_out_of_lips_and_eyes(astronaut: np.ndarray) -> None:
    """A mask pulled under the chin grows down and sideways but not over the lips; nothing grows into the eyes."""
    crop, face = _crop_face(astronaut)
    lips = np.zeros((256, 256), np.uint8)
    cv2.fillPoly(lips, [np.round(face.landmarks[MOUTH_OUTER]).astype(np.int32)], 1)
    lips = lips.astype(bool)
    under_chin = np.zeros((256, 256), bool)
    under_chin[int(face.landmarks[MOUTH_OUTER, 1].max()) + 4:, 60:196] = True
    grown = grow_in_crop(under_chin, face, 0.5)
    assert grown.sum() > under_chin.sum() * 1.05  # it did grow
    assert not (grown & lips).any()
    band = np.zeros((256, 256), bool)
    eye_y = int(face.eye_centers()[:, 1].mean())
    band[eye_y + 6:eye_y + 40, 40:216] = True  # a mask top edge just under the eyes
    eyes = np.zeros((256, 256), np.uint8)
    for group in (EYE_LEFT, EYE_RIGHT):
        cv2.fillPoly(eyes, [np.round(face.landmarks[group]).astype(np.int32)], 1)
    assert not (grow_in_crop(band, face, 0.5) & eyes.astype(bool)).any()


def test_find_occlusions_margin(astronaut: np.ndarray) -> None:
    """margin=0 is the segmenter's own outline; the default grows it (a superset) within the face."""
    occluded, _ = occlude(astronaut, "surgical", np.random.default_rng(5), face=detect_faces(astronaut)[0])
    plain, _ = find_occlusions(occluded, margin=0)
    grown, faces = find_occlusions(occluded)
    assert plain.any() and not (plain & ~grown).any()
    assert plain.sum() < grown.sum() < 1.6 * plain.sum()


def test_a_large_mask_reaching_below_the_chin_is_found_whole(astronaut: np.ndarray, monkeypatch) -> None:
    """A mask a size too big (down past the chin, beyond the first aligned crop) is found by the wider second look;
    without it (and without the GrabCut extension, which makes up part of it) a quarter of the mask is left."""
    import dataclasses

    from unmask.face import segment
    from unmask.face.align import TEMPLATE_5

    face = detect_faces(astronaut)[0]
    eye_y = face.keypoints[:2, 1].mean()
    stretched = face.landmarks.copy()
    stretched[:, 1] = eye_y + (stretched[:, 1] - eye_y) * 1.6
    masked, truth = occlude(astronaut, "surgical", np.random.default_rng(0), face=dataclasses.replace(
        face, landmarks=stretched))
    truth = truth > 0
    found, _ = find_occlusions(masked)
    assert found[truth].mean() > 0.97
    assert (found & ~truth).sum() < 0.3 * truth.sum()
    monkeypatch.setattr(segment, "WIDE_TEMPLATE", TEMPLATE_5)  # the second look sees what the first saw
    monkeypatch.setattr(segment, "extend_mask", lambda image, found, grown, face: np.zeros(found.shape, bool))
    narrow, _ = find_occlusions(masked)
    assert narrow[truth].mean() < 0.85


def test_the_wider_look_adds_only_what_has_the_masks_colours() -> None:
    """Of what the wider look adds, the rest of a striped mask is kept; the neck and the collar under it are not."""
    from unmask.face.segment import _mask_coloured

    rng = np.random.default_rng(0)
    image = np.zeros((120, 120, 3), np.uint8)
    image[:] = (200, 150, 130)  # skin
    image[90:] = (40, 60, 40)  # a dark green collar
    image[20:80, 30:90] = (60, 120, 200)  # a blue mask ...
    image[20:80:6, 30:90] = (240, 240, 240)  # ... with white stripes
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    found = np.zeros((120, 120), bool)
    found[20:60, 30:90] = True  # the first look stopped short of the mask's lower part
    candidate = np.zeros_like(found)
    candidate[60:110, 25:95] = True  # the wider look: the mask's lower part, skin and collar under it
    kept = _mask_coloured(image, found, candidate, ring=10)
    assert kept[62:78, 34:86].mean() > 0.95
    assert kept[82:88, 34:86].mean() < 0.05 and kept[95:110].mean() < 0.05
