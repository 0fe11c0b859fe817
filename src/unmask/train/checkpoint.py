"""Read a training checkpoint without running code: torch's weights-only unpickler, which builds tensors, numbers,
strings and plain containers and refuses anything else (a crafted file's ``os.system`` call included)."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

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
