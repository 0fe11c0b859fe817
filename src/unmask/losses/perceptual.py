"""VGG16 perceptual and style losses on feature maps (the frozen extractor: :class:`unmask.nets.VGG16Features`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

Features = Mapping[str, torch.Tensor]  # feature maps by layer name


def _weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None) -> torch.Tensor:
    """Sum of ``weights[name] * terms[name]`` (weight 1 for every term when ``weights`` is None)."""
    return torch.stack(
        [term * (1.0 if weights is None else weights[name]) for name, term in terms.items()]
    ).sum()


def _layer_sum(distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], pred_features: Features,
               target_features: Features, layer_weights: Mapping[str, float] | None) -> torch.Tensor:
    """Sum over the target's layers of ``distance(pred, target)`` (target detached), weighted per layer. Scalar."""
    return _weighted_sum({name: distance(pred_features[name], target.detach())
                          for name, target in target_features.items()}, layer_weights)


def perceptual_loss(pred_features: Features, target_features: Features,
                    layer_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Sum over layers of the mean L1 distance between features; target features are detached. Scalar."""
    return _layer_sum(lambda pred, target: (pred - target).abs().mean(), pred_features, target_features,
                      layer_weights)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by C*H*W: (B, C, H, W) -> (B, C, C)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def style_loss(pred_features: Features, target_features: Features,
               layer_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Sum over layers of the mean L1 distance between Gram matrices; target features are detached. Scalar."""
    return _layer_sum(lambda pred, target: (gram_matrix(pred) - gram_matrix(target)).abs().mean(), pred_features,
                      target_features, layer_weights)
