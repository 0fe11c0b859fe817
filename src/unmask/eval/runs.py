"""Model specs for evaluation: each through :func:`unmask.models.load`, untrained networks refused."""

from __future__ import annotations

import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models import load


def resolve_model_specs(specs: list[str | tuple[str, nn.Module]],
                        backend: str = "torch") -> list[tuple[str, nn.Module]]:
    """(label, model) for every spec: names, weight files, ``.onnx`` files, run folders and checkpoints inside them
    are loaded (labelled as given, a run as ``<run>@<step>`` with its EMA generator); pairs stay as given.

    A learned registry model without shipped weights is refused: scoring its random initial weights would
    put meaningless numbers in the table.
    """
    resolved: list[tuple[str, nn.Module]] = []
    for spec in specs:
        if not isinstance(spec, str):
            resolved.append(spec)
            continue
        model = load(spec, backend)
        if not model.card.trained:
            raise UnmaskError(f"model {spec!r} has no trained weights shipped; pass its training run folder instead "
                              f"(e.g. runs/{spec}_cpu)")
        resolved.append((model.card.label, model))
    return resolved
