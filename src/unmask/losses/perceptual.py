"""VGG16 perceptual and style losses on feature maps (the frozen extractor: :class:`unmask.nets.VGG16Features`)."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def _weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None) -> torch.Tensor:
    """Sum of ``weights[name] * terms[name]`` (weight 1 for every term when ``weights`` is None)."""
    return torch.stack(
        [term * (1.0 if weights is None else weights[name]) for name, term in terms.items()]
    ).sum()


def perceptual_loss(
    pred_features: Mapping[str, torch.Tensor],
    target_features: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Sum over layers of the mean L1 distance between features; target features are detached. Scalar."""
    return _weighted_sum(
        {
            name: (pred_features[name] - target.detach()).abs().mean()
            for name, target in target_features.items()
        },
        layer_weights,
    )


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by C*H*W: (B, C, H, W) -> (B, C, C)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def style_loss(
    pred_features: Mapping[str, torch.Tensor],
    target_features: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Sum over layers of the mean L1 distance between Gram matrices; target features are detached. Scalar."""
    return _weighted_sum(
        {
            name: (gram_matrix(pred_features[name]) - gram_matrix(target.detach())).abs().mean()
            for name, target in target_features.items()
        },
        layer_weights,
    )
