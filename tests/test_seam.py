"""Seam removal takes away a small step between a fill and the photo at the hole's border, and nothing else."""

import cv2
import numpy as np

from unmask.seam import remove_seam


def _photo_and_fill(step: float, size: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A left-to-right skin gradient, a square hole, and a fill that continues the gradient ``step`` levels brighter."""
    ramp = np.linspace(120, 170, size, dtype=np.float32)
    photo = np.clip(np.stack([ramp + 40, ramp, ramp - 20], axis=-1)[None].repeat(size, 0), 0, 255).astype(np.uint8)
    hole = np.zeros((size, size), bool)
    hole[30:70, 25:75] = True
    fill = photo.copy()
    fill[hole] = np.clip(photo[hole].astype(np.float32) + step, 0, 255).astype(np.uint8)
    return photo, fill, hole


def test_a_small_step_is_spread_away_and_the_fill_kept_further_in():
    photo, fill, hole = _photo_and_fill(step=8)
    known = ~hole
    out = remove_seam(fill, photo, hole, known)
    border = hole & ~cv2.erode(hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # outermost pixels
    error_before = np.abs(fill.astype(float) - photo)[border].mean()
    error_after = np.abs(out.astype(float) - photo)[border].mean()
    assert error_before > 7.5 and error_after < 2.5
    centre = (slice(45, 55), slice(45, 55))
    assert np.abs(out[centre].astype(int) - fill[centre]).max() <= 1  # the fill itself is left alone
    assert np.array_equal(out[~hole], fill[~hole])  # only hole pixels change


def test_a_real_edge_is_kept():
    photo, fill, hole = _photo_and_fill(step=120)  # a step this large is an edge (hair, background), not a seam
    out = remove_seam(fill, photo, hole, ~hole)
    assert np.abs(out.astype(int) - fill).max() <= 1


def test_only_the_border_shared_with_known_pixels_is_matched():
    photo, fill, hole = _photo_and_fill(step=8)
    known = ~hole
    known[:, :50] = False  # the left half of the outline borders pixels not filled yet
    out = remove_seam(fill, photo, hole, known)
    assert np.abs(out[30:70, 25].astype(int) - fill[30:70, 25]).max() <= 1  # left edge: not matched
    assert np.abs(out[30:70, 74].astype(float) - photo[30:70, 74]).mean() < 2.5  # right edge: matched
    nothing = remove_seam(fill, photo, hole, np.zeros_like(hole))
    assert np.array_equal(nothing, fill)
