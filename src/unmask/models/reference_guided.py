"""Reference-guided inpainting generator (seed 004): a masked face plus a warped photo of the same person.

Unlike every other registered model, which answers ``model(image, mask)``, this one is called as
``model(image, mask, reference, validity)``: ``reference`` is a second photo of the person already warped onto
the masked face and colour-matched (see :func:`unmask.face.reference.warp_reference`), ``validity`` says where
that warp is defined. The class sets ``needs_reference = True`` so that callers can tell the two contracts apart.

Coarse-to-fine gated convolutions with LeakyReLU (Yu et al. 2019; DeepGIN), as in the seed:

- coarse net: the masked face, the mask and the valid part of the reference -> gated convs (two stride-2
  downsamplings), dilated gated convs (rates 2, 4, 8, 16), gated deconvs back up, tanh;
- refinement net: the coarse result pasted into the hole, the mask and the reference -> the same shape of
  network, ending in a tanh RGB image and a sigmoid *reference gate* ``g``. Inside the hole the output is
  ``g * validity * reference + (1 - g * validity) * synthesis``: where the warped reference fits, the network
  can take its pixels as they are (the person's own mouth and nose), elsewhere it paints.

With ``prior`` (``{name, kwargs}`` of a registered no-reference model, e.g. the shipped PConv U-Net) the coarse
stage *is* that model, frozen: the refinement net sees its fill and paints a residual on top of it
(``synthesis = prior fill + residual``). The residual starts at zero and the reference gate at 0.1, so before any
training the output is the prior's fill with a tenth of the warped reference blended in where it is valid, and
what the refinement learns is only what the reference adds to the fill.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models.layers import GatedConv2d, GatedDeconv2d
from unmask.models.registry import check_size, create_model, register_model

ACTIVATION = "lrelu"
IN_CHANNELS = 9  # image (3) + mask + reference (3) + validity + ones
# With a prior, the reference gate starts at sigmoid(-2.2) = 0.1: a 10 % blend of the warped reference into the
# prior's fill, which already scores better than the fill alone (+0.12 dB on the validation pairs with their stored
# landmarks) and is open enough for the gate to learn; a nearly closed gate (sigmoid(-5)) barely moved in 1,000 steps.
INITIAL_GATE_BIAS = -2.2


def _stage_input(image: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor,
                 validity: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) x2 in [-1, 1] and (B,1,H,W) x2 -> (B, 9, H, W): image, mask, valid reference, validity, ones."""
    return torch.cat([image, mask, reference * validity, validity, torch.ones_like(mask)], dim=1)


def _encoder(cnum: int) -> list[nn.Module]:
    """Gated convs from full resolution down to 1/4, then four dilated gated convs (rates 2, 4, 8, 16)."""
    half, wide = cnum // 2, 2 * cnum
    return [
        GatedConv2d(IN_CHANNELS, half, 5, activation=ACTIVATION),
        GatedConv2d(half, cnum, 3, stride=2, activation=ACTIVATION),
        GatedConv2d(cnum, cnum, 3, activation=ACTIVATION),
        GatedConv2d(cnum, wide, 3, stride=2, activation=ACTIVATION),
        GatedConv2d(wide, wide, 3, activation=ACTIVATION),
        *[GatedConv2d(wide, wide, 3, dilation=rate, activation=ACTIVATION) for rate in (2, 4, 8, 16)],
        GatedConv2d(wide, wide, 3, activation=ACTIVATION),
    ]


def _decoder(cnum: int, out_channels: int) -> list[nn.Module]:
    """Gated deconvs from 1/4 resolution back to full, ending in a plain conv with ``out_channels`` (no activation)."""
    return [
        GatedDeconv2d(2 * cnum, cnum, activation=ACTIVATION),
        GatedConv2d(cnum, cnum, 3, activation=ACTIVATION),
        GatedDeconv2d(cnum, cnum // 2, activation=ACTIVATION),
        GatedConv2d(cnum // 2, cnum // 4, 3, activation=ACTIVATION),
        nn.Conv2d(cnum // 4, out_channels, 3, padding=1),
    ]


class ReferenceGuidedGenerator(nn.Module):
    """Coarse-to-fine gated-conv generator guided by a warped reference photo of the same person.

    ``forward(image, mask, reference, validity)`` returns the refined result composited into the known pixels;
    ``forward_train`` returns the raw coarse and refined outputs for the losses. Images and the reference are
    (B, 3, H, W) RGB in [0, 1]; mask (B, 1, H, W) with 1 = hole; validity (B, 1, H, W) in [0, 1]. H and W must
    be multiples of 4 (pad outside the model). ``cnum`` (a multiple of 4) sets the widths; ``in_size`` is the
    square resolution the model is trained at (the network itself is fully convolutional). ``prior``: a frozen
    no-reference model as the coarse stage (see the module docstring); its weights are part of this model's.
    """

    needs_reference = True
    size_multiple = 4  # H and W must be multiples of this (checked by unmask.models.registry.check_size)

    def __init__(self, cnum: int = 32, in_size: int = 256, prior: dict | None = None) -> None:
        super().__init__()
        if cnum < 4 or cnum % 4:
            raise UnmaskError(f"cnum must be a positive multiple of 4, got {cnum}")
        if in_size % 4:
            raise UnmaskError(f"in_size must be a multiple of 4, got {in_size}")
        self.cnum = cnum
        self.in_size = in_size
        self.refine = nn.Sequential(*_encoder(cnum), *_decoder(cnum, 4))
        if prior:
            self.prior = create_model(prior["name"], **prior.get("kwargs", {})).requires_grad_(False).eval()
            self.coarse = None
            head = self.refine[-1]
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
            nn.init.constant_(head.bias[3:], INITIAL_GATE_BIAS)
        else:
            self.prior = None
            self.coarse = nn.Sequential(*_encoder(cnum), *_decoder(cnum, 3), nn.Tanh())

    def train(self, mode: bool = True) -> ReferenceGuidedGenerator:
        """Set training mode; a prior stays in eval mode (frozen, batch-norm statistics included)."""
        super().train(mode)
        if self.prior is not None:
            self.prior.eval()
        return self

    def forward_train(self, image: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor,
                      validity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (not composited) coarse and refined outputs: 2 x (B, 3, H, W) in [0, 1]."""
        check_size("the reference-guided model", image, self.size_multiple)
        x = image * 2.0 - 1.0
        guide = reference * 2.0 - 1.0
        known = x * (1.0 - mask)
        if self.prior is None:
            coarse = self.coarse(_stage_input(known, mask, guide, validity))
            out = self.refine(_stage_input(coarse * mask + known, mask, guide, validity))
            synthesis = torch.tanh(out[:, :3])
        else:
            with torch.no_grad():
                coarse = self.prior(image * (1.0 - mask), mask) * 2.0 - 1.0
            out = self.refine(_stage_input(coarse, mask, guide, validity))
            synthesis = (coarse + out[:, :3]).clamp(-1.0, 1.0)
        take = torch.sigmoid(out[:, 3:]) * validity
        refined = take * guide + (1.0 - take) * synthesis
        return (coarse + 1.0) * 0.5, (refined + 1.0) * 0.5

    def forward(self, image: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor,
                validity: torch.Tensor) -> torch.Tensor:
        """Inpaint with a reference: (B,3,H,W), (B,1,H,W), (B,3,H,W), (B,1,H,W) -> (B,3,H,W), known pixels kept."""
        _, refined = self.forward_train(image, mask, reference, validity)
        return mask * refined + (1.0 - mask) * image


@register_model("reference_guided")
def reference_guided(cnum: int = 32, in_size: int = 256, prior: dict | None = None) -> ReferenceGuidedGenerator:
    """Reference-guided generator; GPU model ``cnum=32, in_size=256``, CPU model ``cnum=16, in_size=128``;
    ``prior``: a frozen no-reference model as the coarse stage."""
    return ReferenceGuidedGenerator(cnum=cnum, in_size=in_size, prior=prior)
