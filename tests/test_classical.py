"""Classical baselines: registered, known pixels untouched, smooth holes filled better than zeros."""

import time

import numpy as np
import pytest
import torch

import unmask.models  # noqa: F401  (registers the classical models)
from unmask.models.classical import _dct_features, _patch_matrix
from unmask.models.registry import create_model, list_models

CLASSICAL = ("telea", "ns", "biharmonic", "patchmatch")


def _smooth_image(size: int = 48) -> torch.Tensor:
    """(1, 3, S, S) smooth colour ramps in [0.1, 0.9] with a gentle texture."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    channels = [0.1 + 0.8 * x, 0.1 + 0.8 * y, 0.5 + 0.2 * torch.sin(6 * x) * torch.cos(4 * y)]
    return torch.stack(channels)[None]


def _hole(size: int = 48) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 3 : 2 * size // 3, size // 4 : 3 * size // 4] = 1
    return mask


def test_all_registered() -> None:
    assert set(CLASSICAL) <= set(list_models())


@pytest.mark.parametrize("name", CLASSICAL)
def test_known_pixels_untouched_and_hole_filled(name: str) -> None:
    image, mask = _smooth_image(), _hole()
    batch, masks = image.repeat(2, 1, 1, 1), torch.cat([mask, mask.flip(-1).flip(-2)])
    output = create_model(name)(batch, masks)
    assert output.shape == batch.shape and output.dtype == batch.dtype
    known = masks == 0
    assert torch.equal(
        output.masked_select(known.expand_as(output)), batch.masked_select(known.expand_as(batch))
    )
    error = ((output - batch).abs() * masks).sum() / (3 * masks.sum())
    zeros_error = (batch.abs() * masks).sum() / (3 * masks.sum())
    assert error < 0.1 * zeros_error
    assert 0 <= output.min() and output.max() <= 1


@pytest.mark.parametrize("name", CLASSICAL)
def test_empty_and_full_holes(name: str) -> None:
    model, image = create_model(name), _smooth_image(16)
    assert torch.equal(model(image, torch.zeros(1, 1, 16, 16)), image)
    full = model(image, torch.ones(1, 1, 16, 16))
    assert torch.allclose(full, torch.full_like(full, 128 / 255))


@pytest.mark.parametrize("feature_order", [2, None])  # ranked on DCT features, on full patches
def test_patchmatch_deterministic_and_copies_texture(feature_order: int | None) -> None:
    rng = np.random.default_rng(0)
    tile = rng.random((8, 8, 3)).astype(np.float32)
    image = torch.from_numpy(np.tile(tile, (8, 8, 1))).permute(2, 0, 1)[None]  # periodic texture, 64x64
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:36, 24:40] = 1
    model = create_model("patchmatch", feature_order=feature_order)
    start = time.process_time()  # CPU time: the check must not fail on a busy machine
    first = model(image, mask)
    assert time.process_time() - start < 5
    assert torch.equal(first, model(image, mask))
    patch_error = ((first - image).abs() * mask).sum() / (3 * mask.sum())
    telea_error = ((create_model("telea")(image, mask) - image).abs() * mask).sum() / (3 * mask.sum())
    assert patch_error < 0.5 * telea_error


def test_patchmatch_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="odd"):
        create_model("patchmatch", patch_size=4)
    with pytest.raises(ValueError, match="feature_order"):
        create_model("patchmatch", feature_order=-1)


def test_dct_features_bound_and_keep_patch_distances() -> None:
    image = np.random.default_rng(2).random((9, 11, 3)).astype(np.float32)
    patches = _patch_matrix(image, 1)
    exact = ((patches[:, None] - patches[None]) ** 2).sum(-1)
    for order, count in ((2, 8), (6, 27)):  # order 6 keeps every coefficient of a 3x3 patch
        features = _dct_features(image, 1, order)
        assert features.shape == (99, count)
        approximate = ((features[:, None] - features[None]) ** 2).sum(-1)
        assert np.all(approximate <= exact + 1e-4)
    np.testing.assert_allclose(approximate, exact, atol=1e-4)
