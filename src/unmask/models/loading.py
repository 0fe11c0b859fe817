"""One door from a model spec to a ready model: ``load(spec, backend=...)``, and the card the model declares.

A spec is any of: a registry name (a classical fill, or a learned model: with its shipped weights when they
exist, else untrained), a ``.safetensors`` file (the model, its arguments and crop size from the ``<file>.yaml``
record beside it, as ``save_shipped`` writes; or from ``model=`` and ``kwargs=``), an exported ``.onnx`` file, a
training run folder (its newest ``checkpoints/last*.ckpt``) or a checkpoint file inside one (the EMA generator),
or an ``nn.Module`` the caller built. The model comes back in eval mode with ``model.card`` (a :class:`ModelCard`)
and ``model.input_size`` set; the CLI (``remove``, ``evaluate``, ``export``), the server and the scripts take the
same specs through it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn as nn
import yaml
from safetensors.torch import load_file

from unmask.errors import UnmaskError
from unmask.io import sha256_of
from unmask.models.onnx_backend import OnnxInpainter
from unmask.models.onnx_export import shipped_onnx
from unmask.models.pretrained import card as shipped_card
from unmask.models.pretrained import load_pretrained, shipped_models
from unmask.models.registry import create_model
from unmask.run_folder import load_run, resolve_resume

BACKENDS = ("torch", "onnxruntime")
DEFAULT_SIZE = 256  # the crop size of a model that declares none (the classical fills)


@dataclass(frozen=True)
class ModelCard:
    """What a loaded model declares about itself.

    label: how results name it (the spec as given, ``<run>@<step>`` for a run). model, kwargs: the registry
    builder and its arguments. input_size: the square crop it fills; size_multiple: H and W must be multiples of
    it. needs_reference: called as ``model(image, mask, reference, validity)``. learned: a network (False: a
    classical fill). weights: ``shipped:<sha256>``, ``file:<sha256>``, ``run:<sha256>``, ``given`` (built by the
    caller), ``random`` (an untrained network) or ``none`` (classical). sha256: of the file it was read from.
    """

    label: str
    model: str
    input_size: int = DEFAULT_SIZE
    size_multiple: int = 1
    needs_reference: bool = False
    learned: bool = False
    weights: str = "none"
    sha256: str | None = None
    kwargs: dict = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """False only for a learned model with untrained (random) weights."""
        return not self.learned or self.weights != "random"


def _declare(model: nn.Module, label: str, name: str, kwargs: dict | None = None, weights: str | None = None,
             sha256: str | None = None, size: int | None = None) -> nn.Module:
    """Attach ``model.card`` (facts not given are read from the model) and ``model.input_size``; eval mode."""
    learned = isinstance(model, OnnxInpainter) or any(True for _ in model.parameters())
    size = int(size or getattr(model, "input_size", getattr(model, "in_size", DEFAULT_SIZE)))
    model.card = ModelCard(label, name, size, int(getattr(model, "size_multiple", 1)),
                           bool(getattr(model, "needs_reference", False)), learned,
                           weights or ("random" if learned else "none"), sha256, dict(kwargs or {}))
    model.input_size = size
    return model.eval()


def _weights_record(path: Path) -> dict:
    """The ``<file>.yaml`` record written beside a safetensors file by ``save_shipped``, or ``{}``."""
    record_path = path.with_suffix(".yaml")
    return (yaml.safe_load(record_path.read_text()) or {}) if record_path.is_file() else {}


def _from_safetensors(path: Path, name: str | None, kwargs: dict | None, size: int | None,
                      sha256: str | None) -> nn.Module:
    """A model built from the record beside ``path`` (or ``name``/``kwargs``) with the file's weights."""
    if not path.is_file():
        raise UnmaskError(f"{path}: no such file")
    record = _weights_record(path)
    name = name or record.get("model")
    if name is None:
        raise UnmaskError(f"{path}: no record {path.with_suffix('.yaml').name} beside it says which model it holds; "
                          "pass the model name (unmask export --model NAME --weights FILE)")
    digest = sha256_of(path)
    expected = sha256 or record.get("sha256")
    if expected and digest != expected.lower():
        raise UnmaskError(f"{path}: sha256 {digest[:12]}… does not match the expected {expected[:12]}…")
    arguments = {**record.get("kwargs", {}), **(kwargs or {})}
    model = create_model(name, **arguments)
    try:
        model.load_state_dict({key: value.float() for key, value in load_file(str(path)).items()})
    except Exception as error:  # safetensors header errors, missing / unexpected keys, shape mismatches
        raise UnmaskError(f"{path}: cannot load into {name}({arguments}): {str(error).splitlines()[0]}") from None
    crop = size or record.get("size") or arguments.get("in_size")
    return _declare(model, str(path), name, arguments, f"file:{digest}", digest, crop)


def _from_run(path: Path) -> nn.Module:
    """The EMA generator of a run folder's newest last checkpoint, or of a checkpoint file inside a run."""
    run, checkpoint = (path.parent.parent, path) if path.suffix == ".ckpt" else (path, None)
    if not (run / "config.yaml").is_file():
        raise UnmaskError(f"{path}: not a checkpoint inside a training run folder (no {run / 'config.yaml'})")
    checkpoint = checkpoint or resolve_resume("last", run)
    config, step, ema = load_run(run, checkpoint_path=checkpoint)
    generator = config.get("model", {}).get("generator")
    if generator is None:
        raise UnmaskError(f"{run}: not an inpainting run (its config has no model.generator)")
    kwargs = generator.get("kwargs", {})
    model = create_model(generator["name"], **kwargs)
    model.load_state_dict(ema)
    digest = sha256_of(checkpoint)
    return _declare(model, f"{run.name}@{step}", generator["name"], kwargs, f"run:{digest}", digest)


def _from_registry(name: str, kwargs: dict | None, size: int | None) -> nn.Module:
    """A registry model: its shipped weights when they exist (and no ``kwargs`` change it), else as built."""
    if name in shipped_models() and not kwargs:
        record = shipped_card(name)
        return _declare(load_pretrained(name), name, name, record.get("kwargs", {}), f"shipped:{record['sha256']}",
                        record["sha256"], size or record["size"])
    return _declare(create_model(name, **(kwargs or {})), name, name, kwargs, size=size)


def load(spec: str | os.PathLike | nn.Module, backend: str = "torch", *, model: str | None = None,
         kwargs: dict | None = None, size: int | None = None, sha256: str | None = None,
         threads: int | None = None) -> nn.Module:
    """The model ``spec`` names (see the module docstring), in eval mode with ``.card`` and ``.input_size``.

    ``backend``: ``torch`` (learned models in channels-last) or ``onnxruntime`` (an ``.onnx`` file, or shipped
    weights exported once into the cache; classical fills run as they are). ``model``, ``kwargs``, ``size``,
    ``sha256``: the builder, its arguments, the crop size and the expected sha256 of a ``.safetensors`` spec
    (``kwargs`` also rebuild a registry model untrained). ``threads``: ONNX Runtime intra-op threads.
    """
    if backend not in BACKENDS:
        raise UnmaskError(f"unknown backend {backend!r}; use {' or '.join(BACKENDS)}")
    if isinstance(spec, nn.Module):
        if not hasattr(spec, "card"):
            _declare(spec, type(spec).__name__, type(spec).__name__, weights="given")
        return spec.eval()
    text, path = str(spec), Path(spec)
    if model is not None and path.suffix != ".safetensors":
        raise UnmaskError(f"{path}: weights must be a .safetensors file (pickled checkpoints are not loaded)")
    if path.suffix == ".onnx":
        onnx, digest = OnnxInpainter(path, threads), sha256_of(path)  # its own claim stays in onnx.metadata
        return _declare(onnx, text, onnx.model_name, onnx.kwargs, f"file:{digest}", digest)
    if path.suffix == ".safetensors":
        built = _from_safetensors(path, model, kwargs, size, sha256)
    elif path.suffix == ".ckpt" or (path / "config.yaml").is_file():  # a checkpoint or a training run folder
        built = _from_run(path)
    else:
        built = _from_registry(text, kwargs, size)
    card = built.card
    if not card.learned:
        return built
    if backend == "torch":
        # Channels-last: oneDNN's CPU convolutions prefer it (faster at 256², level at 128²: benchmarks/inference.py).
        return built.to(memory_format=torch.channels_last)
    if not card.weights.startswith("shipped:"):
        raise UnmaskError(f"{text} has no shipped weights to run in ONNX Runtime; export it with `unmask export "
                          f"--model {text} -o model.onnx` and pass model.onnx as the model")
    onnx = OnnxInpainter(shipped_onnx(card.model, built), threads)
    onnx.card, onnx.input_size = replace(card, size_multiple=onnx.size_multiple), card.input_size
    return onnx.eval()
