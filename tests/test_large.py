"""Huge photos are worked on a reduced copy when their faces stay large enough there, and pasted back at full size
(``unmask.large``); the memory this saves is measured by ``benchmarks/large_photo.py``."""

import cv2
import numpy as np
import pytest

from unmask import large
from unmask.face import detect_faces
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker


@pytest.fixture(scope="module")
def big(astronaut):
    """The astronaut with a surgical mask at 2048², and a given hole over its mouth (uint8, 1 = hole)."""
    masked, _ = occlude(astronaut, "surgical", np.random.default_rng(0), face=detect_faces(astronaut)[0])
    photo = cv2.resize(masked, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    hole = np.zeros(photo.shape[:2], np.uint8)
    hole[660:800, 810:1030] = 1
    return photo, hole


def test_a_huge_photo_is_filled_on_a_reduced_copy_and_pasted_back_at_full_size(big, monkeypatch):
    photo, hole = big
    before = photo.copy()
    monkeypatch.setattr(large, "WORK_PIXELS", 1024 * 1024)
    unmasker = Unmasker("telea")
    job = unmasker.prepare(photo, hole)
    assert job.full is not None and job.photo.shape == (1024, 1024, 3)  # the face is ~200 px wide there
    result = unmasker(photo, mask=hole)
    assert result.image.shape == photo.shape and np.array_equal(photo, before)  # the input is left alone
    changed = result.mask > 0
    assert not (changed & (hole == 0)).any() and changed[hole > 0].mean() > 0.99  # the given hole, exactly
    assert np.array_equal(result.image[~changed], photo[~changed])
    assert np.abs(result.image[changed].astype(int) - photo[changed]).mean() > 5
    box = result.faces[0].box  # in the photo's own pixels, not the reduced copy's
    assert box[0] < 810 < 1030 < box[2] and box[3] > 600  # (about 350-540 by 125-345 in the reduced copy)
    found = unmasker(photo)  # a found mask: pasted back with its soft edge, the rest untouched
    assert found.image.shape == photo.shape and found.mask.any()
    assert np.array_equal(found.image[found.mask == 0], photo[found.mask == 0])


def test_faces_too_small_in_the_reduced_copy_are_worked_on_at_full_size(big, monkeypatch):
    photo, hole = big
    monkeypatch.setattr(large, "WORK_PIXELS", 256 * 256)  # the face would be ~50 px wide: too small
    job = Unmasker("telea").prepare(photo, hole)
    assert job.full is None and job.photo.shape == photo.shape
