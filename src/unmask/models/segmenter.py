"""A small U-Net that marks worn face masks and eye censor bars in an aligned face crop (learned detector)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 conv + batch norm + ReLU layers."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class OcclusionSegmenter(nn.Module):
    """U-Net with ``depth`` stride-2 levels; ``forward(image (B,3,H,W) in [0,1]) -> logits (B,1,H,W)``.

    H and W must be multiples of 2**depth. A logit above 0 means the pixel belongs to an occluder.

    Example:
        >>> OcclusionSegmenter(width=4, depth=2)(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 1, 32, 32])
    """

    def __init__(self, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        channels = [width * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList([_block(3, channels[0])])
        self.encoders.extend(_block(channels[i], channels[i + 1]) for i in range(depth))
        self.decoders = nn.ModuleList(_block(channels[i + 1] + channels[i], channels[i]) for i in range(depth))
        self.head = nn.Conv2d(channels[0], 1, 1)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Occluder logits, (B, 1, H, W)."""
        x = (image - self.mean) * 2
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for level in reversed(range(len(self.decoders))):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = self.decoders[level](torch.cat([x, skips[level]], 1))
        return self.head(x)
