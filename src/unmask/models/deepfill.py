"""DeepFill v2 generator (Yu et al. 2019, "Free-Form Image Inpainting with Gated Convolution"), no sketch.

Coarse net: gated convs (two stride-2 downsamplings), four dilated gated convs (rates 2, 4, 8, 16), gated
deconvs back to full resolution, tanh. Refinement net: a dilated gated-conv branch and a contextual-attention
branch at 1/4 resolution, concatenated and decoded with gated deconvs. ``cnum`` sets the widths; as in the
common PyTorch ports, feature maps have ``cnum // 2``, ``cnum``, ``2 * cnum`` channels (each gated conv
computes twice that many before gating), so ``cnum=48`` is the paper model (about 4 M parameters).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models.layers import ContextualAttention, GatedConv2d, GatedDeconv2d
from unmask.models.registry import check_size, register_model


def _stage_input(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Stage input: the [-1, 1] image, a ones channel and the mask: (B,3,H,W), (B,1,H,W) -> (B,5,H,W)."""
    return torch.cat([image, torch.ones_like(mask), mask], dim=1)


def _encoder(widths: tuple[int, ...], last_activation: str = "elu") -> list[nn.Module]:
    """Gated convs from the 5-channel stage input through ``widths`` output channels: 5x5 first, then 3x3; the
    second and fourth halve H and W; the last one ends in ``last_activation``."""
    return [GatedConv2d(c_in, c_out, 5 if i == 0 else 3, stride=2 if i in (1, 3) else 1,
                        activation=last_activation if i == len(widths) - 1 else "elu")
            for i, (c_in, c_out) in enumerate(zip((5, *widths[:-1]), widths, strict=True))]


def _dilated_block(channels: int) -> list[nn.Module]:
    """Four 3x3 gated convs with dilation 2, 4, 8, 16 keeping ``channels``."""
    return [GatedConv2d(channels, channels, 3, dilation=rate) for rate in (2, 4, 8, 16)]


def _decoder(in_channels: int, cnum: int) -> nn.Sequential:
    """Gated deconvs from 1/4 resolution back to full, ending in a plain 3-channel conv and tanh."""
    return nn.Sequential(
        GatedConv2d(in_channels, 2 * cnum, 3),
        GatedConv2d(2 * cnum, 2 * cnum, 3),
        GatedDeconv2d(2 * cnum, cnum),
        GatedConv2d(cnum, cnum, 3),
        GatedDeconv2d(cnum, cnum // 2),
        GatedConv2d(cnum // 2, cnum // 4, 3),
        nn.Conv2d(cnum // 4, 3, 3, padding=1),
        nn.Tanh(),
    )


class DeepFillV2Generator(nn.Module):
    """Coarse-to-fine gated-convolution generator with contextual attention.

    ``forward(image, mask)`` returns the refined result composited into the known pixels;
    ``forward_train(image, mask)`` returns the raw coarse and refined outputs for the losses.
    Images (B, 3, H, W) RGB in [0, 1], masks (B, 1, H, W) with 1 = hole; H and W must be multiples of 8
    (pad outside the model). ``in_size`` is the square resolution the model is trained at; the network itself
    is fully convolutional. ``cnum`` must be a multiple of 4.
    """

    size_multiple = 8  # H and W must be multiples of this (checked by unmask.models.registry.check_size)

    def __init__(self, cnum: int = 48, in_size: int = 256) -> None:
        super().__init__()
        if cnum < 4 or cnum % 4:
            raise UnmaskError(f"cnum must be a positive multiple of 4, got {cnum}")
        if in_size % 8:
            raise UnmaskError(f"in_size must be a multiple of 8, got {in_size}")
        self.cnum, self.in_size = cnum, in_size
        half, c2 = cnum // 2, 2 * cnum

        self.coarse = nn.Sequential(*_encoder((half, cnum, cnum, c2, c2, c2)), *_dilated_block(c2), _decoder(c2, cnum))
        self.refine_dilated = nn.Sequential(*_encoder((half, half, cnum, cnum, c2, c2)), *_dilated_block(c2))
        self.refine_attention_encoder = nn.Sequential(*_encoder((half, half, cnum, c2, c2, c2), "relu"))
        self.contextual_attention = ContextualAttention(rate=2, softmax_scale=10.0, fuse=True)
        self.refine_attention_decoder = nn.Sequential(GatedConv2d(c2, c2, 3), GatedConv2d(c2, c2, 3))
        self.refine_decoder = _decoder(2 * c2, cnum)

    def forward_train(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (not composited) coarse and refined outputs: (B,3,H,W), (B,1,H,W) -> 2 x (B,3,H,W) in [0,1]."""
        check_size("DeepFill", image, self.size_multiple)
        x = image * 2.0 - 1.0
        coarse = self.coarse(_stage_input(x * (1.0 - mask), mask))

        x_now = _stage_input(coarse * mask + x * (1.0 - mask), mask)
        dilated = self.refine_dilated(x_now)
        features = self.refine_attention_encoder(x_now)
        mask_small = nn.functional.max_pool2d(mask, 4)
        attended = self.refine_attention_decoder(self.contextual_attention(features, features, mask_small))
        refined = self.refine_decoder(torch.cat([dilated, attended], dim=1))
        return (coarse + 1.0) * 0.5, (refined + 1.0) * 0.5

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Inpaint: (B,3,H,W) in [0, 1], (B,1,H,W) with 1 = hole -> (B,3,H,W), known pixels kept as given."""
        _, refined = self.forward_train(image, mask)
        return mask * refined + (1.0 - mask) * image


@register_model("deepfill")
def deepfill(cnum: int = 48, in_size: int = 256) -> DeepFillV2Generator:
    """DeepFill v2 generator; paper model ``cnum=48, in_size=256``, CPU model ``cnum=16, in_size=128``."""
    return DeepFillV2Generator(cnum=cnum, in_size=in_size)
