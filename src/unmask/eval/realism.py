"""Realism measures of a fill: detail (Laplacian energy) ratios, crops around the hole, KID.

PSNR rewards the average of every plausible face, which is a blur; these measure what a viewer sees instead.
Images are (B, 3, H, W) float RGB in [0, 1], masks (B, 1, H, W) with 1 = hole.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from unmask.losses.band_energy import inside_hole, laplacian, luminance
from unmask.models.discriminators import hole_boxes


def laplacian_energy(image: torch.Tensor, mask: torch.Tensor, scale: int = 1) -> torch.Tensor:
    """Variance of the luminance Laplacian inside the hole, at 1/``scale`` resolution: (B,3,H,W), (B,1,H,W) -> (B,).

    The image is area-downsampled by ``scale`` first; the hole is shrunk by one pixel so the Laplacian never reads
    a pixel outside it. NaN where no hole pixel is left.
    """
    luma = luminance(image.double())
    hole = (mask > 0.5).double()
    if scale > 1:
        luma = F.avg_pool2d(luma, scale)
        hole = (F.avg_pool2d(hole, scale) > 0.5).double()
    response = laplacian(luma)
    inner = inside_hole(hole)
    count = inner.sum(dim=(1, 2, 3))
    mean = (response * inner).sum(dim=(1, 2, 3)) / count
    return ((response - mean.view(-1, 1, 1, 1)).square() * inner).sum(dim=(1, 2, 3)) / count


def detail_ratio(output_energy: list[float], truth_energy: list[float]) -> float | None:
    """Texture kept by a set of fills: mean Laplacian energy of the outputs over that of the truths (1 = as much
    fine detail as the real faces, 0 = flat). Pairs with a NaN are left out; None when none is left."""
    pairs = [(out, true) for out, true in zip(output_energy, truth_energy, strict=True)
             if np.isfinite(out) and np.isfinite(true)]
    if not pairs:
        return None
    outputs, truths = zip(*pairs, strict=True)
    return float(np.mean(outputs) / max(np.mean(truths), 1e-12))


def hole_box(mask: np.ndarray, margin: float = 0.15) -> tuple[int, int, int]:
    """Square box ``(top, left, side)`` around a hole (H, W) mask, grown by ``margin`` of its side, inside the image
    (:func:`unmask.models.discriminators.hole_boxes` of one mask, in whole pixels)."""
    hole = torch.from_numpy(np.asarray(mask) != 0).float()[None, None]
    top, left, side = hole_boxes(hole, min_fraction=0.0, margin=margin)[0].floor().int().tolist()
    return top, left, side


def crop_square(image: torch.Tensor, box: tuple[int, int, int], size: int) -> torch.Tensor:
    """The box of (B, C, H, W) resized to (B, C, size, size) with antialiasing (bilinear)."""
    top, left, side = box
    crop = image[..., top:top + side, left:left + side].float()
    if side == size:
        return crop
    return F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 50, subset_size: int = 100,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): mean and std over random subsets of the unbiased MMD²
    with the cubic polynomial kernel ``(x·y / d + 1)^3``. Features (N, d) each; the subset is at most the smaller N.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least two feature vectors per set")
    rng = np.random.default_rng(seed)
    dimension = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        k_xx, k_yy, k_xy = ((a @ b.T / dimension + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off_diagonal = size * (size - 1)
        values.append((k_xx.sum() - np.trace(k_xx)) / off_diagonal + (k_yy.sum() - np.trace(k_yy)) / off_diagonal
                      - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))
