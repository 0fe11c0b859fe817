"""Differentiable histogram of oriented gradients (Dalal & Triggs 2005) in torch, matching ``skimage.feature.hog``.

Steps, as in scikit-image: central-difference gradients (zero on the border rows/columns), per pixel the colour
channel with the largest gradient magnitude, unsigned orientation in [0, 180) degrees, cell histograms (magnitude
votes averaged over each complete ``cell`` x ``cell`` cell), then every ``block`` x ``block`` group of cells
(stride one cell) normalised (L1, L1-sqrt, L2 or L2-Hys). With ``binning="hard"`` each pixel votes into the bin
holding its orientation, exactly as scikit-image does (bin edges in float32 like its Cython code); gradients then
flow through the magnitudes only. ``binning="linear"`` splits each vote between the two nearest bin centres
(circularly), so gradients also flow through the orientation.

The descriptor is a map (B, block*block*orientations, n_blocks_row, n_blocks_col) with channels ordered
(block row, block col, orientation); ``map.permute(0, 2, 3, 1).flatten(1)`` is scikit-image's feature vector.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from unmask.errors import UnmaskError

BlockNorm = Literal["L1", "L1-sqrt", "L2", "L2-Hys"]
Binning = Literal["hard", "linear"]


def image_gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised central differences along rows and columns, zero on the border: (B,C,H,W) -> 2 x (B,C,H,W)."""
    g_row = F.pad(image[:, :, 2:, :] - image[:, :, :-2, :], (0, 0, 1, 1))
    g_col = F.pad(image[:, :, :, 2:] - image[:, :, :, :-2], (1, 1, 0, 0))
    return g_row, g_col


def _dominant_gradient(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column gradients of the channel with the largest magnitude at each pixel: -> 2 x (B, 1, H, W)."""
    g_row, g_col = image_gradients(image)
    if image.shape[1] == 1:
        return g_row, g_col
    index = (g_row.square() + g_col.square()).argmax(dim=1, keepdim=True)
    return g_row.gather(1, index), g_col.gather(1, index)


def _safe_magnitude_and_angle(g_row: torch.Tensor, g_col: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Magnitude and unsigned orientation in degrees [0, 180), with finite gradients where the gradient is 0."""
    square = g_row.square() + g_col.square()
    nonzero = square > 0
    magnitude = torch.where(nonzero, torch.where(nonzero, square, 1.0).sqrt(), 0.0)
    angle = torch.rad2deg(torch.atan2(torch.where(nonzero, g_row, 0.0), torch.where(nonzero, g_col, 1.0)))
    return magnitude, torch.remainder(angle, 180.0)


def orientation_histograms(image: torch.Tensor, orientations: int = 9, cell: int = 8,
                           binning: Binning = "hard") -> torch.Tensor:
    """Cell histograms: (B, C, H, W) -> (B, orientations, H // cell, W // cell), votes averaged per cell."""
    g_row, g_col = _dominant_gradient(image)
    magnitude, angle = _safe_magnitude_and_angle(g_row, g_col)
    if binning == "hard":
        width = torch.tensor(180.0 / orientations, dtype=torch.float32)
        edges = (width * torch.arange(1, orientations, dtype=torch.float32)).to(angle)
        index = torch.bucketize(angle.detach(), edges, right=True)
        votes = F.one_hot(index[:, 0], orientations).permute(0, 3, 1, 2).to(magnitude) * magnitude
    elif binning == "linear":
        position = angle * (orientations / 180.0) - 0.5  # in bin units, centres at integers
        lower = torch.floor(position.detach())
        upper_weight = position - lower
        bins = torch.arange(orientations, device=image.device).view(1, -1, 1, 1)
        lower_vote = (bins == torch.remainder(lower, orientations)) * (1.0 - upper_weight)
        upper_vote = (bins == torch.remainder(lower + 1, orientations)) * upper_weight
        votes = magnitude * (lower_vote + upper_vote)
    else:
        raise ValueError(f"unknown binning {binning!r}; use 'hard' or 'linear'")
    rows, cols = (image.shape[-2] // cell) * cell, (image.shape[-1] // cell) * cell
    return F.avg_pool2d(votes[:, :, :rows, :cols], cell)


def normalize_blocks(histograms: torch.Tensor, block: int = 2, method: BlockNorm = "L2-Hys",
                     eps: float = 1e-5) -> torch.Tensor:
    """Block-normalised descriptors: (B, O, Nr, Nc) -> (B, block*block*O, Nr - block + 1, Nc - block + 1)."""
    b, orientations, rows, cols = histograms.shape
    out_rows, out_cols = rows - block + 1, cols - block + 1
    if out_rows < 1 or out_cols < 1:
        raise UnmaskError(f"HOG needs at least {block}x{block} cells, got {rows}x{cols}")
    blocks = F.unfold(histograms, block).view(b, orientations, block, block, out_rows, out_cols)
    blocks = blocks.permute(0, 2, 3, 1, 4, 5).reshape(b, block * block * orientations, out_rows, out_cols)
    if method == "L1":
        return blocks / (blocks.abs().sum(1, keepdim=True) + eps)
    if method == "L1-sqrt":
        return (blocks / (blocks.abs().sum(1, keepdim=True) + eps)).clamp_min(0).sqrt()
    if method not in ("L2", "L2-Hys"):
        raise ValueError(f"unknown block norm {method!r}; use L1, L1-sqrt, L2 or L2-Hys")
    out = blocks / _l2_norm(blocks, eps)
    if method == "L2-Hys":
        out = out.clamp_max(0.2)
        out = out / _l2_norm(out, eps)
    return out


def _l2_norm(blocks: torch.Tensor, eps: float) -> torch.Tensor:
    """``sqrt(sum(x²) + eps²)`` over dim 1, written as ``eps * sqrt(sum(x²) / eps² + 1)``.

    The same value, but without adding a constant as small as eps²: the ONNX exporter's optimiser drops additions of
    constants below about 1e-7, and an all-zero block (a flat region) then gives 0 / 0 = NaN in ONNX Runtime.
    """
    return (blocks.square().sum(1, keepdim=True) * (1.0 / eps**2) + 1.0).sqrt() * eps


class HOG(nn.Module):
    """HOG descriptor map of an image, plus the geometry that ties block descriptors to pixels.

    ``forward(image)``: (B, C, H, W) in any range -> (B, out_channels, H // cell - block + 1, W // cell - block + 1).

    Example:
        >>> HOG(orientations=9, cell=8, block=2)(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 36, 7, 7])
    """

    def __init__(self, orientations: int = 9, cell: int = 8, block: int = 2, method: BlockNorm = "L2-Hys",
                 binning: Binning = "hard") -> None:
        super().__init__()
        if orientations < 1 or cell < 2 or cell % 2 or block < 1:
            raise UnmaskError(f"bad HOG settings: orientations={orientations}, cell={cell} (even), block={block}")
        self.orientations, self.cell, self.block, self.method, self.binning = orientations, cell, block, method, binning

    @property
    def out_channels(self) -> int:
        """Channels of the descriptor map: block * block * orientations."""
        return self.block * self.block * self.orientations

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, out_channels, n_blocks_row, n_blocks_col)."""
        histograms = orientation_histograms(image, self.orientations, self.cell, self.binning)
        return normalize_blocks(histograms, self.block, self.method)

    def block_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """1 where a block's pixels (or their gradient neighbours) touch the hole: (B,1,H,W) -> (B,1,Nr',Nc')."""
        grown = F.max_pool2d(mask, 3, stride=1, padding=1)
        return F.max_pool2d(grown, self.block * self.cell, stride=self.cell)

    def to_pixels(self, descriptors: torch.Tensor) -> torch.Tensor:
        """Spread a descriptor map over the pixel grid, each block on the ``cell`` x ``cell`` pixels around its
        centre (edges replicated): (B, D, Nr', Nc') -> (B, D, cell * (Nr' + block - 1), ...). For ``block=2``
        the result has exactly the size of the (cell-aligned) image.
        """
        pixels = F.interpolate(descriptors, scale_factor=float(self.cell), mode="nearest")
        pad = self.cell * (self.block - 1) // 2
        rest = self.cell * (self.block - 1) - pad
        return F.pad(pixels, (pad, rest, pad, rest), mode="replicate")
