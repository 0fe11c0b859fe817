"""SN-PatchGAN discriminator (Yu et al. 2019): six strided 5x5 convs, spectral norm on every layer."""

from __future__ import annotations

import torch
import torch.nn as nn
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
        x = torch.cat([image * 2.0 - 1.0, mask], dim=1)
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        logits = x.flatten(1)
        if return_features:
            return logits, features
        return logits
