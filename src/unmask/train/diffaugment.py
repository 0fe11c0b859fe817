"""DiffAugment (Zhao et al., 2020): random, differentiable colour, translation and cutout on every image the
discriminator judges, real or filled, so that it cannot be fooled by small changes the generator makes to exploit
it, nor learn its few thousand training faces by heart. The generator's gradient flows through the augmentation.

A policy names the operations to apply. Against fills that are already close to real faces, colour changes slow the
discriminator most and all three together stopped it learning (docs/TRAINING.md, texture round 4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unmask.errors import UnmaskError

BRIGHTNESS = 0.25  # added level, uniform in +-this (images in [0, 1])
TRANSLATION = 0.125  # shift, uniform in +-this share of the side, zero-padded
CUTOUT = 0.5  # side of the square cut out (set to 0), as a share of the image's side
POLICY = ("colour", "translation", "cutout")  # the paper's full policy


def _colour(image: torch.Tensor, random: torch.Tensor) -> torch.Tensor:
    """Brightness, saturation and contrast changes, one draw per image: (B, 3, H, W), random (B, 3) in [0, 1)."""
    brightness, saturation, contrast = (random[:, index].view(-1, 1, 1, 1) for index in range(3))
    image = image + (brightness - 0.5) * 2 * BRIGHTNESS
    grey = image.mean(dim=1, keepdim=True)
    image = (image - grey) * (saturation * 2) + grey
    mean = image.mean(dim=(1, 2, 3), keepdim=True)
    return (image - mean) * (contrast + 0.5) + mean


def _translate(x: torch.Tensor, random: torch.Tensor) -> torch.Tensor:
    """Shift each image of (B, C, H, W) by whole pixels, uniform in +-``TRANSLATION`` of its side, zero-padded;
    random (B, 2) in [0, 1) picks (dy, dx)."""
    _, _, height, width = x.shape
    pad_y, pad_x = int(height * TRANSLATION + 0.5), int(width * TRANSLATION + 0.5)
    limits = torch.tensor([pad_y, pad_x])
    shift = (random.cpu() * (2 * limits + 1)).long() - limits
    padded = F.pad(x, (pad_x, pad_x, pad_y, pad_y))
    return torch.stack([padded[i, :, pad_y - dy: pad_y - dy + height, pad_x - dx: pad_x - dx + width]
                        for i, (dy, dx) in enumerate(shift.tolist())])


def _cutout(x: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Zero a square of ``CUTOUT`` of the side around ``centre`` (B, 2) in [0, 1) in each image of (B, C, H, W)."""
    _, _, height, width = x.shape
    rows = torch.arange(height, device=x.device).view(1, -1, 1)
    columns = torch.arange(width, device=x.device).view(1, 1, -1)
    cy, cx = (centre[:, 0] * height).view(-1, 1, 1), (centre[:, 1] * width).view(-1, 1, 1)
    inside = ((rows - cy).abs() < CUTOUT * height / 2) & ((columns - cx).abs() < CUTOUT * width / 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def augment_policy(setting: bool | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The operations a ``model.diff_augment`` setting names: all for true, none for false or None; unknown names
    are refused."""
    policy = POLICY if setting is True else tuple(setting or ())
    unknown = set(policy) - set(POLICY)
    if unknown:
        raise UnmaskError(f"model.diff_augment: unknown operation(s) {sorted(unknown)}; "
                          f"choose from {', '.join(POLICY)}")
    return policy


def diff_augment(image: torch.Tensor, mask: torch.Tensor,
                 policy: tuple[str, ...] = POLICY) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``policy``'s random colour change, shift and cutout for each image (B, 3, H, W) in [0, 1], the same shift
    and cutout for its hole mask (B, 1, H, W); drawn anew per image and per call (real and filled batches get
    independent draws). Operations outside :data:`POLICY` are refused (:func:`augment_policy`)."""
    augment_policy(policy)
    batch = image.shape[0]
    if "colour" in policy:
        image = _colour(image, torch.rand(batch, 3, device=image.device))
    both = torch.cat([image, mask], dim=1)
    if "translation" in policy:
        both = _translate(both, torch.rand(batch, 2))
    if "cutout" in policy:
        both = _cutout(both, torch.rand(batch, 2, device=image.device))
    return both[:, :3], both[:, 3:]
