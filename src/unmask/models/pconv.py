"""Partial-convolution U-Net (Liu et al. 2018).

Encoder: eight stride-2 partial convs with kernels 7,5,5,3,3,3,3,3 and 64,128,256,512,512,512,512,512 channels,
batch norm from the second layer on, ReLU. Decoder: eight steps of x2 upsampling (features: nearest as in the paper,
or bilinear, which avoids the block pattern nearest leaves in a fill; the mask: always nearest),
concatenation with the encoder skip (the last one is the input image and its mask), a 3x3 partial conv with
512,512,512,512,256,128,64,3 channels, batch norm and LeakyReLU(0.2) except on the output layer. ``width``
multiplies every hidden width (1.0 = the paper model, about 33 M parameters). Upsampling goes to the skip's size,
so any input size works; the deepest maps are 1x1 for inputs of 128² and below.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from unmask.errors import UnmaskError
from unmask.models.partial_conv import PartialConv2d
from unmask.models.registry import register_model

ENCODER_KERNELS = (7, 5, 5, 3, 3, 3, 3, 3)
ENCODER_CHANNELS = (64, 128, 256, 512, 512, 512, 512, 512)
DECODER_CHANNELS = (512, 512, 512, 512, 256, 128, 64)  # then 3 output channels


class _PartialBlock(nn.Module):
    """Partial conv -> optional batch norm -> optional activation; returns features and the updated mask."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, norm: bool,
                 activation: nn.Module | None) -> None:
        super().__init__()
        self.conv = PartialConv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=not norm)
        self.norm = nn.BatchNorm2d(out_channels) if norm else nn.Identity()
        self.activation = activation or nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C_in, H, W), (B, 1 | C_in, H, W) with 1 = valid -> (B, C_out, H', W'), (B, 1, H', W')."""
        x, mask = self.conv(x, mask)
        return self.activation(self.norm(x)), mask


class PConvUNet(nn.Module):
    """U-Net of partial convolutions; ``forward(image, mask)`` composites, ``forward_train`` gives the raw output.

    Images (B, 3, H, W) RGB in [0, 1], masks (B, 1, H, W) with 1 = hole. ``in_size`` is the square resolution
    the model is trained at. Set ``freeze_encoder_bn`` for the paper's fine-tuning phase (encoder batch norms
    stay in eval mode even in ``train()``).
    """

    size_multiple = 1  # H and W must be multiples of this (checked by unmask.models.registry.check_size)

    def __init__(self, width: float = 1.0, in_size: int = 256, upsample: str = "nearest") -> None:
        super().__init__()
        if width <= 0:
            raise UnmaskError(f"width must be positive, got {width}")
        if upsample not in ("nearest", "bilinear"):
            raise UnmaskError(f"upsample must be nearest or bilinear, got {upsample!r}")
        self.width, self.in_size, self.upsample = width, in_size, upsample
        self.freeze_encoder_bn = False
        enc = [max(1, round(c * width)) for c in ENCODER_CHANNELS]
        dec = [max(1, round(c * width)) for c in DECODER_CHANNELS]
        self.encoder = nn.ModuleList(
            _PartialBlock(in_c, out_c, k, 2, norm=i > 0, activation=nn.ReLU())
            for i, (in_c, out_c, k) in enumerate(zip([3, *enc[:-1]], enc, ENCODER_KERNELS, strict=True))
        )
        skips = [3, *enc[:-1]][::-1]  # the skip joined at each decoder step, deepest first; the last is the image
        ins = [enc[-1], *dec]
        self.decoder = nn.ModuleList(
            _PartialBlock(ins[i] + skips[i], out_c, 3, 1, norm=i < 7,
                          activation=nn.LeakyReLU(0.2) if i < 7 else None)
            for i, out_c in enumerate([*dec, 3])
        )

    def train(self, mode: bool = True) -> PConvUNet:
        """Switch train/eval mode; encoder batch norms stay frozen when ``freeze_encoder_bn`` is set."""
        super().train(mode)
        if mode and self.freeze_encoder_bn:
            for block in self.encoder:
                block.norm.eval()
        return self

    def forward_train(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Raw (not composited) prediction: (B,3,H,W) in [0,1], (B,1,H,W) with 1 = hole -> (B,3,H,W) ~[0,1]."""
        valid = 1.0 - mask
        x = (image * 2.0 - 1.0) * valid
        features, masks = [x], [valid]
        for block in self.encoder:
            x, m = block(features[-1], masks[-1])
            features.append(x)
            masks.append(m)
        x, m = features.pop(), masks.pop()
        for block in self.decoder:
            skip, skip_mask = features.pop(), masks.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode=self.upsample)
            m = F.interpolate(m, size=skip.shape[-2:], mode="nearest")
            joined_mask = torch.cat(
                [m.expand(-1, x.shape[1], -1, -1), skip_mask.expand(-1, skip.shape[1], -1, -1)], dim=1
            )
            x, m = block(torch.cat([x, skip], dim=1), joined_mask)
        return (x + 1.0) * 0.5

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Inpaint: (B,3,H,W) in [0, 1], (B,1,H,W) with 1 = hole -> (B,3,H,W), known pixels kept as given."""
        return mask * self.forward_train(image, mask).clamp(0.0, 1.0) + (1.0 - mask) * image


@register_model("pconv")
def pconv(width: float = 1.0, in_size: int = 256, upsample: str = "nearest") -> PConvUNet:
    """Partial-convolution U-Net; paper model ``width=1.0, in_size=256``, CPU model ``width=0.25, in_size=128``."""
    return PConvUNet(width=width, in_size=in_size, upsample=upsample)
