"""Occlusion finder: synthetic surgical masks, eye bars and real worn masks are found, clean faces stay (nearly)
empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unmask.face import align_face, detect_faces, transform_face
from unmask.face.segment import find_occlusions
from unmask.io import load_image
from unmask.occlusion import occlude

PHOTOS = ("faces_hq/celebatest_182694.jpg", "faces_hq/celebatest_182697.jpg", "faces_hq/celebatest_182705.jpg")
MASKED = ("masked/rmfd_0016_0034.jpg", "masked/rmfd_0001_0043.jpg", "masked/chandrika_with_mask617.jpg")  # train split


def _iou(first: np.ndarray, second: np.ndarray) -> float:
    union = ((first > 0) | (second > 0)).sum()
    return float(((first > 0) & (second > 0)).sum() / max(union, 1))


def _check_face(image: np.ndarray) -> None:
    """Align the first face to 256², then check a surgical mask, a bar and the clean crop."""
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
        found, _ = find_occlusions(occluded)
        assert _iou(found, truth) >= 0.8, kind


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
