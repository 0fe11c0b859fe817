"""ONNX export of the learned inpainting models, and the check that ONNX Runtime answers like PyTorch.

    unmask export --model deepfill -o deepfill.onnx [--weights FILE.safetensors] [--cnum 16 --size 128]

The graph takes ``image`` (B, 3, H, W) float RGB in [0, 1] and ``mask`` (B, 1, H, W) float, 1 = hole, and
returns ``output`` (B, 3, H, W), the composited result: the same contract as ``model(image, mask)``. Batch, H
and W are dynamic (H and W multiples of 8); contextual attention is inside the graph. The file is one
self-contained protobuf (no external data, no pickle) carrying where its weights came from in its metadata.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models.onnx_backend import INPUT_NAMES, REFERENCE_INPUT_NAMES

OPSET = 18
OUTPUT_NAME = "output"
PARITY_TOLERANCE = 1e-3
MAX_SIDE = 4096  # largest H or W the exported graph accepts


@dataclass
class ExportSource:
    """A model ready to export and the facts its ONNX metadata records.

    model: eval-mode module answering ``model(image, mask) -> image``. size: the square crop it was trained at.
    weights: ``shipped:<sha256>``, ``file:<sha256>`` or ``random`` (freshly built, untrained).
    """

    model: nn.Module
    name: str
    kwargs: dict = field(default_factory=dict)
    size: int = 256
    weights: str = "random"

    def metadata(self) -> dict[str, str]:
        """String metadata stored in the ONNX file (read back by ``unmask.models.onnx_backend``)."""
        from unmask import __version__

        return {"unmask_model": self.name, "unmask_kwargs": json.dumps(self.kwargs, sort_keys=True),
                "unmask_size": str(self.size), "unmask_weights": self.weights, "unmask_version": __version__}


def graph_inputs(model: nn.Module, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The named inputs of ``model``'s graph for a batch: image and mask, and for a reference-guided model a
    reference (the mirrored face, an aligned second view of it) and a validity that is lower inside the hole."""
    if not getattr(model, "needs_reference", False):
        return dict(zip(INPUT_NAMES, (image, mask), strict=True))
    return dict(zip(REFERENCE_INPUT_NAMES, (image, mask, image.flip(-1), 1.0 - 0.5 * mask), strict=True))


def _is_learned(model: nn.Module) -> bool:
    """True when the module has parameters (classical OpenCV/scikit-image fills have none)."""
    return any(True for _ in model.parameters())


def _weights_file_record(path: Path) -> dict:
    """The ``<file>.yaml`` record written beside a safetensors file by ``save_shipped``, or ``{}``."""
    import yaml

    record_path = path.with_suffix(".yaml")
    return (yaml.safe_load(record_path.read_text()) or {}) if record_path.is_file() else {}


def source_for(name: str, weights: str | os.PathLike | None = None, sha256: str | None = None,
               kwargs: dict | None = None, size: int | None = None) -> ExportSource:
    """The model to export: a user's safetensors file, else the shipped weights, else a freshly built model.

    ``weights``: a ``.safetensors`` file (read without pickle); its sha256 must equal ``sha256`` when given, or
    the one recorded in a ``<file>.yaml`` beside it. ``kwargs`` and ``size`` override the builder's arguments
    and the crop size (the record beside the file, or the shipped card, provides them otherwise).
    """
    from safetensors.torch import load_file

    from unmask.models.pretrained import card, load_pretrained, sha256_of, shipped_models
    from unmask.models.registry import create_model

    if weights is not None:
        path = Path(weights)
        if path.suffix != ".safetensors":
            raise UnmaskError(f"{path}: weights must be a .safetensors file (pickled checkpoints are not loaded)")
        if not path.is_file():
            raise UnmaskError(f"{path}: no such file")
        record = _weights_file_record(path)
        digest = sha256_of(path)
        expected = sha256 or record.get("sha256")
        if expected and digest != expected.lower():
            raise UnmaskError(f"{path}: sha256 {digest[:12]}… does not match the expected {expected[:12]}…")
        arguments = {**record.get("kwargs", {}), **(kwargs or {})}
        model = create_model(name, **arguments)
        try:
            state = {key: value.float() for key, value in load_file(str(path)).items()}
            model.load_state_dict(state)
        except Exception as error:  # safetensors header errors, missing / unexpected keys, shape mismatches
            raise UnmaskError(f"{path}: cannot load into {name}({arguments}): {str(error).splitlines()[0]}") from None
        crop = size or int(record.get("size", arguments.get("in_size", getattr(model, "in_size", 256))))
        return ExportSource(model.eval(), name, arguments, crop, f"file:{digest}")
    if name in shipped_models() and not kwargs:
        record = card(name)
        return ExportSource(load_pretrained(name), name, record.get("kwargs", {}), size or int(record["size"]),
                            f"shipped:{record['sha256']}")
    model = create_model(name, **(kwargs or {}))
    if not _is_learned(model):
        raise UnmaskError(f"{name} is a classical method with no network to export; choose a learned model")
    crop = size or int(getattr(model, "in_size", 256))
    return ExportSource(model.eval(), name, dict(kwargs or {}), crop, "random")


def export_onnx(source: ExportSource, path: str | os.PathLike, batch: int = 2) -> Path:
    """Export ``source.model`` to ``path`` (written atomically) with dynamic batch, H and W; returns the path.

    Traced on ``batch`` random images of ``source.size``²; H and W must stay multiples of 8 up to MAX_SIDE.
    """
    import onnx

    path = Path(path)
    if path.suffix != ".onnx":
        raise UnmaskError(f"{path}: the output file must end in .onnx")
    size = source.size
    if size % 8:
        raise UnmaskError(f"the export size must be a multiple of 8, got {size}")
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, size, size, generator=generator)
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 2: size * 7 // 8, size // 4: size * 3 // 4] = 1.0
    inputs = graph_inputs(source.model, image, mask)
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
            program = torch.onnx.export(source.model.eval(), tuple(inputs.values()), dynamo=True, opset_version=OPSET,
                                        input_names=list(inputs), output_names=[OUTPUT_NAME],
                                        dynamic_shapes=dict.fromkeys(inputs, axes), verbose=False)
    except Exception as error:  # torch.export / onnxscript report unsupported constructs in many types
        raise UnmaskError(f"{source.name}: ONNX export failed ({type(error).__name__}: "
                          f"{str(error).strip().splitlines()[0][:200]})") from None
    finally:
        quiet.setLevel(level)
    proto = program.model_proto
    for key, value in source.metadata().items():
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


def parity_batch(size: int, faces: list[np.ndarray] | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Real aligned faces with synthetic occlusions: (N, 3, size, size) images and (N, 1, size, size) masks.

    ``faces``: RGB uint8 photos with a face (default: scikit-image's astronaut, offline). Each face is aligned
    and occluded by a surgical mask and by an eye bar, so the hole both touches and misses the attention's
    background patches.
    """
    from skimage import data

    from unmask.face import align_face, detect_faces, transform_face
    from unmask.io import image_to_tensor, mask_to_tensor
    from unmask.occlusion import occlude

    images, masks = [], []
    rng = np.random.default_rng(seed)
    for photo in faces if faces is not None else [data.astronaut()]:
        found = detect_faces(photo, max_faces=1)
        if not found:
            continue
        aligned = align_face(photo, found[0], size=size)
        face = transform_face(found[0], aligned.matrix)
        for kind in ("surgical", "bar"):
            occluded, hole = occlude(aligned.image, kind, rng, face=face)
            images.append(image_to_tensor(occluded))
            masks.append(mask_to_tensor(hole))
    if not images:
        raise UnmaskError("no face found in the parity photos")
    return torch.cat(images), torch.cat(masks)


def max_abs_difference(model: nn.Module, onnx_model: nn.Module, image: torch.Tensor, mask: torch.Tensor) -> float:
    """Largest |PyTorch - ONNX Runtime| over a batch: (B, 3, H, W), (B, 1, H, W) -> float (a reference-guided
    model gets the inputs of :func:`graph_inputs`)."""
    inputs = tuple(graph_inputs(model, image, mask).values())
    with torch.inference_mode():
        expected = model(*inputs)
    return float((onnx_model(*inputs) - expected).abs().max())
