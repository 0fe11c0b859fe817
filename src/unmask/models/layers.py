"""Building blocks of gated-convolution inpainting networks (DeepFill v2 / SN-PatchGAN).

- :class:`GatedConv2d`: ``act(conv_f(x)) * sigmoid(conv_g(x))``, a learned soft mask (Yu et al. 2019).
- :class:`GatedDeconv2d`: nearest x2 upsampling followed by a gated convolution.
- :class:`ContextualAttention`: fill hole features by borrowing known background patches (Yu et al. 2018).

Everything here is traceable (``torch.jit.trace``): no Python control flow depends on tensor values.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

Activation = Literal["elu", "lrelu", "relu"] | None
SUBNORMAL_FREE = 1e-30  # attention weights below this are set to 0 (far above float32's subnormal range)


def _activation(name: Activation) -> nn.Module:
    """The activation module called ``name`` (``None`` gives the identity)."""
    if name is None:
        return nn.Identity()
    if name == "elu":
        return nn.ELU()
    if name == "lrelu":
        return nn.LeakyReLU(0.2)
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown activation {name!r}; use 'elu', 'lrelu', 'relu' or None")


def _memory_format(tensor: torch.Tensor) -> torch.memory_format:
    """``channels_last`` for a (B, C, H, W) tensor stored that way, else the default contiguous format."""
    if tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _shifted_diagonal_sum(x: torch.Tensor) -> torch.Tensor:
    """``x[i-1, j-1] + x[i, j] + x[i+1, j+1]`` over the last two axes (zero outside): a 3x3 identity-kernel conv."""
    padded = F.pad(x, (1, 1, 1, 1))
    return padded[..., :-2, :-2] + padded[..., 1:-1, 1:-1] + padded[..., 2:, 2:]


class GatedConv2d(nn.Module):
    """Gated convolution ``act(f) * sigmoid(g)``; ``[f, g]`` is one conv with ``2 * out_channels`` outputs.

    Input (B, in_channels, H, W) -> output (B, out_channels, H', W') with ``H' = ceil(H / stride)`` for odd
    kernels ("same" padding ``dilation * (kernel_size - 1) // 2``).

    Example:
        >>> GatedConv2d(5, 8, kernel_size=3, stride=2)(torch.rand(1, 5, 16, 16)).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        activation: Activation = "elu",
    ) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, padding, dilation)
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W')."""
        both = self.conv(x)
        half = both.shape[1] // 2
        # Dense halves: element-wise kernels on channel slices of a channels-last tensor run strided and slow.
        layout = _memory_format(both)
        features = both[:, :half].contiguous(memory_format=layout)
        gate = both[:, half:].contiguous(memory_format=layout)
        if torch.jit.is_tracing() or (torch.is_grad_enabled() and both.requires_grad):  # one graph for any grad mode
            return self.activation(features) * torch.sigmoid(gate)
        return self.activation(features).mul_(gate.sigmoid_())  # inference: no autograd, reuse the buffers


class GatedDeconv2d(nn.Module):
    """DeepFill v2 "deconvolution": nearest-neighbour x2 upsampling, then a 3x3 :class:`GatedConv2d`.

    Input (B, in_channels, H, W) -> output (B, out_channels, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, activation: Activation = "elu") -> None:
        super().__init__()
        self.conv = GatedConv2d(in_channels, out_channels, 3, 1, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, 2H, 2W)."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ContextualAttention(nn.Module):
    """Contextual attention (Yu et al. 2018): rebuild foreground features from known background patches.

    Matching runs at 1/``rate`` resolution: 3x3 background patches whose window touches the hole are
    discarded, the rest are L2-normalised and correlated with the foreground (cosine similarity up to the
    foreground norm), optionally "fused" (a 3x3 identity kernel that favours coherent neighbouring matches),
    then a softmax with ``softmax_scale`` over the valid patches gives attention weights. The output is
    built by a transposed convolution of those weights with the raw full-resolution ``2*rate`` x ``2*rate``
    background patches (stride ``rate``), divided by the number of overlapping patches at each pixel.

    Shapes: foreground and background (B, C, H, W), mask (B, 1, H, W) at the same resolution, 1 = hole;
    H and W divisible by ``rate``; ``rate`` is a positive even integer (2 in DeepFill). Output (B, C, H, W).
    """

    def __init__(self, rate: int = 2, softmax_scale: float = 10.0, fuse: bool = True) -> None:
        super().__init__()
        if rate < 2 or rate % 2:
            raise ValueError(f"rate must be a positive even integer, got {rate}")
        self.rate = rate
        self.softmax_scale = softmax_scale
        self.fuse = fuse

    def _fuse(self, scores: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Propagate (B, L, L) match scores along both spatial axes with a 3x3 identity kernel.

        The kernel is applied as a sum of three shifted copies: the same numbers as ``F.conv2d`` with
        ``torch.eye(3)``, without a one-channel convolution over an L x L image (about 15x slower on CPU).
        """
        b = scores.shape[0]
        x = _shifted_diagonal_sum(scores)
        x = x.reshape(b, h, w, h, w).permute(0, 2, 1, 4, 3).reshape(b, h * w, h * w)
        x = _shifted_diagonal_sum(x)
        return x.reshape(b, w, h, w, h).permute(0, 2, 1, 4, 3).reshape(b, h * w, h * w)

    def forward(self, foreground: torch.Tensor, background: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W), (B, C, H, W), (B, 1, H, W) -> (B, C, H, W).

        Under autocast (bf16 training) the matching runs in float32: a softmax with scale 10 over bf16 scores
        (8 bits of mantissa) would blur which patches win.
        """
        device = foreground.device.type
        if torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return self._attend(foreground.float(), background.float(), mask.float())
        return self._attend(foreground, background, mask)

    def _attend(self, foreground: torch.Tensor, background: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Contextual attention in the inputs' own precision: (B,C,H,W), (B,C,H,W), (B,1,H,W) -> (B,C,H,W)."""
        rate = self.rate
        b, c, height, width = background.shape
        raw_kernel = 2 * rate
        raw_padding = rate // 2
        # Raw background patches at full resolution: (B, C*k*k, L), one per downsampled position.
        raw_patches = F.unfold(background, raw_kernel, padding=raw_padding, stride=rate)

        fg = foreground[:, :, ::rate, ::rate]
        bg = background[:, :, ::rate, ::rate]
        h, w = fg.shape[-2:]
        # A downsampled pixel is a hole if any pixel it covers is; valid patches have no hole in their window.
        hole = F.max_pool2d(mask, rate)
        valid = 1.0 - F.max_pool2d(hole, 3, stride=1, padding=1).flatten(1)  # (B, L)

        bg_patches = F.unfold(bg, 3, padding=1).transpose(1, 2)  # (B, L, C*9)
        bg_patches = bg_patches / bg_patches.norm(dim=2, keepdim=True).clamp_min(1e-4)
        fg_windows = F.unfold(fg, 3, padding=1)  # (B, C*9, L)
        scores = torch.bmm(bg_patches, fg_windows)  # (B, L_background, L_foreground)
        if self.fuse:
            scores = self._fuse(scores, h, w)

        valid = valid.unsqueeze(2)
        logits = scores * self.softmax_scale - (1.0 - valid) * 1e4
        attention = torch.softmax(logits, dim=1) * valid  # all-hole backgrounds give zero features
        # Weights under 1e-30 add nothing, but a trained model's sharp softmax leaves many of them subnormal, and
        # subnormal floats make the next matrix product about 25x slower on x86 CPUs (benchmarks/inference.py).
        attention = attention.masked_fill(attention < SUBNORMAL_FREE, 0.0)

        columns = torch.bmm(raw_patches, attention)  # (B, C*k*k, L_foreground)
        out = F.fold(columns, (height, width), raw_kernel, padding=raw_padding, stride=rate)
        overlap = F.fold(
            torch.ones_like(columns[:, : raw_kernel * raw_kernel]),
            (height, width),
            raw_kernel,
            padding=raw_padding,
            stride=rate,
        )
        return out / overlap
