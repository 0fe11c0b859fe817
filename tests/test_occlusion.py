"""Synthetic occluders: face masks on the nose and mouth, bars on the eyes, holes in their ratio buckets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from unmask.errors import UnmaskError
from unmask.face import Face, detect_faces
from unmask.occlusion import (
    FACE_KINDS,
    HOLE_BUCKETS,
    KINDS,
    MASK_KINDS,
    FileMasks,
    OcclusionMixture,
    border_margin,
    bucketed_holes,
    eye_bar,
    face_mask,
    occlude,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_FACES = ("celebatest_182681.jpg", "celebatest_183168.jpg", "celebatest_183534.jpg")
NOSE_MOUTH = np.r_[30, 48:68]
EYES = np.r_[36:48]


def _read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def faces() -> list[tuple[str, np.ndarray, Face]]:
    images = [("astronaut", skimage.data.astronaut())]
    images += [(n, _read(SHARED / "faces_hq" / n)) for n in REAL_FACES if (SHARED / "faces_hq" / n).exists()]
    out = []
    for name, image in images:
        found = detect_faces(image)
        assert found, f"no face found in {name}"
        out.append((name, image, found[0]))
    return out


def _at(mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mask values at the (rounded, clipped) landmark pixels."""
    h, w = mask.shape
    p = np.clip(np.round(landmarks), 0, [w - 1, h - 1]).astype(int)
    return mask[p[:, 1], p[:, 0]]


def _check_output(image: np.ndarray, occluded: np.ndarray, mask: np.ndarray) -> None:
    assert occluded.shape == image.shape and occluded.dtype == np.uint8
    assert mask.shape == image.shape[:2] and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1} and mask.any()


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_face_masks_cover_nose_and_mouth_not_eyes(faces, kind):
    for name, image, face in faces:
        for seed in range(4):
            occluded, mask = face_mask(image, face, np.random.default_rng(seed), kind)
            _check_output(image, occluded, mask)
            assert _at(mask, face.landmarks[NOSE_MOUTH]).all(), (name, seed, "nose/mouth not covered")
            assert not _at(mask, face.landmarks[EYES]).any(), (name, seed, "eye covered")
            assert (occluded[mask == 0] == image[mask == 0]).mean() > 0.95  # only the soft edge changes


def test_eye_bar_covers_both_eyes_not_mouth(faces):
    for name, image, face in faces:
        for seed in range(10):
            occluded, mask = eye_bar(image, face, np.random.default_rng(seed))
            _check_output(image, occluded, mask)
            assert _at(mask, face.landmarks[EYES]).all(), (name, seed)
            assert not _at(mask, face.landmarks[48:68]).any(), (name, seed)


@pytest.mark.parametrize("bucket", HOLE_BUCKETS)
@pytest.mark.parametrize("border", [True, False, None])
def test_bucketed_holes_land_in_bucket(bucket, border):
    lo, hi = bucket
    for seed in range(100):
        shape = (64 + (seed * 7) % 65, 64 + (seed * 13) % 65)
        mask = bucketed_holes(shape, bucket, border, np.random.default_rng(seed))
        assert mask.shape == shape and mask.dtype == np.uint8
        assert lo < mask.mean() <= hi, (seed, shape, mask.mean())
        edges = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
        if border is True:
            assert edges.any(), seed
        if border is False:
            m = border_margin(shape)
            assert not mask[m:-m, m:-m].sum() < mask.sum(), seed


def test_bucketed_holes_rejects_bad_bucket():
    with pytest.raises(UnmaskError):
        bucketed_holes((64, 64), (0.5, 0.2), None, np.random.default_rng(0))


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_shapes_and_determinism(faces, kind):
    _, image, face = faces[0]
    a = occlude(image, kind, np.random.default_rng(7), face=face)
    b = occlude(image, kind, np.random.default_rng(7), face=face)
    _check_output(image, *a)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = occlude(image, kind, np.random.default_rng(8), face=face)
    assert not np.array_equal(a[1], c[1]) or kind in FACE_KINDS  # face kinds may repeat a placement


def test_free_kinds_on_non_square_image():
    image = np.zeros((96, 160, 3), np.uint8)
    for kind in ("strokes", "holes", "thick", "medium", "thin"):
        _check_output(image, *occlude(image, kind, np.random.default_rng(0), ratio=(0.2, 0.3), border=False))


def test_hole_fill_is_white():
    image = np.zeros((64, 64, 3), np.uint8)
    occluded, mask = occlude(image, "holes", np.random.default_rng(0), ratio=(0.3, 0.4))
    assert (occluded[mask == 1] == 255).all() and (occluded[mask == 0] == 0).all()


def test_errors_are_unmask_errors(faces):
    image = faces[0][1]
    with pytest.raises(UnmaskError, match="unknown"):
        occlude(image, "balaclava", np.random.default_rng(0))
    with pytest.raises(UnmaskError, match="needs a detected face"):
        occlude(image, "surgical", np.random.default_rng(0))
    with pytest.raises(UnmaskError):
        OcclusionMixture({"balaclava": 1.0})


def test_mixture_kinds_and_fallback(faces):
    _, image, face = faces[0]
    mix = OcclusionMixture({"surgical": 2, "bar": 1, "holes": 1, "thin": 1}, ratio=(0.1, 0.2), border=True)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        occluded, mask, kind = mix(image, face, rng)
        _check_output(image, occluded, mask)
        seen.add(kind)
    assert seen == {"surgical", "bar", "holes", "thin"}
    for _ in range(10):
        _, _, kind = mix(image, None, rng)
        assert kind in {"holes", "thin"}
    _, _, kind = OcclusionMixture({"gas": 1})(image, None, rng)
    assert kind == "strokes"


def test_file_masks(tmp_path):
    hole = np.zeros((32, 48), np.uint8)
    hole[4:10, 6:30] = 255
    cv2.imwrite(str(tmp_path / "a.png"), hole)
    masks = FileMasks(tmp_path)
    out = masks((64, 64), np.random.default_rng(0))
    assert out.shape == (64, 64) and out.dtype == np.uint8 and set(np.unique(out)) == {0, 1}
    assert np.array_equal(out, masks((64, 64), np.random.default_rng(0)))
    with pytest.raises(UnmaskError):
        FileMasks(tmp_path / "missing")


@pytest.mark.skipif(not (SHARED / "holes_nvidia").is_dir(), reason="shared/data/holes_nvidia absent")
def test_mixture_with_nvidia_hole_files():
    image = np.zeros((128, 128, 3), np.uint8)
    mix = OcclusionMixture({"holes": 1.0}, hole_folder=SHARED / "holes_nvidia")
    occluded, mask, kind = mix(image, None, np.random.default_rng(3))
    assert kind == "holes" and mask.shape == (128, 128) and 0 < mask.mean() < 0.7
