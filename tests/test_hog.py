import numpy as np
import pytest
import torch
from skimage.feature import hog as skimage_hog

from unmask.errors import UnmaskError
from unmask.models.hog import HOG, image_gradients


@pytest.fixture(scope="module")
def face_crop(astronaut) -> np.ndarray:
    """A 48x64 float64 crop of the astronaut's face (not square, to catch row/column mix-ups)."""
    return astronaut[90:138, 170:234].astype(np.float64) / 255.0


@pytest.mark.parametrize("method", ["L1", "L1-sqrt", "L2", "L2-Hys"])
@pytest.mark.parametrize("colour", [True, False])
def test_hard_binning_matches_skimage(face_crop, method, colour):
    image = face_crop if colour else face_crop.mean(axis=2)
    expected = skimage_hog(image, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                           block_norm=method, channel_axis=-1 if colour else None)
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None] if colour else torch.from_numpy(image)[None, None]
    descriptors = HOG(9, 8, 2, method)(tensor)
    assert descriptors.shape == (1, 36, 5, 7)
    # skimage accumulates cell sums in float32: agreement to ~1e-7, bins and flattening order identical
    np.testing.assert_allclose(descriptors.permute(0, 2, 3, 1).flatten().numpy(), expected, atol=1e-6)


def test_other_cell_and_block_sizes_match_skimage(face_crop):
    expected = skimage_hog(face_crop, orientations=6, pixels_per_cell=(6, 6), cells_per_block=(3, 3),
                           channel_axis=-1)
    descriptors = HOG(6, 6, 3)(torch.from_numpy(face_crop).permute(2, 0, 1)[None])
    np.testing.assert_allclose(descriptors.permute(0, 2, 3, 1).flatten().numpy(), expected, atol=1e-6)


def test_gradients_are_zero_on_the_border_and_central_inside():
    image = torch.arange(16.0).view(1, 1, 4, 4) ** 2
    g_row, g_col = image_gradients(image)
    assert torch.all(g_row[..., 0, :] == 0) and torch.all(g_col[..., :, -1] == 0)
    assert g_col[0, 0, 1, 1] == image[0, 0, 1, 2] - image[0, 0, 1, 0]


@pytest.mark.parametrize("binning", ["hard", "linear"])
def test_hog_is_differentiable(face_crop, binning):
    image = torch.from_numpy(face_crop).float().permute(2, 0, 1)[None].requires_grad_(True)
    HOG(binning=binning)(image).square().sum().backward()
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


def test_flat_image_gives_finite_gradients():
    image = torch.full((1, 3, 16, 16), 0.5, requires_grad=True)
    descriptors = HOG(binning="linear")(image)
    descriptors.sum().backward()
    assert torch.all(descriptors == 0) and torch.isfinite(image.grad).all()


def test_linear_binning_is_close_to_hard_binning(face_crop):
    image = torch.from_numpy(face_crop).permute(2, 0, 1)[None]
    hard, soft = HOG(binning="hard")(image), HOG(binning="linear")(image)
    assert (hard - soft).abs().mean() < 0.5 * hard.mean()
    # summed over orientations both spread the same magnitudes (before normalisation, within a cell)
    torch.testing.assert_close(hard.view(1, 4, 9, 5, 7).sum(2), soft.view(1, 4, 9, 5, 7).sum(2), atol=0.1, rtol=0.2)


def test_block_mask_and_pixel_map_geometry():
    hog = HOG(9, 8, 2)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 30:34, 30:34] = 1.0
    blocks = hog.block_mask(mask)
    assert blocks.shape == (1, 1, 7, 7)
    # pixels 29..34 (hole grown by one) fall in cells 3 and 4: blocks 2..4 in each direction
    assert blocks[0, 0].nonzero().tolist() == [[r, c] for r in range(2, 5) for c in range(2, 5)]
    pixels = hog.to_pixels(torch.arange(49.0).view(1, 1, 7, 7))
    assert pixels.shape == (1, 1, 64, 64)
    assert pixels[0, 0, 8 * 3 + 4, 8 * 5 + 4] == 3 * 7 + 5  # block (3, 5) is centred on pixel (32, 48)
    with pytest.raises(UnmaskError, match="cells"):
        hog(torch.rand(1, 3, 12, 64))
