"""Band and hole energy losses: zero for the truth itself, large for a blur or a flat fill, and they only read the
hole; the hole energy does not care where the structure lies."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unmask.losses import band_energy_loss, hole_energy_loss
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


def test_hole_energy_is_blind_to_where_the_structure_lies() -> None:
    """The truth shifted inside the hole costs nothing in hole energy (but does in band energy); a blur pays."""
    torch.manual_seed(2)
    real, mask = torch.rand(2, 3, 64, 64), _hole()
    moved = real.clone()
    moved[..., 16:48, 16:48] = real[..., 16:48, 16:48].flip(-1)  # the same texture, mirrored inside the hole
    blur = F.avg_pool2d(real, 5, stride=1, padding=2)
    assert hole_energy_loss(real, real, mask).item() == 0.0
    assert hole_energy_loss(moved, real, mask).item() < 0.1 < band_energy_loss(moved, real, mask).item()
    assert hole_energy_loss(blur, real, mask).item() > 1.0


def test_hole_energy_skips_samples_without_a_hole() -> None:
    """A sample whose hole vanishes at a scale is left out; no hole at all costs 0 and yields no NaN."""
    real = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    assert hole_energy_loss(real * 0.5, real, mask).item() == 0.0
    mask[0, :, 8:24, 8:24] = 1.0
    fake = (real * 0.5).requires_grad_()
    loss = hole_energy_loss(fake, real, mask)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0.5 and fake.grad[1].abs().sum() == 0
