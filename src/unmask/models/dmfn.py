"""DMFN generator (Hui et al. 2020, "Image fine-grained inpainting").

Encoder: 5x5 conv, then 3x3 convs with two stride-2 downsamplings to ``4 * nf`` channels at 1/4 resolution.
Middle: ``blocks`` dense multi-scale fusion blocks (DMFB). Decoder: two 4x4 transposed convs back to full
resolution, 3x3 output conv, tanh. Instance norm and ReLU in between. ``nf=64, blocks=8`` is the paper model.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models.registry import check_size, register_model

DILATIONS = (1, 2, 4, 8)


def _conv(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1,
          norm: bool = True) -> nn.Sequential:
    """Conv ("same" padding for stride 1) -> instance norm -> ReLU."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation),
        nn.InstanceNorm2d(out_channels, affine=True) if norm else nn.Identity(),
        nn.ReLU(),
    )


def _up(in_channels: int, out_channels: int) -> nn.Sequential:
    """4x4 transposed conv with stride 2 (exactly doubles H and W) -> instance norm -> ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.ReLU(),
    )


class DenseMultiScaleFusionBlock(nn.Module):
    """DMFB: a 3x3 conv reduces C to C/4; four 3x3 convs with dilation 1, 2, 4, 8 see it at several scales;
    their outputs are fused densely (``y1 = d1``, ``y_i = K_i(y_{i-1} + d_i)`` with 3x3 convs ``K_i``),
    concatenated, mixed back to C by a 1x1 conv and added to the input.

    Input and output (B, C, H, W); C must be a multiple of 4.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels % 4:
            raise UnmaskError(f"DMFB channels must be a multiple of 4, got {channels}")
        branch = channels // 4
        self.reduce = _conv(channels, branch)
        self.branches = nn.ModuleList(
            nn.Conv2d(branch, branch, 3, padding=rate, dilation=rate) for rate in DILATIONS
        )
        self.fuse = nn.ModuleList(nn.Conv2d(branch, branch, 3, padding=1) for _ in DILATIONS[1:])
        self.mix = nn.Sequential(
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        reduced = self.reduce(x)
        scales = [branch(reduced) for branch in self.branches]
        fused = [scales[0]]
        for scale, fuse in zip(scales[1:], self.fuse, strict=True):
            fused.append(fuse(fused[-1] + scale))
        return x + self.mix(torch.cat(fused, dim=1))


class DMFNGenerator(nn.Module):
    """Dense multi-scale fusion network; ``forward(image, mask)`` composites, ``forward_train`` is raw.

    Images (B, 3, H, W) RGB in [0, 1], masks (B, 1, H, W) with 1 = hole; H and W must be multiples of 4.
    Input to the network: the [-1, 1] image with the hole zeroed, and the mask (4 channels).
    """

    size_multiple = 4  # H and W must be multiples of this (checked by unmask.models.registry.check_size)

    def __init__(self, nf: int = 64, blocks: int = 8, in_size: int = 256) -> None:
        super().__init__()
        if nf < 1 or blocks < 1:
            raise UnmaskError(f"nf and blocks must be positive, got nf={nf}, blocks={blocks}")
        self.nf, self.in_size = nf, in_size
        self.encoder = nn.Sequential(
            _conv(4, nf, 5, norm=False),
            _conv(nf, 2 * nf, 3, stride=2),
            _conv(2 * nf, 2 * nf, 3),
            _conv(2 * nf, 4 * nf, 3, stride=2),
        )
        self.blocks = nn.Sequential(*(DenseMultiScaleFusionBlock(4 * nf) for _ in range(blocks)))
        self.decoder = nn.Sequential(
            _up(4 * nf, 2 * nf),
            _conv(2 * nf, 2 * nf, 3),
            _up(2 * nf, nf),
            nn.Conv2d(nf, 3, 3, padding=1),
            nn.Tanh(),
        )

    def forward_train(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Raw (not composited) prediction: (B,3,H,W) in [0,1], (B,1,H,W) with 1 = hole -> (B,3,H,W) in [0,1]."""
        check_size("DMFN", image, self.size_multiple)
        x = torch.cat([(image * 2.0 - 1.0) * (1.0 - mask), mask], dim=1)
        return (self.decoder(self.blocks(self.encoder(x))) + 1.0) * 0.5

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Inpaint: (B,3,H,W) in [0, 1], (B,1,H,W) with 1 = hole -> (B,3,H,W), known pixels kept as given."""
        return mask * self.forward_train(image, mask) + (1.0 - mask) * image


@register_model("dmfn")
def dmfn(nf: int = 64, blocks: int = 8, in_size: int = 256) -> DMFNGenerator:
    """DMFN generator; paper model ``nf=64, blocks=8, in_size=256``, CPU model ``nf=16, blocks=4, in_size=128``."""
    return DMFNGenerator(nf=nf, blocks=blocks, in_size=in_size)
