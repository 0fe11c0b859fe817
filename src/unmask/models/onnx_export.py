"""ONNX export of a loaded model, and the cache of exported shipped weights that the ONNX Runtime backend runs.

The graph takes ``image`` (B, 3, H, W) float RGB in [0, 1] and ``mask`` (B, 1, H, W) float, 1 = hole (and
``reference``, ``validity`` for a reference-guided model) and returns ``output`` (B, 3, H, W), the composited
result: the same contract as ``model(image, mask)``. Batch, H and W are dynamic (H and W multiples of 8);
contextual attention is inside the graph. The file is one self-contained protobuf (no external data, no pickle)
carrying the model's card in its metadata (read back by :class:`unmask.models.onnx_backend.OnnxInpainter`).
Shipped weights are exported once into ``$UNMASK_CACHE`` (default ``~/.cache/unmask``), named by their sha256.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from unmask._version import __version__
from unmask.errors import UnmaskError
from unmask.io import sha256_of
from unmask.models.onnx_backend import INPUT_NAMES, REFERENCE_INPUT_NAMES, OnnxInpainter
from unmask.models.pretrained import card as shipped_card

OPSET = 18
OUTPUT_NAME = "output"
MAX_SIDE = 4096  # largest H or W the exported graph accepts


def graph_inputs(model: nn.Module, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The named inputs of ``model``'s graph for a batch: image and mask, and for a reference-guided model a
    reference (the mirrored face, an aligned second view of it) and a validity that is lower inside the hole."""
    if not getattr(model, "needs_reference", False):
        return dict(zip(INPUT_NAMES, (image, mask), strict=True))
    return dict(zip(REFERENCE_INPUT_NAMES, (image, mask, image.flip(-1), 1.0 - 0.5 * mask), strict=True))


def onnx_metadata(model: nn.Module) -> dict[str, str]:
    """The string metadata an exported graph records from ``model.card`` (see :func:`unmask.models.load`)."""
    card = model.card
    return {"unmask_model": card.model, "unmask_kwargs": json.dumps(card.kwargs, sort_keys=True),
            "unmask_size": str(card.input_size), "unmask_weights": card.weights, "unmask_version": __version__}


def export_onnx(model: nn.Module, path: str | os.PathLike, batch: int = 2) -> Path:
    """Export a model from :func:`unmask.models.load` to ``path`` (written atomically) with dynamic batch, H and
    W; returns the path.

    Traced on ``batch`` random images of the card's input size; H and W must stay multiples of 8 up to MAX_SIDE.
    """
    import onnx  # start-up time: the ONNX protobuf library is read only when exporting

    path, card = Path(path), model.card
    if path.suffix != ".onnx":
        raise UnmaskError(f"{path}: the output file must end in .onnx")
    if not card.learned:
        raise UnmaskError(f"{card.model} is a classical method with no network to export; choose a learned model")
    size = card.input_size
    if size % 8:
        raise UnmaskError(f"the export size must be a multiple of 8, got {size}")
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, size, size, generator=generator)
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 2: size * 7 // 8, size // 4: size * 3 // 4] = 1.0
    inputs = graph_inputs(model, image, mask)
    batch_dim = torch.export.Dim("batch", min=1, max=1024)
    height = torch.export.Dim("height8", min=2, max=MAX_SIDE // 8)
    width = torch.export.Dim("width8", min=2, max=MAX_SIDE // 8)
    axes = {0: batch_dim, 2: 8 * height, 3: 8 * width}
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter logs every torchvision op it cannot register
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model.eval(), tuple(inputs.values()), dynamo=True, opset_version=OPSET,
                                        input_names=list(inputs), output_names=[OUTPUT_NAME],
                                        dynamic_shapes=dict.fromkeys(inputs, axes), verbose=False)
    except Exception as error:  # torch.export / onnxscript report unsupported constructs in many types
        raise UnmaskError(f"{card.model}: ONNX export failed ({type(error).__name__}: "
                          f"{str(error).strip().splitlines()[0][:200]})") from None
    finally:
        quiet.setLevel(level)
    proto = program.model_proto
    for key, value in onnx_metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    try:
        onnx.save_model(proto, temp_name, save_as_external_data=False)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def cache_dir() -> Path:
    """Where exported graphs of shipped weights are kept: ``$UNMASK_CACHE`` or ``~/.cache/unmask``."""
    return Path(os.environ.get("UNMASK_CACHE") or Path.home() / ".cache" / "unmask")


def onnx_cache_path(name: str) -> Path:
    """Where the ONNX graph of ``name``'s shipped weights is kept once exported (named by the weights' sha256)."""
    return cache_dir() / f"{name}-{shipped_card(name)['sha256'][:16]}.onnx"


def shipped_onnx(name: str, model: nn.Module) -> Path:
    """The ONNX graph of the shipped weights of ``name`` (loaded as ``model``), exported into the cache on first use.

    The export's sha256 is recorded beside it (``<file>.sha256``); a cached file is reused only when its actual
    sha256 equals that record, never on what its own metadata claims, so a replaced or damaged graph is exported
    again. The cache folder is created private (0700).
    """
    digest = shipped_card(name)["sha256"]
    path = onnx_cache_path(name)
    record = path.with_name(f"{path.name}.sha256")
    if path.is_file() and record.is_file() and record.read_text().strip() == sha256_of(path):
        try:
            if OnnxInpainter(path).metadata.get("unmask_weights", "").endswith(f":{digest}"):
                return path
        except UnmaskError:
            pass  # a damaged cache file is exported again below
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    export_onnx(model, path)
    partial = record.with_name(f".{record.name}.partial")
    partial.write_text(sha256_of(path) + "\n")
    os.replace(partial, record)
    return path
