"""Partial convolution (Liu et al. 2018, "Image Inpainting for Irregular Holes Using Partial Convolutions").

``x' = W^T (X ⊙ M) * sum(1) / sum(M) + b`` where the window holds at least one valid input, else 0; the mask is
updated so that a location becomes valid when any input under the kernel was valid. Masks here follow the
paper: **1 = valid**, 0 = hole (the inverse of the package's tensor contract; models convert at their boundary).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PartialConv2d(nn.Conv2d):
    """Partial convolution with mask re-normalisation and mask update.

    ``forward(x, mask)``: x (B, C_in, H, W), mask (B, 1, H, W) or (B, C_in, H, W) with 1 = valid, 0 = hole.
    Returns (out (B, C_out, H', W'), new_mask (B, 1, H', W')). A one-channel mask applies to every input
    channel; a per-channel mask (as after a skip concatenation) counts valid inputs channel by channel, so
    ``sum(1) = C_in * k_h * k_w``.

    Example:
        >>> conv = PartialConv2d(3, 8, 3, padding=1)
        >>> mask = torch.ones(1, 1, 8, 8); mask[..., 2:6, 2:6] = 0
        >>> out, new_mask = conv(torch.rand(1, 3, 8, 8), mask)
        >>> out.shape, int(new_mask.sum())
        (torch.Size([1, 8, 8, 8]), 60)
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """(B, C_in, H, W), (B, 1 | C_in, H, W) -> (B, C_out, H', W'), (B, 1, H', W')."""
        mask = mask.expand(-1, self.in_channels, -1, -1) if mask.shape[1] == 1 else mask
        # counts in float32 even under autocast: bf16 holds integers exactly only up to 256
        with torch.no_grad(), torch.autocast(mask.device.type, enabled=False):
            ones = torch.ones(1, self.in_channels, *self.kernel_size, device=mask.device)
            valid_count = F.conv2d(mask.float(), ones, None, self.stride, self.padding, self.dilation)
            new_mask = (valid_count > 0).to(x.dtype)
            scale = ones.numel() / valid_count.clamp_min(1.0) * new_mask
        raw = F.conv2d(x * mask, self.weight, None, self.stride, self.padding, self.dilation, self.groups)
        out = raw * scale.to(raw.dtype)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1) * new_mask
        return out, new_mask
