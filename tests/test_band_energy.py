"""Band energy loss: zero for the truth itself, large for a blur or a flat fill, and it only reads the hole."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unmask.losses import band_energy_loss
from unmask.losses.band_energy import local_band_energy


def _hole(start: int = 16, stop: int = 48) -> torch.Tensor:
    mask = torch.zeros(2, 1, 64, 64)
    mask[..., start:stop, start:stop] = 1.0
    return mask


def test_a_blur_pays_and_the_truth_does_not() -> None:
    """The truth scores 0; a 5x5 box blur of it scores more, a flat colour more still."""
    torch.manual_seed(0)
    real, mask = torch.rand(2, 3, 64, 64), _hole()
    blur = F.avg_pool2d(real, 5, stride=1, padding=2)
    flat = real.mean((2, 3), keepdim=True).expand_as(real)
    assert band_energy_loss(real, real, mask).item() == 0.0
    assert 1.0 < band_energy_loss(blur, real, mask).item() < band_energy_loss(flat, real, mask).item()


def test_only_the_hole_counts() -> None:
    """A fill that differs from the truth only outside the hole's pooling reach costs nothing."""
    torch.manual_seed(1)
    real, mask = torch.rand(2, 3, 64, 64), _hole(24, 40)
    fake = real.clone()
    fake[..., :4, :] = 0.5  # beyond the Laplacian's and the window's reach of the hole at every scale
    assert band_energy_loss(fake, real, mask).item() == 0.0


def test_energy_levels_halve_and_gradients_flow() -> None:
    """Three levels at full, half and quarter size; the loss has a gradient towards the truth's energy."""
    energies = local_band_energy(torch.rand(1, 3, 32, 32))
    assert [tuple(e.shape[-2:]) for e in energies] == [(32, 32), (16, 16), (8, 8)]
    real, mask = torch.rand(2, 3, 64, 64), _hole()
    fake = F.avg_pool2d(real, 3, stride=1, padding=1).requires_grad_()
    band_energy_loss(fake, real, mask).backward()
    assert fake.grad is not None and fake.grad[..., 16:48, 16:48].abs().sum() > 0
