"""Model specs for evaluation: registry names, or training-run folders scored with their EMA generator."""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models import create_model, list_models
from unmask.models.pretrained import shipped_models
from unmask.run_folder import load_run


def load_run_generator(run: str | Path) -> tuple[str, nn.Module]:
    """The EMA generator of ``run/checkpoints/last.ckpt`` (our own file), or of a checkpoint file
    ``RUN/checkpoints/<name>.ckpt`` given itself, and a label ``<run name>@<step>``."""
    run, checkpoint = Path(run), None
    if run.suffix == ".ckpt":
        run, checkpoint = run.parent.parent, run
    config, step, ema = load_run(run, checkpoint_path=checkpoint)
    generator = config["model"]["generator"]
    model = create_model(generator["name"], **generator.get("kwargs", {}))
    model.load_state_dict(ema)
    return f"{run.name}@{step}", model.eval()


def _is_run_checkpoint(path: Path) -> bool:
    """True for a checkpoint file inside a training run's ``checkpoints/`` folder (beside ``config.yaml``)."""
    return path.suffix == ".ckpt" and path.is_file() and (path.parent.parent / "config.yaml").is_file()


def resolve_model_specs(specs: list[str | tuple[str, nn.Module]]) -> list[str | tuple[str, nn.Module]]:
    """Run folders (with ``checkpoints/last.ckpt``) and checkpoints inside them become (label, EMA generator); names
    and pairs stay as given.

    A learned registry model without shipped weights is refused: scoring its random initial weights would
    put meaningless numbers in the table.
    """
    resolved: list[str | tuple[str, nn.Module]] = []
    for spec in specs:
        if not isinstance(spec, str):
            resolved.append(spec)
        elif (Path(spec) / "checkpoints" / "last.ckpt").is_file() or _is_run_checkpoint(Path(spec)):
            resolved.append(load_run_generator(spec))
        elif spec in list_models() and spec not in shipped_models() and any(
            True for _ in create_model(spec).parameters()
        ):
            raise UnmaskError(f"model {spec!r} has no trained weights shipped; pass its training run folder instead "
                              f"(e.g. runs/{spec}_cpu)")
        else:
            resolved.append(spec)
    return resolved
