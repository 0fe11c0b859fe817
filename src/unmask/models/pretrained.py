"""Shipped weights: fp16 safetensors inside the package, checked against their recorded sha256, no pickle.

Front ends load models through :func:`unmask.models.load`, which calls :func:`load_pretrained` for shipped names.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import yaml
from safetensors.torch import load_file, save_file

from unmask.errors import UnmaskError
from unmask.io import sha256_of
from unmask.models.registry import create_model

WEIGHTS_DIR = Path(str(resources.files("unmask") / "assets" / "weights"))


def shipped_models() -> list[str]:
    """Names of the models that ship trained weights."""
    return sorted(path.stem for path in WEIGHTS_DIR.glob("*.yaml"))


def plain_models() -> list[str]:
    """Names of the shipped models called as ``model(image, mask)``: all but the reference-guided ones."""
    return [name for name in shipped_models() if not card(name).get("needs_reference", False)]


def card(name: str) -> dict[str, Any]:
    """The record next to a shipped weight file: model, kwargs, input size, sha256, training facts."""
    path = WEIGHTS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UnmaskError(f"no shipped weights for {name!r}; shipped: {', '.join(shipped_models()) or 'none'}")
    return yaml.safe_load(path.read_text())


def starting_weights(path: str, what: str) -> dict[str, torch.Tensor]:
    """The float32 tensors of a ``.safetensors`` file that ``what`` (e.g. "the generator" of a new run) starts from."""
    if not Path(path).is_file():
        raise UnmaskError(f"{path}: no such weights file to start {what} from")
    return {key: value.float() for key, value in load_file(path).items()}


@cache
def load_pretrained(name: str) -> nn.Module:
    """Build a shipped model in eval mode with its weights (verified sha256), float32, on the CPU."""
    record = card(name)
    weights = WEIGHTS_DIR / record["file"]
    if sha256_of(weights) != record["sha256"]:
        raise UnmaskError(f"{weights}: sha256 does not match the recorded one; reinstall unmask")
    model = create_model(record["model"], **record.get("kwargs", {}))
    state = {key: value.float() for key, value in load_file(str(weights)).items()}
    model.load_state_dict(state)
    model.input_size = int(record["size"])
    return model.eval().requires_grad_(False)


def save_shipped(name: str, state: dict[str, torch.Tensor], record: dict[str, Any],
                 directory: Path = WEIGHTS_DIR) -> Path:
    """Write ``<name>.safetensors`` (fp16) and ``<name>.yaml`` (record + file name + sha256), replacing old ones."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.safetensors"
    save_file({key: value.detach().to(torch.float16).contiguous() for key, value in state.items()}, str(path))
    record = {**record, "file": path.name, "sha256": sha256_of(path)}
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    return path

