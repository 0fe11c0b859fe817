"""``unmask export``'s check that ONNX Runtime answers like PyTorch, on real faces with synthetic occlusions.

    unmask export --model SPEC -o model.onnx    (SPEC: a name, a .safetensors file, a run folder; see models.load)

The export itself is :func:`unmask.models.onnx_export.export_onnx`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from skimage import data

from unmask.errors import UnmaskError
from unmask.face import align_face, detect_faces, transform_face
from unmask.io import image_to_tensor, mask_to_tensor
from unmask.models.onnx_export import graph_inputs
from unmask.occlusion import occlude

PARITY_TOLERANCE = 1e-3


def parity_batch(size: int, faces: list[np.ndarray] | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Real aligned faces with synthetic occlusions: (N, 3, size, size) images and (N, 1, size, size) masks.

    ``faces``: RGB uint8 photos with a face (default: scikit-image's astronaut, offline). Each face is aligned
    and occluded by a surgical mask and by an eye bar, so the hole both touches and misses the attention's
    background patches.
    """
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
