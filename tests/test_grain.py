"""Grain matching gives a smooth fill the grain of the photo around it, and touches nothing else."""

import cv2
import numpy as np

from unmask.grain import match_grain


def _laplacian_std(image: np.ndarray, where: np.ndarray) -> float:
    """Standard deviation of the grey Laplacian inside ``where``."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F)[where].std())


def _grainy_photo_with_smooth_fill(size: int = 160) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy skin-coloured photo, a square hole and a result whose hole is filled with the smooth mean colour."""
    rng = np.random.default_rng(1)
    photo = np.clip(np.array([190, 140, 120]) + rng.normal(0, 6, (size, size, 3)), 0, 255).astype(np.uint8)
    hole = np.zeros((size, size), np.uint8)
    hole[50:110, 40:120] = 1
    result = photo.copy()
    result[hole > 0] = photo.reshape(-1, 3).mean(0).astype(np.uint8)
    return photo, result, hole


def test_smooth_fill_gets_the_grain_of_its_surroundings():
    photo, result, hole = _grainy_photo_with_smooth_fill()
    matched = match_grain(photo, result, hole)
    inside, ring = hole > 0, (cv2.dilate(hole, np.ones((21, 21), np.uint8)) > 0) & (hole == 0)
    assert _laplacian_std(result, inside) < 0.1 * _laplacian_std(photo, ring)
    assert 0.6 < _laplacian_std(matched, inside) / _laplacian_std(photo, ring) < 1.5
    assert abs(matched[inside].astype(float).mean() - result[inside].astype(float).mean()) < 1.0  # no colour shift


def test_only_changed_pixels_are_touched_and_the_result_is_reproducible():
    photo, result, hole = _grainy_photo_with_smooth_fill()
    matched = match_grain(photo, result, hole, seed=3)
    assert np.array_equal(matched[hole == 0], result[hole == 0])
    assert np.array_equal(matched, match_grain(photo, result, hole, seed=3))
    assert not np.array_equal(matched, match_grain(photo, result, hole, seed=4))


def test_nothing_is_added_where_the_fill_is_already_as_grainy_or_the_photo_is_smooth():
    photo, _, hole = _grainy_photo_with_smooth_fill()
    assert np.array_equal(match_grain(photo, photo, hole), photo)  # the "fill" has the photo's own grain
    flat = np.full_like(photo, 128)
    assert np.array_equal(match_grain(flat, flat, hole), flat)
    assert np.array_equal(match_grain(photo, photo, np.zeros_like(hole)), photo)


def test_edges_in_the_ring_are_not_copied_into_the_hole():
    photo, result, hole = _grainy_photo_with_smooth_fill()
    photo[:, ::12] = 0  # thin dark lines (hair, glasses) across the whole photo, hole included
    result[hole == 0] = photo[hole == 0]
    matched = match_grain(photo, result, hole)
    added = matched.astype(np.int16) - result.astype(np.int16)
    assert np.abs(added[hole > 0]).max() < 60  # patches with a line in them are left out; the grain is clipped


def test_unmasker_adds_grain_to_a_scaled_up_fill_and_can_leave_it_out(astronaut):
    from unmask.pipeline import Unmasker

    photo = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    photo = np.clip(photo + np.random.default_rng(0).normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
    hole = np.zeros(photo.shape[:2], np.uint8)
    hole[330:480, 360:560] = 1  # the lower face, filled at 256² and scaled up about 2.5x
    with_grain = Unmasker("telea")(photo, mask=hole)
    without = Unmasker("telea", grain=False)(photo, mask=hole)
    inside = hole > 0
    assert np.array_equal(with_grain.mask, without.mask)
    assert np.array_equal(with_grain.image[~inside], photo[~inside])
    assert _laplacian_std(with_grain.image, inside) > 2 * _laplacian_std(without.image, inside)



def test_grain_comes_from_skin_not_from_the_clothes_or_hair_next_to_the_hole():
    photo, result, hole = _grainy_photo_with_smooth_fill()
    cloth = np.zeros(photo.shape[:2], bool)
    cloth[70:, :] = True  # a dark, coarsely textured knit over most of the hole's ring
    knit = np.random.default_rng(2).normal(0, 20, (int(cloth.sum()), 1))
    photo[cloth] = np.clip(np.array([40, 40, 60]) + knit, 0, 255).astype(np.uint8)
    result[hole == 0] = photo[hole == 0]
    result[hole > 0] = [190, 140, 120]  # the fill paints skin
    added = match_grain(photo, result, hole).astype(np.int16) - result.astype(np.int16)
    skin_noise = 6.0
    assert 0.5 * skin_noise < added[hole > 0].std() < 1.5 * skin_noise  # the skin's grain, not the knit's


def test_a_ring_of_hair_with_little_skin_gives_no_grain():
    """Black, streaky hair all round the hole but for a strip of skin too small to learn grain from: no grain (taking
    the ring's nearest quarter whatever its colour drew the hair's streaks across the face)."""
    photo, result, hole = _grainy_photo_with_smooth_fill()
    hair = np.ones(photo.shape[:2], bool)
    hair[18:50, 40:80] = False  # a little forehead skin above the hole
    hair[hole > 0] = False
    streaks = 25 * np.sin(np.arange(photo.shape[1]) * 1.3)[None, :, None]
    photo[hair] = np.clip(np.array([25, 20, 20]) + streaks + np.zeros_like(photo, float), 0, 255)[hair]
    result[hole == 0] = photo[hole == 0]
    assert np.array_equal(match_grain(photo, result, hole), result)


def test_strands_of_hair_over_the_skin_are_not_taken_for_grain():
    """Skin with thin dark strands across the whole ring (its colour, blurred, is still skin's): every patch holds
    parallel lines, none is grain, so none is laid over the fill."""
    photo, result, hole = _grainy_photo_with_smooth_fill()
    photo = photo.astype(np.int16)
    photo[:, ::5] -= 30  # a 1 px strand every 5 px, top to bottom
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    result[hole == 0] = photo[hole == 0]
    assert np.array_equal(match_grain(photo, result, hole), result)


def test_grain_is_taken_only_from_the_given_region_when_it_holds_enough_skin():
    photo, result, hole = _grainy_photo_with_smooth_fill()
    sweater = np.zeros(photo.shape[:2], bool)
    sweater[80:, :] = True  # a skin-coloured but coarsely knitted sweater under the lower half of the hole
    knit = np.random.default_rng(3).normal(0, 24, (int(sweater.sum()), 3))
    photo[sweater] = np.clip(np.array([190, 140, 120]) + knit, 0, 255).astype(np.uint8)
    result[hole == 0] = photo[hole == 0]
    face = np.zeros(photo.shape[:2], bool)
    face[:80, :] = True  # the face's box ends where the sweater starts
    anywhere = match_grain(photo, result, hole).astype(np.int16) - result.astype(np.int16)
    from_face = match_grain(photo, result, hole, skin_area=face).astype(np.int16) - result.astype(np.int16)
    assert anywhere[hole > 0].std() > 9.0  # the sweater's coarse knit sets the grain
    assert 3.0 < from_face[hole > 0].std() < 9.0  # the face's own grain (std 6)


def test_the_pipeline_takes_grain_from_the_faces_boxes():
    from types import SimpleNamespace

    from unmask.pipeline import _face_boxes

    face = SimpleNamespace(box=np.array([20.0, 40.0, 100.5, 120.0]))
    inside = _face_boxes((200, 300), [face])
    assert inside.shape == (200, 300) and inside[40:120, 20:101].all()
    assert inside.sum() == 80 * 81
    assert _face_boxes((200, 300), []) is None
