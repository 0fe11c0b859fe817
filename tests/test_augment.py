import cv2
import numpy as np

from unmask.data.augment import AlignmentJitter, degrade, grow_hole, jitter_alignment, jitter_matrix
from unmask.data.datamodule import FaceDataModule

SIZE = 64


def test_no_spread_is_no_move():
    matrix = jitter_matrix(SIZE, AlignmentJitter(0.0, 0.0, 0.0, 0.0), np.random.default_rng(0))
    assert np.allclose(matrix, [[1, 0, 0], [0, 1, 0]])


def test_landmarks_move_with_the_image():
    rng = np.random.default_rng(3)
    wide = AlignmentJitter(scale=0.15, rotation=10.0, shift_x=0.05, shift_y=0.05)
    for _ in range(10):
        point = rng.uniform(20, 44, size=(1, 2))
        image = np.zeros((SIZE, SIZE, 3), np.uint8)
        cv2.circle(image, tuple(int(round(v)) for v in point[0]), 2, (255, 255, 255), -1)
        moved, landmarks = jitter_alignment(image, point, wide, rng)
        ys, xs = np.nonzero(moved[..., 0] > 128)
        assert moved.shape == image.shape and moved.dtype == np.uint8
        assert np.hypot(xs.mean() - landmarks[0, 0], ys.mean() - landmarks[0, 1]) < 1.5


def test_the_spread_follows_the_settings():
    rng = np.random.default_rng(0)
    matrices = np.array([jitter_matrix(256, AlignmentJitter(), rng) for _ in range(2000)])
    scales = np.sqrt(np.abs(np.linalg.det(matrices[:, :, :2])))
    centres = matrices[:, :, :2] @ np.array([128.0, 128.0]) + matrices[:, :, 2] - 128
    assert abs(np.log(scales).std() - 0.08) < 0.01
    assert abs(centres[:, 0].std() - 0.035 * 256) < 1 and abs(centres[:, 1].std() - 0.015 * 256) < 0.5


def test_degrade_removes_fine_detail():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    for _ in range(5):
        worse = degrade(image, rng)
        assert worse.shape == image.shape and worse.dtype == np.uint8
        assert cv2.Laplacian(worse, cv2.CV_64F).var() < 0.5 * cv2.Laplacian(image, cv2.CV_64F).var()


def test_grown_holes_cover_the_hole_and_stay_within_reach():
    rng = np.random.default_rng(2)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[28:36, 24:40] = 1
    grown_by = set()
    for _ in range(20):
        grown = grow_hole(mask, rng)
        assert grown.dtype == np.uint8 and np.all(grown[mask > 0] == 1)
        rows = np.nonzero(grown.any(1))[0]
        grown_by.add(int(28 - rows[0]))
        assert 1 <= 28 - rows[0] <= round(0.1 * SIZE) and rows[-1] - 35 == 28 - rows[0]
    assert len(grown_by) > 2


def test_augmentations_reach_training_items_only(tiny_prepared):
    data = FaceDataModule(str(tiny_prepared), size=SIZE, batch_size=2, num_workers=0,
                          jitter={"rotation": 6.0}, degrade=1.0, grow=1.0)
    data.setup()
    train = data.splits["train"]
    assert train.jitter == AlignmentJitter(rotation=6.0) and train.degrade == 1.0 and train.grow == 1.0
    assert all(data.splits[split].jitter is None and not data.splits[split].degrade and not data.splits[split].grow
               for split in ("val", "test"))
    image, mask, _ = train[0]
    assert image.shape == (3, SIZE, SIZE) and mask.sum() > 0
