"""Adversarial losses on discriminator logits of any shape: hinge (SN-PatchGAN), RaGAN and non-saturating GAN."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``; (B, ...) -> scalar."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss ``-mean(D(fake))``; logits (B, ...) -> scalar."""
    return -fake_logits.mean()


def ragan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic average discriminator loss (DMFN, ESRGAN); logits (B, ...) -> scalar.

    ``BCE(D(real) - mean D(fake), 1) + BCE(D(fake) - mean D(real), 0)``, means taken over every element.
    """
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return F.binary_cross_entropy_with_logits(
        real_rel, torch.ones_like(real_rel)
    ) + F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel))


def ragan_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic average generator loss; logits (B, ...) -> scalar. ``real_logits`` is detached.

    ``BCE(D(real) - mean D(fake), 0) + BCE(D(fake) - mean D(real), 1)``.
    """
    real_logits = real_logits.detach()
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return F.binary_cross_entropy_with_logits(
        real_rel, torch.zeros_like(real_rel)
    ) + F.binary_cross_entropy_with_logits(fake_rel, torch.ones_like(fake_rel))


def nsgan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Standard GAN discriminator loss ``BCE(D(real), 1) + BCE(D(fake), 0)``; logits (B, ...) -> scalar."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def nsgan_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``BCE(D(fake), 1)`` (EdgeConnect, seed 001); logits (B, ...) -> scalar."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
