"""A projected discriminator (after Sauer et al. 2021, Projected GANs): small trainable heads judge a frozen
ImageNet VGG16's features of the image, so the judge starts from features that already tell a mouth from a blur
instead of learning them while the generator moves."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from unmask.nets.lpips import LPIPS

DEPTH = 4  # LPIPS-VGG's taps relu1_2, relu2_2, relu3_3, relu4_3; the heads judge the last three


class ProjectedDiscriminator(nn.Module):
    """Patch logits from trainable spectral-norm heads on frozen VGG16 activations (``relu2_2``, ``relu3_3``,
    ``relu4_3``).

    The trunk is the ImageNet VGG16 of an LPIPS file (``vgg_path``, e.g. ``lpips_vgg16_fp16.safetensors``), read
    through :meth:`LPIPS.features` (its input scaling, each activation unit-normalised per position); each tapped
    activation, times the square root of its channels and with the hole mask (area-resized) appended, is judged by
    its head (a 1x1 projection to ``cnum`` channels, stride-2 4x4 convs down to ``side / 16`` and a 1x1 conv to one
    logit); deeper taps see larger patches (relu4_3's receptive field spans a 128-px crop). Input: image
    (B, 3, H, W) in [0, 1] and mask (B, 1, H, W), 1 = hole, H and W divisible by 16. Output: logits (B, N), every
    head's map flattened and joined; with ``return_features`` also each head's hidden outputs. Gradients reach the
    image through the frozen trunk, which is read from ``vgg_path`` and kept out of the state dict (only the heads
    are trained and saved).
    """

    def __init__(self, vgg_path: str | Path, cnum: int = 64, in_channels: int = 4) -> None:
        super().__init__()
        lpips = LPIPS(vgg_path)
        if lpips.net != "vgg":
            raise ValueError(f"{vgg_path}: a projected discriminator needs the VGG16 LPIPS file")
        # Not a registered submodule: the frozen trunk stays out of state dicts, checkpoints and optimisers.
        self.__dict__["lpips"] = lpips
        self.heads = nn.ModuleList()
        for channels, downsamples in zip((128, 256, 512), (3, 2, 1), strict=True):
            blocks = [nn.Sequential(spectral_norm(nn.Conv2d(channels + in_channels - 3, cnum, 1)),
                                    nn.LeakyReLU(0.2))]
            blocks += [nn.Sequential(spectral_norm(nn.Conv2d(cnum, cnum, 4, 2, 1)), nn.LeakyReLU(0.2))
                       for _ in range(downsamples)]
            blocks.append(spectral_norm(nn.Conv2d(cnum, 1, 1)))
            self.heads.append(nn.Sequential(*blocks))

    @property
    def trunk(self) -> nn.Sequential:
        """The frozen VGG16 convolutions the heads read."""
        return self.lpips.trunk

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001, ANN202 (torch's signature)
        """Moves and casts (``to``, ``cuda``, ``half``...) reach the unregistered trunk too."""
        self.lpips._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """(B,3,H,W), (B,1,H,W) -> logits (B, N); with ``return_features`` also the heads' hidden outputs."""
        logits, features = [], []
        for head, tapped in zip(self.heads, self.lpips.features(image, DEPTH)[1:], strict=True):
            h = torch.cat([tapped * tapped.shape[1] ** 0.5,
                           F.adaptive_avg_pool2d(mask, tapped.shape[-2:]).to(tapped.dtype)], dim=1)
            for block in head[:-1]:
                h = block(h)
                features.append(h)
            logits.append(head[-1](h).flatten(1))
        out = torch.cat(logits, dim=1)
        return (out, features) if return_features else out
