"""DMFN's geometric alignment constraint (Hui et al. 2020): match the centroids of deep feature responses."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def feature_centroids(features: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Centre of mass of every channel's (non-negative) response: (B, C, H, W) -> (B, C, 2) as (x, y) in [-1, 1].

    Example:
        >>> response = torch.zeros(1, 1, 4, 4); response[0, 0, 0, 3] = 1.0
        >>> feature_centroids(response)
        tensor([[[ 0.7500, -0.7500]]])
    """
    height, width = features.shape[-2:]
    weights = features + eps
    weights = weights / weights.sum(dim=(2, 3), keepdim=True)
    ys = (torch.arange(height, dtype=features.dtype, device=features.device) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, dtype=features.dtype, device=features.device) + 0.5) / width * 2 - 1
    x_centre = (weights.sum(dim=2) * xs).sum(dim=-1)
    y_centre = (weights.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x_centre, y_centre], dim=-1)


def geometric_alignment_loss(pred_features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between per-channel centroids; target detached. (B, C, H, W) x2 -> scalar.

    DMFN applies it to VGG relu4_1 features.
    """
    return F.mse_loss(feature_centroids(pred_features), feature_centroids(target_features.detach()))
