"""Face detection, landmarks and alignment on the astronaut, a painted-on mask and real photos."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from unmask.face import (
    CHIN,
    EYE_LEFT,
    EYE_RIGHT,
    JAW,
    MOUTH_OUTER,
    NOSE_TIP,
    Face,
    align_face,
    detect_faces,
    transform_face,
    unwarp,
    warp_points,
)
from unmask.face import detect as detect_module
from unmask.face.align import TEMPLATE_5
from unmask.face.keypoints import aligned_for_filling, covered_keypoints

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_PHOTOS = [
    "faces_hq/celebatest_182760.jpg",
    "faces/chandrika_0_0_aidai_0014.jpg",
    "faces_celeba_fm12k/test_1000_png.jpg",
    "masked/chandrika_0_0_0066ichXly3gbb630i4w6j30u00tzjtk.jpg",
    "masked/chandrika_0_0_0_copy_80.jpg",
    "paired_prajnasb/with_mask/101.jpg",
]


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def astronaut_face(astronaut: np.ndarray) -> Face:
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    return faces[0]


def assert_sane_layout(face: Face) -> None:
    """Eyes above nose above mouth above chin, image-left eye left of image-right eye, jaw left to right."""
    lm = face.landmarks
    assert lm.shape == (68, 2) and np.isfinite(lm).all()
    eye_left, eye_right = face.eye_centers()
    eye_y = (eye_left[1] + eye_right[1]) / 2
    assert eye_left[0] < eye_right[0]
    assert eye_y < lm[NOSE_TIP, 1] < lm[MOUTH_OUTER, 1].mean() < lm[CHIN, 1]
    assert lm[JAW][0, 0] < lm[CHIN, 0] < lm[JAW][-1, 0]
    assert lm[36, 0] < lm[39, 0] and lm[48, 0] < lm[54, 0]
    assert face.keypoints.shape == (5, 2) and face.box.shape == (4,)
    assert face.mesh is None or face.mesh.shape == (468, 2)


def test_astronaut_face_and_landmarks(astronaut_face: Face) -> None:
    face = astronaut_face
    x0, y0, x1, y1 = face.box
    assert 160 < x0 < 200 and 250 < x1 < 290 and 45 < y0 < 85 and 155 < y1 < 195
    assert face.score > 0.8 and face.mesh is not None
    assert_sane_layout(face)
    # Landmarks agree with the detector's keypoints.
    assert np.linalg.norm(face.landmarks[NOSE_TIP] - face.keypoints[2]) < 10
    assert np.linalg.norm(face.eye_centers() - face.keypoints[:2], axis=1).max() < 8


def test_astronaut_with_painted_mask(astronaut: np.ndarray, astronaut_face: Face) -> None:
    lm = astronaut_face.landmarks
    polygon = np.concatenate([lm[2:15], lm[[28]]]).round().astype(np.int32)
    masked = astronaut.copy()
    cv2.fillPoly(masked, [polygon], (200, 225, 245))
    cv2.polylines(masked, [polygon], True, (90, 140, 220), 3)
    faces = detect_faces(masked)
    assert len(faces) == 1
    face = faces[0]
    assert_sane_layout(face)
    nose = tuple(map(float, face.landmarks[NOSE_TIP]))
    assert cv2.pointPolygonTest(polygon.astype(np.float32), nose, False) > 0
    eye_distance = np.linalg.norm(np.subtract(*astronaut_face.eye_centers()))
    assert (
        np.linalg.norm(face.eye_centers() - astronaut_face.eye_centers(), axis=1).max() < 0.3 * eye_distance
    )


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder is absent")
@pytest.mark.parametrize("name", REAL_PHOTOS)
def test_real_photos(name: str) -> None:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{name} is absent")
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    faces = detect_faces(image, max_faces=1)
    assert len(faces) == 1
    assert_sane_layout(faces[0])
    x0, y0, x1, y1 = faces[0].box
    eyes = faces[0].eye_centers()
    assert ((eyes > [x0, y0]) & (eyes < [x1, y1])).all()


def test_mean_shape_fallback(astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect_module, "_mesh_landmarks", lambda image, keypoints: None)
    faces = detect_faces(astronaut)
    assert len(faces) == 1 and faces[0].mesh is None
    assert_sane_layout(faces[0])
    assert np.linalg.norm(faces[0].eye_centers() - faces[0].keypoints[:2], axis=1).max() < 8


def test_fills_are_aligned_by_the_mesh_landmarks(astronaut_face: Face) -> None:
    """With a mesh the alignment keypoints are its landmarks' (as the training crops'), without one YuNet's."""
    moved = aligned_for_filling(astronaut_face)
    assert np.allclose(moved.keypoints[:2], astronaut_face.eye_centers())
    assert np.allclose(moved.keypoints[2], astronaut_face.landmarks[NOSE_TIP])
    assert np.allclose(moved.keypoints[3:], astronaut_face.landmarks[[48, 54]])
    assert not np.allclose(moved.keypoints, astronaut_face.keypoints)
    assert np.array_equal(moved.landmarks, astronaut_face.landmarks) and moved.box is astronaut_face.box
    bare = replace(astronaut_face, mesh=None)
    assert aligned_for_filling(bare) is bare


def test_keypoints_under_the_hole_come_from_the_mean_face(astronaut: np.ndarray, astronaut_face: Face) -> None:
    """Mouth corners under the hole are the mean face's, placed by the eyes; the eyes and an uncovered nose tip stay
    the mesh's; no hole changes nothing."""
    mesh = aligned_for_filling(astronaut_face).keypoints
    hole = np.zeros(astronaut.shape[:2], np.uint8)
    assert np.allclose(covered_keypoints(astronaut_face, hole), mesh)
    mouth = astronaut_face.landmarks[MOUTH_OUTER]
    x0, y0 = mouth.min(0).astype(int) - 3
    x1, y1 = mouth.max(0).astype(int) + 4
    hole[y0:y1, x0:x1] = 1
    covered = covered_keypoints(astronaut_face, hole)
    assert np.allclose(covered[:3], mesh[:3]) and not np.allclose(covered[3:], mesh[3:])
    eye_distance = np.linalg.norm(mesh[1] - mesh[0])
    assert np.linalg.norm(covered[3:] - mesh[3:], axis=1).max() < 0.3 * eye_distance  # a face's mouth, near its own
    assert covered[3, 0] < covered[4, 0] and covered[3:, 1].min() > mesh[2, 1]  # left of right, below the nose
    assert np.allclose(aligned_for_filling(astronaut_face, hole).keypoints, covered)


def test_flat_grey_has_no_face() -> None:
    assert detect_faces(np.full((240, 320, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("size", [128, 256])
def test_aligned_eyes_at_template(astronaut: np.ndarray, astronaut_face: Face, size: int) -> None:
    aligned = align_face(astronaut, astronaut_face, size=size)
    assert aligned.image.shape == (size, size, 3) and aligned.image.dtype == np.uint8
    assert aligned.coverage == pytest.approx(1.0)
    local = transform_face(astronaut_face, aligned.matrix)
    eyes = np.stack([local.landmarks[EYE_LEFT].mean(0), local.landmarks[EYE_RIGHT].mean(0)])
    assert np.abs(eyes - TEMPLATE_5[:2] * size).max() < 0.03 * size
    assert np.abs(local.keypoints - TEMPLATE_5 * size).max() < 0.05 * size
    assert local.landmarks[CHIN, 1] < 0.95 * size and (local.landmarks[JAW] > 0).all()
    assert (local.landmarks[JAW] < size).all()


def test_points_round_trip(astronaut_face: Face) -> None:
    aligned = align_face(np.zeros((512, 512, 3), np.uint8), astronaut_face, size=256)
    points = astronaut_face.landmarks
    back = warp_points(warp_points(points, aligned.matrix), aligned.inverse)
    np.testing.assert_allclose(back, points, atol=1e-3)
    restored = transform_face(transform_face(astronaut_face, aligned.matrix), aligned.inverse)
    np.testing.assert_allclose(restored.keypoints, astronaut_face.keypoints, atol=1e-3)


def blob_centre(image: np.ndarray) -> np.ndarray:
    """Intensity-weighted centroid (x, y) of a single-channel image."""
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    weight = image.astype(np.float64)
    return np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()


def test_image_round_trip(astronaut: np.ndarray, astronaut_face: Face) -> None:
    # A small bright blob at each landmark lands where warp_points says, and comes back within 1 px.
    for index in (36, NOSE_TIP, 54, CHIN):
        spot = np.zeros(astronaut.shape, np.uint8)
        centre = astronaut_face.landmarks[index]
        cv2.circle(spot, tuple(int(v) for v in centre.round()), 3, (255, 255, 255), -1)
        true_centre = blob_centre(spot[..., 0])
        aligned = align_face(spot, astronaut_face, size=256)
        expected = warp_points(true_centre, aligned.matrix)
        assert np.linalg.norm(blob_centre(aligned.image[..., 0]) - expected) < 1.0
        restored, validity = unwarp(aligned.image, aligned)
        assert restored.shape == astronaut.shape and validity.shape == astronaut.shape[:2]
        assert np.linalg.norm(blob_centre(restored[..., 0]) - true_centre) < 1.0
    # Photo content survives the round trip inside the face; the validity mask covers the face and no corners.
    aligned = align_face(astronaut, astronaut_face, size=256)
    restored, validity = unwarp(aligned.image, aligned)
    x0, y0, x1, y1 = astronaut_face.box.round().astype(int)
    assert (validity[y0:y1, x0:x1] > 0.999).all() and validity[0, 0] == 0 and validity[-1, -1] == 0
    difference = np.abs(restored[y0:y1, x0:x1].astype(int) - astronaut[y0:y1, x0:x1].astype(int))
    assert difference.mean() < 6
    single, _ = unwarp(aligned.image[..., :1].astype(np.float32), aligned)
    assert single.shape == (*astronaut.shape[:2], 1)


@pytest.mark.parametrize("zoom", [1.0, 0.5])
def test_unwarp_over_the_footprint_equals_a_whole_photo_warp(astronaut: np.ndarray, astronaut_face: Face,
                                                              zoom: float) -> None:
    """unwarp warps only the crop's footprint; the result equals warping onto the whole photo, also for a wide crop
    reaching past the photo's edges."""
    from unmask.face.align import zoomed_template

    aligned = align_face(astronaut[40:300, 100:400], transform_face(astronaut_face, np.array([[1.0, 0, -100],
                                                                                               [0, 1.0, -40]])),
                         128, template=zoomed_template(zoom, (0.5, 0.44)))
    height, width = aligned.source_shape
    whole = cv2.warpAffine(aligned.image, aligned.inverse, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    coverage = cv2.warpAffine(np.ones((128, 128), np.float32), aligned.inverse, (width, height),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    image, validity = unwarp(aligned.image, aligned)
    assert validity.any() and np.array_equal(image, whole) and np.array_equal(validity, coverage)


def test_bicubic_unwarp_keeps_detail_without_ringing(astronaut: np.ndarray, astronaut_face: Face) -> None:
    """A 64² crop scaled up into the photo keeps more of its detail with INTER_CUBIC than bilinear; a flat crop comes
    back flat to its edge (no ringing against the zeros outside it) and zero outside it."""
    aligned = align_face(astronaut, astronaut_face, size=64)
    linear, validity = unwarp(aligned.image, aligned)
    cubic, same_validity = unwarp(aligned.image, aligned, cv2.INTER_CUBIC)
    assert np.array_equal(validity, same_validity)
    inside = cv2.erode((validity > 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0

    def detail(image: np.ndarray) -> float:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(cv2.Laplacian(grey, cv2.CV_32F)[inside].var())

    assert detail(cubic) > 1.1 * detail(linear)
    flat, _ = unwarp(np.full((64, 64, 3), 200, np.uint8), aligned, cv2.INTER_CUBIC)
    assert (flat[validity > 0] == 200).all() and (flat[validity == 0] == 0).all()


def test_tight_crop_is_padded_and_found() -> None:
    image = data.astronaut()[50:190, 165:285]  # the face fills the frame
    faces = detect_faces(image)
    assert len(faces) == 1
    assert_sane_layout(faces[0])
    aligned = align_face(image, faces[0], size=128)
    assert 0.2 < aligned.coverage < 1.0


def test_align_face_antialiases_large_photos():
    """A 2-px checkerboard shrunk ~15x into a crop becomes flat grey, not moiré."""
    yy, xx = np.mgrid[0:4000, 0:4000]
    board = np.dstack([(((yy // 2 + xx // 2) % 2) * 255).astype(np.uint8)] * 3)
    keypoints = np.array([[1600, 1800], [2400, 1800], [2000, 2300], [1700, 2700], [2300, 2700]], float)
    face = Face(box=np.array([1200, 1200, 2800, 3000.0]), score=1.0, keypoints=keypoints,
                landmarks=np.zeros((68, 2)))
    crop = align_face(board, face, size=128).image
    assert crop.std() < 3 and abs(crop.mean() - 127.5) < 3


def test_small_face_second_pass(astronaut: np.ndarray) -> None:
    """A face about 8 px wide in a 640² photo: the first YuNet pass misses it, the higher-resolution pass finds it
    where it is, and nothing else."""
    canvas = np.full((640, 640, 3), 128, np.uint8)
    canvas[300:340, 200:240] = cv2.resize(astronaut, (40, 40), interpolation=cv2.INTER_AREA)
    assert detect_faces(canvas, small_faces=False, mesh=False) == []
    faces = detect_faces(canvas, mesh=False)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 200 <= x0 < x1 <= 240 and 300 <= y0 < y1 <= 340


def test_small_face_pass_keeps_large_faces_alone(astronaut: np.ndarray) -> None:
    """On a photo whose face the first pass finds, the second pass adds no duplicate of it."""
    assert len(detect_faces(astronaut, mesh=False, small_faces=True)) == 1
