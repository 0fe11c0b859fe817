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


def _relativistic(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_target: float) -> torch.Tensor:
    """``BCE(D(real) - mean D(fake), real_target) + BCE(D(fake) - mean D(real), 1 - real_target)``, means taken over
    every element; logits (B, ...) -> scalar."""
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return (F.binary_cross_entropy_with_logits(real_rel, torch.full_like(real_rel, real_target))
            + F.binary_cross_entropy_with_logits(fake_rel, torch.full_like(fake_rel, 1.0 - real_target)))


def ragan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic average discriminator loss (DMFN, ESRGAN): ``BCE(D(real) - mean D(fake), 1) + BCE(D(fake) -
    mean D(real), 0)``; logits (B, ...) -> scalar."""
    return _relativistic(real_logits, fake_logits, 1.0)


def ragan_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic average generator loss: the targets swapped, ``real_logits`` detached; logits (B, ...) ->
    scalar."""
    return _relativistic(real_logits.detach(), fake_logits, 0.0)


def nsgan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Standard GAN discriminator loss ``BCE(D(real), 1) + BCE(D(fake), 0)``; logits (B, ...) -> scalar."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def nsgan_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``BCE(D(fake), 1)`` (EdgeConnect); logits (B, ...) -> scalar."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
