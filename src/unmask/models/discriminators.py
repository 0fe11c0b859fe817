"""Discriminators: SN-PatchGAN (Yu et al. 2019; six strided 5x5 convs, spectral norm on every layer) and DMFN's
global + local pair built from it."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm


class SNPatchGAN(nn.Module):
    """Fully-convolutional patch discriminator; every output element judges one receptive-field patch.

    Input: image (B, 3, H, W) in [0, 1] and mask (B, 1, H, W) with 1 = hole (``in_channels`` counts both).
    Output: logits (B, N), the flattened patch map, ``N = 4 * cnum * (H / 64) * (W / 64)``; the six
    layers have ``cnum, 2*cnum, 4*cnum, 4*cnum, 4*cnum, 4*cnum`` channels; every layer, the last included, is
    followed by LeakyReLU(0.2) as in the reference implementation.
    """

    def __init__(self, in_channels: int = 4, cnum: int = 64) -> None:
        super().__init__()
        widths = [cnum, 2 * cnum, 4 * cnum, 4 * cnum, 4 * cnum, 4 * cnum]
        layers = []
        channels = in_channels
        for width in widths:
            layers.append(
                nn.Sequential(
                    spectral_norm(nn.Conv2d(channels, width, 5, stride=2, padding=2)),
                    nn.LeakyReLU(0.2),
                )
            )
            channels = width
        self.layers = nn.ModuleList(layers)

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """(B,3,H,W), (B,1,H,W) -> logits (B, N); with ``return_features`` also the six layer outputs."""
        x, features = _layer_outputs(self.layers, image, mask)
        logits = x.flatten(1)
        return (logits, features) if return_features else logits


def _layer_outputs(layers: nn.ModuleList, image: torch.Tensor,
                   mask: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run (image in [-1, 1], mask) through ``layers``: the last output and every layer's output."""
    x = torch.cat([image * 2.0 - 1.0, mask], dim=1)
    features = []
    for layer in layers:
        x = layer(x)
        features.append(x)
    return x, features


def hole_boxes(mask: torch.Tensor, min_fraction: float = 0.25, margin: float = 0.0) -> torch.Tensor:
    """Square boxes around each hole, ``(y0, x0, side)`` in pixels: (B, 1, H, W) -> (B, 3) float.

    The side is the hole's larger extent grown by ``margin`` of it on each side (rounded to whole pixels), at least
    ``min_fraction`` of the image and at most its shorter side; the box is centred on the hole and shifted to lie
    inside the image. An empty mask gives the whole image (its shorter side).
    """
    height, width = mask.shape[-2:]
    rows, cols = mask.amax(dim=(1, 3)) > 0.5, mask.amax(dim=(1, 2)) > 0.5
    row_index = torch.arange(height, device=mask.device).expand_as(rows)
    col_index = torch.arange(width, device=mask.device).expand_as(cols)
    y0 = torch.where(rows, row_index, height).amin(1).float()
    y1 = torch.where(rows, row_index + 1, 0).amax(1).float()
    x0 = torch.where(cols, col_index, width).amin(1).float()
    x1 = torch.where(cols, col_index + 1, 0).amax(1).float()
    empty = ~rows.any(1)
    y0, x0 = torch.where(empty, 0.0, y0), torch.where(empty, 0.0, x0)
    y1, x1 = torch.where(empty, float(height), y1), torch.where(empty, float(width), x1)
    shortest = float(min(height, width))
    grown = (torch.maximum(y1 - y0, x1 - x0).double() * (1 + 2 * margin)).round().float()
    side = grown.clamp(min_fraction * shortest, shortest)
    top = ((y0 + y1 - side) / 2).clamp(torch.zeros_like(side), height - side)
    left = ((x0 + x1 - side) / 2).clamp(torch.zeros_like(side), width - side)
    return torch.stack([top, left, side], dim=1)


def crop_boxes(x: torch.Tensor, boxes: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """Differentiable crops of square ``boxes`` (B, 3) = (y0, x0, side), resized: (B,C,H,W) -> (B,C,size,size)."""
    height, width = x.shape[-2:]
    top, left, side = boxes.unbind(1)
    theta = torch.zeros(len(x), 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = side / width
    theta[:, 0, 2] = (2 * left + side) / width - 1
    theta[:, 1, 1] = side / height
    theta[:, 1, 2] = (2 * top + side) / height - 1
    grid = F.affine_grid(theta, [len(x), x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode=mode, align_corners=False)


class GlobalLocalDiscriminator(nn.Module):
    """DMFN's discriminator: a global branch on the whole image and a local branch on the hole.

    Each branch is an :class:`SNPatchGAN`. The local branch sees a square crop around the hole's bounding box
    (:func:`hole_boxes`, the same box for real and fake images), resized to ``local_fraction`` of the image
    side. Input image (B, 3, H, W) in [0, 1] and mask (B, 1, H, W), 1 = hole. Output: the two branches' patch
    logits ``[global (B, N_g), local (B, N_l)]`` (DMFN's RaGAN is applied per branch); with
    ``return_features`` also both branches' layer outputs, global first.
    """

    def __init__(self, in_channels: int = 4, cnum: int = 64, local_fraction: float = 0.5) -> None:
        super().__init__()
        self.global_branch = SNPatchGAN(in_channels, cnum)
        self.local_branch = SNPatchGAN(in_channels, cnum)
        self.local_fraction = local_fraction

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, return_features: bool = False
    ) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(B,3,H,W), (B,1,H,W) -> [global logits, local logits] (+ the features of both branches)."""
        size = max(8, round(self.local_fraction * min(image.shape[-2:])))
        boxes = hole_boxes(mask)
        crop, crop_mask = crop_boxes(image, boxes, size), crop_boxes(mask, boxes, size, mode="nearest")
        global_logits, global_features = self.global_branch(image, mask, return_features=True)
        local_logits, local_features = self.local_branch(crop, crop_mask, return_features=True)
        logits = [global_logits, local_logits]
        if return_features:
            return logits, global_features + local_features
        return logits


class PatchDiscriminator(nn.Module):
    """pix2pix's N-layer PatchGAN with spectral norm instead of batch norm: a texture judge.

    ``layers`` stride-2 4x4 convs (``cnum``, doubling up to ``8 * cnum``), one stride-1 conv of the same width and a
    stride-1 conv to one logit per patch; LeakyReLU(0.2) between. With three strided layers every logit sees a
    70x70 patch. Input: image (B, 3, H, W) in [0, 1] and mask (B, 1, H, W) with 1 = hole. Output: logits (B, N);
    with ``return_features`` also the hidden layers' outputs (for discriminator feature matching).
    """

    def __init__(self, in_channels: int = 4, cnum: int = 64, layers: int = 3) -> None:
        super().__init__()
        widths = [cnum * min(2**index, 8) for index in range(layers + 1)]
        strides = [2] * layers + [1]
        blocks, channels = [], in_channels
        for width, stride in zip(widths, strides, strict=True):
            blocks.append(nn.Sequential(spectral_norm(nn.Conv2d(channels, width, 4, stride, 1)), nn.LeakyReLU(0.2)))
            channels = width
        self.layers = nn.ModuleList(blocks)
        self.head = spectral_norm(nn.Conv2d(channels, 1, 4, 1, 1))

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """(B,3,H,W), (B,1,H,W) -> logits (B, N); with ``return_features`` also the hidden layer outputs."""
        x, features = _layer_outputs(self.layers, image, mask)
        logits = self.head(x).flatten(1)
        return (logits, features) if return_features else logits
