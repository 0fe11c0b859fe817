"""Read a training run folder back (its resolved ``config.yaml`` and checkpoints), for training, evaluation and
shipping alike. Checkpoints are read without running code: torch's weights-only unpickler builds tensors, numbers,
strings and plain containers and refuses anything else (a crafted file's ``os.system`` call included)."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
import yaml

from unmask.errors import UnmaskError


def _first_line(error: BaseException) -> str:
    text = str(error)
    named = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if named:
        return f"it asks for {named.group(1)}"
    return (text.strip().splitlines() or [type(error).__name__])[0][:160]


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The contents of a checkpoint file (``unmask train`` writes them), tensors on the CPU.

    Raises UnmaskError with one line for a missing or unreadable file, and for one that holds more than tensors
    and plain values: such a file is refused before any of its code could run.
    """
    path = Path(path)
    if not path.is_file():
        raise UnmaskError(f"{path}: no such checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnmaskError(f"{path}: refused: not a checkpoint of plain tensors ({_first_line(error)}); only "
                          f"checkpoints written by `unmask train` are read") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise UnmaskError(f"{path}: not a readable checkpoint ({_first_line(error)})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UnmaskError(f"{path}: not a training checkpoint (no state_dict)")
    return checkpoint


def resolve_resume(resume: str | None, run_dir: Path) -> str | None:
    """``last`` -> the run's newest last checkpoint if any; a path is checked; None starts fresh.

    The newest, because Lightning writes ``last-v1.ckpt`` beside a ``last.ckpt`` it did not write itself (a run
    folder copied from another run and resumed there).
    """
    if resume is None:
        return None
    if resume == "last":
        lasts = sorted((run_dir / "checkpoints").glob("last*.ckpt"), key=lambda path: path.stat().st_mtime)
        return str(lasts[-1]) if lasts else None
    if not Path(resume).is_file():
        raise UnmaskError(f"{resume}: no such checkpoint")
    return resume


def submodule_state(checkpoint: dict[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """The weights of the submodule at ``prefix`` (e.g. ``ema.``) in a loaded checkpoint, without the prefix."""
    return {key[len(prefix):]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)}


def load_run(run_dir: str | Path, prefix: str = "ema.",
             checkpoint_path: str | Path | None = None) -> tuple[dict[str, Any], int, dict[str, torch.Tensor]]:
    """A run folder's resolved config, a checkpoint's step, and the weights of the submodule at ``prefix`` (the EMA
    generator by default). The checkpoint is ``checkpoint_path`` (e.g. a kept ``step=001500.ckpt``) when given, else
    the run's newest last checkpoint."""
    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    last = resolve_resume(str(checkpoint_path) if checkpoint_path else "last", run_dir)
    if last is None:
        raise UnmaskError(f"{run_dir}: no checkpoints/last*.ckpt (has the run saved a checkpoint yet?)")
    checkpoint = load_checkpoint(last)
    return config, int(checkpoint["global_step"]), submodule_state(checkpoint, prefix)
