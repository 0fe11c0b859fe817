"""Per-image quality metrics on the tensor contract, over the whole image and over the hole only.

Images are (B, 3, H, W) float RGB in [0, 1]; masks are (B, 1, H, W) float with 1 = hole. Every per-image
metric returns a (B,) float64 tensor. ``VGGFeatures`` gives an LPIPS-style (uncalibrated) distance and the
pooled features for a Fréchet distance; both need the offline VGG16 weights file.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

from unmask.errors import UnmaskError
from unmask.nets.vgg import VGG16Features

PSNR_CAP_DB = 100.0  # a perfect reconstruction (infinite PSNR) is reported as this cap, so means stay finite
GMSD_CONSTANT = 170.0 / 255.0**2  # Xue et al. 2014 use c = 170 for images in [0, 255]
VGG_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
METRIC_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


def _hole_weights(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """Binary weights (B, 1, H, W): the hole when a mask is given, else every pixel."""
    if mask is None:
        return torch.ones_like(like[:, :1], dtype=torch.float64)
    return (mask > 0.5).to(torch.float64)


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of values (B, C, H, W) where weights (B, 1, H, W) = 1 -> (B,); NaN for an empty region."""
    values = values.to(torch.float64)
    total = (values * weights).sum(dim=(1, 2, 3))
    count = weights.sum(dim=(1, 2, 3)) * values.shape[1]
    return total / count


def l1_percent(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error in % of the [0, 1] range, (B, 3, H, W) x2 [+ hole mask (B, 1, H, W)] -> (B,)."""
    return 100.0 * _masked_mean((pred - target).abs(), _hole_weights(mask, pred))


def psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """PSNR in dB for data range 1, MSE over all pixels or over hole pixels only -> (B,), capped at 100 dB."""
    mse = _masked_mean((pred - target).square(), _hole_weights(mask, pred))
    value = 10.0 * torch.log10(1.0 / mse)
    return value.clamp(max=PSNR_CAP_DB)


def ssim_map(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM map (B, 1, H, W), averaged over colour channels (torchmetrics, Gaussian window 11, sigma 1.5).

    Sigma shrinks for images under 7 px so that the window's reflect padding fits.
    """
    sigma = min(1.5, (min(pred.shape[-2:]) - 1.5) / 3.5)
    _, full = structural_similarity_index_measure(
        pred.float(), target.float(), sigma=sigma, data_range=1.0, reduction="none", return_full_image=True
    )
    return full.mean(dim=1, keepdim=True)


def map_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of a quality map (B, 1, H, W) over the whole image or over the hole (B, 1, H, W) -> (B,)."""
    return _masked_mean(values, _hole_weights(mask, values))


def ssim(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """SSIM -> (B,): the mean of the SSIM map over the whole image, or over the hole pixels only."""
    return map_mean(ssim_map(pred, target), mask)


def gms_map(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude similarity map (B, 1, H/2, W/2) of Xue et al. 2014, weight-free.

    Luminance (BT.601) is 2x2 average-pooled, Prewitt gradients give magnitudes m1, m2, and
    GMS = (2 m1 m2 + c) / (m1^2 + m2^2 + c).
    """
    coefficients = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    prewitt = torch.tensor([[1.0, 0.0, -1.0]] * 3) / 3.0
    kernels = torch.stack([prewitt, prewitt.T])[:, None]

    def magnitude(image: torch.Tensor) -> torch.Tensor:
        luminance = F.avg_pool2d((image.float() * coefficients).sum(1, keepdim=True), 2)
        gradients = F.conv2d(F.pad(luminance, (1, 1, 1, 1), mode="replicate"), kernels)
        return gradients.square().sum(1, keepdim=True).sqrt()

    first, second = magnitude(pred), magnitude(target)
    return (2 * first * second + GMSD_CONSTANT) / (first.square() + second.square() + GMSD_CONSTANT)


def gmsd_from_map(similarity: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Standard deviation of a GMS map (B, 1, h, w) over the image, or over the 2x2-pooled hole -> (B,)."""
    weights = _hole_weights(None if mask is None else F.max_pool2d(mask.float(), 2), similarity)
    mean = _masked_mean(similarity, weights)
    variance = _masked_mean((similarity.double() - mean.view(-1, 1, 1, 1)).square(), weights)
    return variance.sqrt()


def gmsd(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient magnitude similarity deviation (B,), lower is better: the spread of ``gms_map`` over the
    image, or over the pooled pixels that touch the hole."""
    return gmsd_from_map(gms_map(pred, target), mask)


class VGGFeatures(nn.Module):
    """VGG16 features for metrics, from the offline Keras/Caffe ImageNet weights at ``path`` (never downloaded).

    Wraps :class:`unmask.nets.VGG16Features` (same layout and Caffe preprocessing) and adds pool5.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        if not os.path.isfile(path):
            raise UnmaskError(f"{path}: VGG16 weights file not found")
        self.vgg = VGG16Features(path, layers=METRIC_LAYERS)

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """image (B, 3, H, W) in [0, 1] -> ([relu1_2 .. relu5_3 maps], pool5 global average (B, 512))."""
        maps = self.vgg(image.float())
        pool5 = F.max_pool2d(maps["relu5_3"], 2) if min(maps["relu5_3"].shape[-2:]) >= 2 else maps["relu5_3"]
        return [maps[name] for name in METRIC_LAYERS], pool5.mean(dim=(2, 3))


def vgg_perceptual(first: list[torch.Tensor], second: list[torch.Tensor]) -> torch.Tensor:
    """LPIPS-style (uncalibrated) distance from two lists of VGG maps (B, C_l, H_l, W_l) -> (B,).

    Channels are unit-normalised per position; squared differences are summed over channels, averaged over
    space, and the five layers get equal weight (no learned linear heads, so this is not LPIPS).
    """
    total = torch.zeros(first[0].shape[0], dtype=torch.float64)
    for a, b in zip(first, second, strict=True):
        a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
        b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
        total += (a - b).square().sum(dim=1).mean(dim=(1, 2)).double().cpu()
    return total / len(first)


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N1, D) and (N2, D); needs N >= 2 each.

    ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), as in FID. With S1 = A^T A and S2 = B^T B (A, B the centred
    features over sqrt(N - 1)), Tr sqrt(S1 S2) is the sum of the singular values of A B^T (N1 x N2), exactly; when
    D is the smaller side it is taken from the eigenvalues of S1^1/2 S2 S1^1/2 (D x D) instead. Both are symmetric
    problems, solved in seconds where ``scipy.linalg.sqrtm`` of the 2048² product took minutes.
    """
    if len(first) < 2 or len(second) < 2:
        raise ValueError("the Fréchet distance needs at least two feature vectors per set")
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    mean_difference = first.mean(0) - second.mean(0)
    a = (first - first.mean(0)) / np.sqrt(len(first) - 1)
    b = (second - second.mean(0)) / np.sqrt(len(second) - 1)
    if len(first) * len(second) <= first.shape[1] ** 2:
        root_trace = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    else:
        values, vectors = np.linalg.eigh(a.T @ a)
        half = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
        root_trace = np.sqrt(np.clip(np.linalg.eigvalsh(half @ (b.T @ b) @ half), 0, None)).sum()
    value = mean_difference @ mean_difference + (a * a).sum() + (b * b).sum() - 2.0 * root_trace
    return float(max(value, 0.0))
