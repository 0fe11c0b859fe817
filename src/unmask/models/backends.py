"""Inference backends: the same ``model(image, mask) -> image`` from PyTorch or from ONNX Runtime.

``load_model(name, backend)`` is what the pipeline, ``unmask remove``, ``unmask evaluate`` and the server call.
A name ending in ``.onnx`` is an exported file; a registry name with ``backend="onnxruntime"`` runs the shipped
weights in ONNX Runtime, exported once from the verified safetensors into the cache folder (``UNMASK_CACHE``,
default ``~/.cache/unmask``). Classical fills have no network and run as they are under either backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from unmask.errors import UnmaskError

BACKENDS = ("torch", "onnxruntime")


def cache_dir() -> Path:
    """Where exported graphs of shipped weights are kept: ``$UNMASK_CACHE`` or ``~/.cache/unmask``."""
    return Path(os.environ.get("UNMASK_CACHE") or Path.home() / ".cache" / "unmask")


def is_learned(model: nn.Module) -> bool:
    """True for networks (they have parameters or an ONNX session), False for classical fills."""
    return any(True for _ in model.parameters()) or hasattr(model, "session")


def onnx_cache_path(name: str) -> Path:
    """Where the ONNX graph of ``name``'s shipped weights is kept once exported (named by the weights' sha256)."""
    from unmask.models.pretrained import card

    return cache_dir() / f"{name}-{card(name)['sha256'][:16]}.onnx"


def shipped_onnx(name: str) -> Path:
    """The ONNX graph of the shipped weights of ``name``, exported into the cache on first use.

    The export's sha256 is recorded beside it (``<file>.sha256``); a cached file is reused only when its actual
    sha256 equals that record, never on what its own metadata claims, so a replaced or damaged graph is exported
    again. The cache folder is created private (0700).
    """
    from unmask.export import export_onnx, source_for
    from unmask.models.onnx_backend import OnnxInpainter
    from unmask.models.pretrained import card, sha256_of

    digest = card(name)["sha256"]
    path = onnx_cache_path(name)
    record = path.with_name(f"{path.name}.sha256")
    if path.is_file() and record.is_file() and record.read_text().strip() == sha256_of(path):
        try:
            if OnnxInpainter(path).metadata.get("unmask_weights", "").endswith(f":{digest}"):
                return path
        except UnmaskError:
            pass  # a damaged cache file is exported again below
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    export_onnx(source_for(name), path)
    partial = record.with_name(f".{record.name}.partial")
    partial.write_text(sha256_of(path) + "\n")
    os.replace(partial, record)
    return path


def load_model(name: str, backend: str = "torch", threads: int | None = None) -> nn.Module:
    """The model ``name`` (registry name or ``.onnx`` file) ready for ``model(image, mask) -> image`` in eval mode.

    ``backend``: ``torch`` (default) or ``onnxruntime``; learned registry models need shipped weights to run in
    ONNX Runtime (export your own with ``unmask export`` and pass the ``.onnx`` file instead).
    """
    from unmask.models.onnx_backend import OnnxInpainter
    from unmask.models.pretrained import build_model, shipped_models

    if backend not in BACKENDS:
        raise UnmaskError(f"unknown backend {backend!r}; use {' or '.join(BACKENDS)}")
    if name.endswith(".onnx"):
        return OnnxInpainter(name, threads).eval()
    model = build_model(name)
    if not is_learned(model):
        return model
    if backend == "torch":
        # Channels-last: oneDNN's CPU convolutions prefer it (faster at 256², level at 128²: benchmarks/inference.py).
        return model.to(memory_format=torch.channels_last)
    if name not in shipped_models():
        raise UnmaskError(f"{name} has no shipped weights to run in ONNX Runtime; run `unmask export --model {name} "
                          f"--weights FILE.safetensors -o {name}.onnx` and pass {name}.onnx as the model")
    return OnnxInpainter(shipped_onnx(name), threads).eval()
