"""Function-preserving widening of a trained DeepFill v2 generator (Net2WiderNet, Chen et al. 2016).

A ``cnum=c`` generator becomes a ``cnum=k*c`` one that computes the same image: every internal channel (both the
feature and the gate half of each gated conv) is copied ``k`` times, and each layer splits the weights it reads
from the ``k`` copies of a channel into ``k`` random shares that sum to the original weight. Because the copies
hold equal values the sums are unchanged. Contextual attention scores unit-norm background patches against
foreground windows of their own norm, which copying would grow by ``sqrt(k)``: the features it reads (a ReLU gated
conv, so positively homogeneous) are scaled by ``1 / sqrt(k)`` and the layer after it reads them ``sqrt(k)`` times
stronger. Unequal shares break the symmetry, so the copies drift apart when training goes on. Weights of the same
width (``k = 1``) come back unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models.deepfill import DeepFillV2Generator
from unmask.models.layers import GatedConv2d

# Convs whose input is a concatenation of equally wide parts (dilated branch, attention branch).
_CONCATENATED_INPUTS = {"refine_decoder.0.conv": 2}
# The ReLU gated conv whose output contextual attention matches and copies, and the conv that reads the result.
_ATTENTION_FEATURES, _ATTENTION_READER = "refine_attention_encoder.5.conv", "refine_attention_decoder.0.conv"


def _source_index(new_size: int, old_size: int, groups: int) -> torch.Tensor:
    """For each of ``new_size`` channels, the old channel it copies; channels form ``groups`` equal blocks."""
    new_block, old_block = new_size // groups, old_size // groups
    index = torch.arange(new_size)
    return (index // new_block) * old_block + (index % new_block) % old_block


def _random_shares(shape: tuple[int, ...], copies: torch.Tensor, factor: int, spread: float,
                   generator: torch.Generator) -> torch.Tensor:
    """Per-weight shares along dim 1 that sum to 1 over the ``factor`` copies of each old input channel.

    ``copies[j]`` is the old input channel new input channel ``j`` copies; shares are ``1 / factor`` plus noise of
    relative size ``spread`` with zero sum over each channel's copies.
    """
    noise = torch.randn(shape, generator=generator) * spread
    per_old = torch.zeros(shape[0], shape[1] // factor, *shape[2:]).index_add_(1, copies, noise)
    return 1.0 / factor + noise - (per_old / factor).index_select(1, copies)


def _widen_conv(name: str, conv: nn.Conv2d, gated: bool, weight: torch.Tensor, bias: torch.Tensor,
                spread: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The wide conv's weight and bias from the narrow one's (``weight`` is (O, I, kh, kw))."""
    new_out, new_in = conv.out_channels, conv.in_channels
    old_out, old_in = weight.shape[:2]
    if new_out % old_out or new_in % old_in:
        raise UnmaskError(f"{name}: {tuple(weight.shape[:2])} channels do not divide {(new_out, new_in)}")
    rows = _source_index(new_out, old_out, 2 if gated else 1)
    columns = _source_index(new_in, old_in, _CONCATENATED_INPUTS.get(name, 1))
    wide = weight.index_select(0, rows).index_select(1, columns)
    wide_bias = bias.index_select(0, rows)
    if new_in != old_in:
        wide = wide * _random_shares(tuple(wide.shape), columns, new_in // old_in, spread, generator)
    if name == _ATTENTION_FEATURES:
        features = slice(0, new_out // 2)  # the feature half; the gate half is left alone
        wide[features] /= (new_out / old_out) ** 0.5
        wide_bias[features] /= (new_out / old_out) ** 0.5
    if name == _ATTENTION_READER:
        wide = wide * (new_in / old_in) ** 0.5
    return wide, wide_bias


def widen_deepfill(state: dict[str, torch.Tensor], model: DeepFillV2Generator, spread: float = 0.1,
                   seed: int = 0) -> dict[str, torch.Tensor]:
    """State dict for ``model`` (wider, ``cnum`` a multiple of the narrow one's) computing what ``state`` computes.

    ``spread``: relative noise of the weight shares (0 keeps the copies identical for ever).
    """
    generator = torch.Generator().manual_seed(seed)
    gated_convs = {f"{name}.conv" for name, module in model.named_modules() if isinstance(module, GatedConv2d)}
    wide: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if f"{name}.weight" not in state:
            raise UnmaskError(f"{name}.weight: missing from the weights to widen; are they a DeepFill generator?")
        weight, bias = _widen_conv(name, module, name in gated_convs, state[f"{name}.weight"].float(),
                                   state[f"{name}.bias"].float(), spread, generator)
        wide[f"{name}.weight"], wide[f"{name}.bias"] = weight, bias
    return wide
