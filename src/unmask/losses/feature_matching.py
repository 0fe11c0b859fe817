"""Discriminator feature matching (pix2pixHD, DMFN)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def feature_matching_loss(
    real_features: Sequence[torch.Tensor], fake_features: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Mean over layers of the L1 distance between fake and (detached) real discriminator features.

    Each pair of features has the same shape (B, C_l, H_l, W_l). Returns a scalar.
    """
    if len(real_features) != len(fake_features) or not real_features:
        raise ValueError(
            f"need matching non-empty feature lists, got {len(real_features)} and {len(fake_features)}"
        )
    losses = [
        (fake - real.detach()).abs().mean() for real, fake in zip(real_features, fake_features, strict=True)
    ]
    return torch.stack(losses).mean()
