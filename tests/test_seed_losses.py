"""The losses the seed models add: total variation, self-guided regression, geometric alignment, non-saturating GAN."""

import math

import torch

from unmask.losses import (
    error_guidance,
    feature_centroids,
    geometric_alignment_loss,
    nsgan_d_loss,
    nsgan_g_loss,
    self_guided_loss,
    total_variation_loss,
)


def test_total_variation_only_counts_pairs_inside_the_grown_hole():
    image = torch.zeros(1, 1, 8, 8)
    image[..., :, 4:] = 1.0  # a vertical edge between columns 3 and 4
    mask = torch.zeros(1, 1, 8, 8)
    assert total_variation_loss(image, mask) == 0
    mask[..., 2, 1] = 1.0  # grown region: rows 1..3, columns 0..2 -> no pair crosses the edge
    assert total_variation_loss(image, mask) == 0
    mask[..., 2, 2] = 1.0  # grown region: columns 0..3 -> column 4 is still outside
    assert total_variation_loss(image, mask) == 0
    mask[..., 2, 3] = 1.0  # columns 0..4: the pairs of rows 1..3 cross the edge
    assert math.isclose(total_variation_loss(image, mask).item(), 3 / 64)


def test_error_guidance_is_normalised_and_detached():
    target = torch.zeros(2, 3, 4, 4)
    pred = target.clone().requires_grad_(True)
    guidance = error_guidance(pred + torch.arange(16.0).view(1, 1, 4, 4), target)
    assert guidance.shape == (2, 1, 4, 4) and not guidance.requires_grad
    assert guidance.amax(dim=(2, 3)).eq(1).all() and guidance.min() == 0
    assert torch.all(error_guidance(target, target) == 0)


def test_self_guided_loss_weights_errors_by_guidance():
    target = {"a": torch.zeros(1, 2, 4, 4), "b": torch.zeros(1, 4, 2, 2)}
    pred = {"a": torch.ones(1, 2, 4, 4), "b": torch.ones(1, 4, 2, 2)}
    flat = torch.zeros(1, 1, 8, 8)
    assert self_guided_loss(pred, target, flat, {"a": 1.0, "b": 0.5}).item() == 1.5
    doubled = self_guided_loss(pred, target, torch.ones(1, 1, 8, 8), {"a": 1.0, "b": 0.5})
    assert doubled.item() == 3.0  # guidance 1 everywhere doubles every error
    assert self_guided_loss(target, target, flat, {"a": 1.0}).item() == 0


def test_centroids_and_alignment_loss():
    features = torch.zeros(1, 2, 4, 4)
    features[0, 0, 0, 0] = 1.0  # top-left pixel centre: (-0.75, -0.75)
    features[0, 1, 3, 1:3] = 1.0  # bottom row, middle: (0, 0.75)
    torch.testing.assert_close(feature_centroids(features), torch.tensor([[[-0.75, -0.75], [0.0, 0.75]]]))
    shifted = features.roll(1, dims=3)  # one pixel right: x + 0.5
    assert math.isclose(geometric_alignment_loss(shifted, features).item(), 0.25 / 2, rel_tol=1e-5)
    assert geometric_alignment_loss(features, features).item() < 1e-12


def test_nsgan_losses_by_hand():
    zeros = torch.zeros(4)
    assert math.isclose(nsgan_d_loss(zeros, zeros).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(nsgan_g_loss(zeros).item(), math.log(2), rel_tol=1e-6)
    assert nsgan_g_loss(torch.full((4,), 10.0)) < 1e-4
