"""Band energy loss: the fill must carry as much structure as the real face at each scale, wherever it puts it.

A blur has almost no Laplacian energy, so L1 and LPIPS averaged over every plausible mouth still leave a soft mouth
(detail at 1:4 of a third of the real face's in photo mode, docs/MODELS.md). This loss compares the *log* of the
local Laplacian energy of the fill and of the truth, at full, half and quarter size: under uncertainty its minimum
is the median of the plausible energies, not zero, so a blur pays for every band it leaves empty, and the energy
only has to be in the neighbourhood (a pooling window), not at the same pixel. :func:`hole_energy_loss` compares
the energy of the whole hole instead: the fill must hold as much structure as the real face, wherever it puts it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
FLOOR = 1e-4  # energy (luma in [0, 1], squared Laplacian) below which the log stops falling: flat skin's noise


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of (B, 3, H, W) RGB, in the image's dtype: (B, 1, H, W)."""
    return (image * image.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)


def laplacian(luma: torch.Tensor) -> torch.Tensor:
    """4-neighbour Laplacian of (B, 1, H, W), edges replicated: (B, 1, H, W). The detail ratio of
    :mod:`unmask.eval.realism` and this loss read the same response."""
    return F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="replicate"), luma.new_tensor(LAPLACIAN).view(1, 1, 3, 3))


def inside_hole(hole: torch.Tensor) -> torch.Tensor:
    """A 0/1 hole (B, 1, H, W) shrunk by one pixel, so a 3x3 Laplacian read there sees no pixel outside it."""
    return 1.0 - F.max_pool2d(1.0 - hole, 3, stride=1, padding=1)


def local_band_energy(image: torch.Tensor, levels: int = 3, window: int = 7) -> list[torch.Tensor]:
    """Local mean of the squared luminance Laplacian over ``window`` px at ``levels`` scales (each half the last,
    area-averaged): (B, 3, H, W) in [0, 1] -> [(B, 1, H / 2^k, W / 2^k)]."""
    luma = luminance(image)
    energies = []
    for level in range(levels):
        if level:
            luma = F.avg_pool2d(luma, 2)
        response = laplacian(luma)
        energies.append(F.avg_pool2d(response.square(), window, stride=1, padding=window // 2,
                                     count_include_pad=False))
    return energies


def band_energy_loss(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, levels: int = 3,
                     window: int = 7) -> torch.Tensor:
    """Mean |log(E_fake + FLOOR) - log(E_real + FLOOR)| over the hole at each of ``levels`` scales, averaged over the
    scales: fake and real (B, 3, H, W) in [0, 1], mask (B, 1, H, W) with 1 = hole. Returns a scalar (0 when the
    hole is empty).

    Example:
        >>> real = torch.rand(1, 3, 32, 32)
        >>> mask = torch.ones(1, 1, 32, 32)
        >>> float(band_energy_loss(real, real, mask))
        0.0
    """
    fake_energy = local_band_energy(fake.float(), levels, window)
    real_energy = local_band_energy(real.float(), levels, window)
    hole = mask.float()
    total = fake.new_zeros((), dtype=torch.float32)
    for level, (ours, theirs) in enumerate(zip(fake_energy, real_energy, strict=True)):
        if level:
            hole = F.avg_pool2d(hole, 2)
        weight = (hole > 0.5).float()
        gap = (torch.log(ours + FLOOR) - torch.log(theirs + FLOOR)).abs()
        total = total + (gap * weight).sum() / weight.sum().clamp(min=1.0)
    return total / levels


def hole_energy_loss(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """Mean over samples and ``levels`` scales of |log(M_fake + FLOOR) - log(M_real + FLOOR)|, M the mean squared
    luminance Laplacian over the hole shrunk by one pixel (the detail ratio of :mod:`unmask.eval.realism` reads its
    variance, nearly the same: a Laplacian averages near zero): fake and real (B, 3, H, W) in [0, 1], mask
    (B, 1, H, W) with 1 = hole. Samples without a hole at a scale are left out there; 0 when none has one.

    Per-pixel energy under uncertainty settles on a soft median; the total does not care where the lip line goes,
    only that there is one.
    """
    fake_energy = local_band_energy(fake.float(), levels, window=1)
    real_energy = local_band_energy(real.float(), levels, window=1)
    hole = mask.float()
    total = fake.new_zeros((), dtype=torch.float32)
    for level, (ours, theirs) in enumerate(zip(fake_energy, real_energy, strict=True)):
        if level:
            hole = F.avg_pool2d(hole, 2)
        inner = inside_hole((hole > 0.5).float())
        count = inner.sum(dim=(1, 2, 3))
        present = count > 0
        if not present.any():
            continue
        mean_ours = (ours * inner).sum(dim=(1, 2, 3))[present] / count[present]
        mean_theirs = (theirs * inner).sum(dim=(1, 2, 3))[present] / count[present]
        total = total + (torch.log(mean_ours + FLOOR) - torch.log(mean_theirs + FLOOR)).abs().mean()
    return total / levels
