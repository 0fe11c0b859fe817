"""Total variation over the hole's one-pixel dilation (PConv, Liu et al. 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def total_variation_loss(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of horizontal and vertical neighbours that both lie in the hole grown by 1 px.

    Shapes: image (B, C, H, W), mask (B, 1, H, W) with 1 = hole. Sums over neighbour pairs, divided by the
    number of image elements (B*C*H*W) as in the paper. Returns a scalar.

    Example:
        >>> image = torch.zeros(1, 1, 4, 4); image[..., 1, 1] = 1.0
        >>> mask = torch.zeros(1, 1, 4, 4); mask[..., 1, 1] = 1.0
        >>> total_variation_loss(image, mask)
        tensor(0.2500)
    """
    region = F.max_pool2d(mask, 3, stride=1, padding=1)
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).abs() * region[..., :, 1:] * region[..., :, :-1]
    vertical = (image[..., 1:, :] - image[..., :-1, :]).abs() * region[..., 1:, :] * region[..., :-1, :]
    return (horizontal.sum() + vertical.sum()) / image.numel()
