"""HOG-guided two-stage face inpainting: a face-shape predictor, then an inpainting network.

Stage 1 (G_H) predicts the HOG descriptor map of the complete face from the masked image and the mask; its
prediction replaces the HOG blocks that the hole touches (the other blocks are computed from the known pixels).
Stage 2 is the EdgeConnect-style inpainting network the seed describes: an encoder with two stride-2
downsamplings, 8 residual blocks with dilation 2, a transposed-conv decoder, instance norm and ReLU; it takes the
masked image, the mask and the HOG map spread over the pixels (:meth:`HOG.to_pixels`). Both stages share the
encoder + residual-block backbone design; stage 1 ends in a head at HOG-block resolution with a sigmoid (L2-Hys
descriptors lie in [0, 1]). As in EdgeConnect's joint mode, stage 2 sees the stage-1 map detached.

Unlike the seed, stage 1 never sees the ground-truth image: at inference there is none.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models.hog import HOG
from unmask.models.registry import check_size, register_model


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1,
          activation: bool = True) -> nn.Sequential:
    """Conv ("same" padding for stride 1, halving for stride 2 with even kernels) -> instance norm [-> ReLU]."""
    padding = dilation * (kernel_size - 1) // 2 if stride == 1 else (kernel_size - stride) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.ReLU() if activation else nn.Identity(),
    )


class ResidualBlock(nn.Module):
    """``x + IN(conv3x3(ReLU(IN(conv3x3_dilated(x)))))``; (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, dilation: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels, 3, dilation=dilation),
                                  _conv(channels, channels, 3, activation=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return x + self.body(x)


def backbone(in_channels: int, nf: int, blocks: int) -> nn.Sequential:
    """7x7 conv, two 4x4 stride-2 convs to ``4 * nf`` channels at 1/4 size, ``blocks`` dilated residual blocks."""
    return nn.Sequential(
        _conv(in_channels, nf, 7),
        _conv(nf, 2 * nf, 4, stride=2),
        _conv(2 * nf, 4 * nf, 4, stride=2),
        *(ResidualBlock(4 * nf) for _ in range(blocks)),
    )


class HOGGuidedOutput(NamedTuple):
    """Training outputs: stage-1 HOG prediction, the HOG map stage 2 used, and stage 2's raw image."""

    hog_pred: torch.Tensor  # (B, D, Nr, Nc) in [0, 1]
    hog_used: torch.Tensor  # (B, D, Nr, Nc): known blocks from the image, hole blocks from hog_pred
    image: torch.Tensor  # (B, 3, H, W) in [0, 1]


class HOGGuidedInpainter(nn.Module):
    """Two-stage HOG-guided inpainter; ``forward(image, mask)`` composites, ``forward_train`` gives every stage.

    Images (B, 3, H, W) RGB in [0, 1], masks (B, 1, H, W) with 1 = hole; H and W must be multiples of the HOG
    cell (8) and at least two cells. ``nf`` sets both stages' widths (64 = EdgeConnect), ``blocks`` the
    residual blocks per stage (8 in the seed).
    """

    def __init__(self, nf: int = 64, blocks: int = 8, in_size: int = 256, orientations: int = 9, cell: int = 8,
                 block: int = 2) -> None:
        super().__init__()
        if nf < 1 or blocks < 1:
            raise UnmaskError(f"nf and blocks must be positive, got nf={nf}, blocks={blocks}")
        if cell % 4:
            raise UnmaskError(f"the HOG cell must be a multiple of 4 pixels, got {cell}")
        self.nf, self.in_size = nf, in_size
        self.hog = HOG(orientations, cell, block)
        channels = self.hog.out_channels
        self.shape_encoder = backbone(4, nf, blocks)
        self.shape_head = nn.Sequential(
            nn.AvgPool2d(cell // 4),  # 1/4 resolution -> one value per HOG cell
            nn.Conv2d(4 * nf, 4 * nf, block),  # cells -> blocks
            nn.ReLU(),
            nn.Conv2d(4 * nf, channels, 1),
            nn.Sigmoid(),
        )
        self.inpaint_encoder = backbone(4 + channels, nf, blocks)
        self.inpaint_decoder = nn.Sequential(
            nn.ConvTranspose2d(4 * nf, 2 * nf, 4, 2, 1),
            nn.InstanceNorm2d(2 * nf, affine=True),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * nf, nf, 4, 2, 1),
            nn.InstanceNorm2d(nf, affine=True),
            nn.ReLU(),
            nn.Conv2d(nf, 3, 7, padding=3),
            nn.Tanh(),
        )

    @property
    def size_multiple(self) -> int:
        """H and W must be multiples of the HOG cell."""
        return self.hog.cell

    def forward_train(self, image: torch.Tensor, mask: torch.Tensor) -> HOGGuidedOutput:
        """Every stage's raw output: (B,3,H,W) in [0,1], (B,1,H,W) with 1 = hole -> :class:`HOGGuidedOutput`."""
        check_size("the HOG-guided model", image, self.size_multiple, self.hog.cell * self.hog.block)
        known = image * (1.0 - mask)
        hog_pred = self.shape_head(self.shape_encoder(torch.cat([known * 2.0 - 1.0, mask], dim=1)))
        hole_blocks = self.hog.block_mask(mask)
        with torch.no_grad():
            hog_known = self.hog(known)
        hog_used = hog_known * (1.0 - hole_blocks) + hog_pred.detach() * hole_blocks
        stage_input = torch.cat([known * 2.0 - 1.0, mask, self.hog.to_pixels(hog_used)], dim=1)
        output = self.inpaint_decoder(self.inpaint_encoder(stage_input))
        return HOGGuidedOutput(hog_pred, hog_used, (output + 1.0) * 0.5)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Inpaint: (B,3,H,W) in [0, 1], (B,1,H,W) with 1 = hole -> (B,3,H,W), known pixels kept as given."""
        return mask * self.forward_train(image, mask).image + (1.0 - mask) * image


@register_model("hog")
def hog_guided(nf: int = 64, blocks: int = 8, in_size: int = 256) -> HOGGuidedInpainter:
    """HOG-guided two-stage inpainter; paper-size model ``nf=64, blocks=8, in_size=256``, CPU ``nf=16, blocks=4``."""
    return HOGGuidedInpainter(nf=nf, blocks=blocks, in_size=in_size)
