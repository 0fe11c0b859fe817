"""DMFN's self-guided regression loss (Hui et al. 2020): feature errors weighted by where the image is wrong."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


def error_guidance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel squared error averaged over channels, divided by each image's maximum (detached).

    (B, C, H, W) x2 -> (B, 1, H, W) in [0, 1]; all zeros for a perfect prediction.
    """
    error = (pred.detach() - target.detach()).square().mean(dim=1, keepdim=True)
    return error / error.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)


def self_guided_loss(
    pred_features: Mapping[str, torch.Tensor],
    target_features: Mapping[str, torch.Tensor],
    guidance: torch.Tensor,
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """``sum_l w_l * mean(|F_l(pred) - F_l(target)| * (1 + G_l))``; target features are detached. Scalar.

    ``guidance`` (B, 1, H, W) comes from :func:`error_guidance` and is average-pooled to each layer's size
    (``G_l``); features are (B, C_l, H_l, W_l) with ``H`` divisible by ``H_l``. The layers are the keys of
    ``layer_weights`` (DMFN: relu1_1 and relu2_1 with weights 1e3 / C_l^2).
    """
    terms = []
    for name, weight in layer_weights.items():
        pred, target = pred_features[name], target_features[name].detach()
        factor = guidance.shape[-1] // pred.shape[-1]
        pooled = F.avg_pool2d(guidance, factor) if factor > 1 else guidance
        terms.append(weight * ((pred - target).abs() * (1.0 + pooled)).mean())
    return torch.stack(terms).sum()
