"""Pixel losses."""

from __future__ import annotations

import torch


def masked_l1(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    hole_weight: float = 1.0,
    valid_weight: float = 1.0,
) -> torch.Tensor:
    """L1 with separate weights inside (mask = 1) and outside the hole, averaged over every pixel and channel.

    Shapes: pred and target (B, C, H, W), mask (B, 1, H, W) with 1 = hole. Returns a scalar.

    Example:
        >>> mask = torch.tensor([[[[1.0, 0.0]]]])
        >>> masked_l1(torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1, 2), mask, hole_weight=6.0)
        tensor(3.5000)
    """
    weight = hole_weight * mask + valid_weight * (1.0 - mask)
    return ((pred - target).abs() * weight).mean()
