"""A model loaded from an ONNX file that answers ``model(image, mask) -> image`` like the PyTorch models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.models.registry import check_size

INPUT_NAMES = ("image", "mask")
REFERENCE_INPUT_NAMES = ("image", "mask", "reference", "validity")  # graphs of reference-guided models


def session_options(threads: int | None = None):
    """ONNX Runtime options for inference here: full graph optimisation, ``threads`` intra-op threads, sequential.

    ``threads`` defaults to ``torch.get_num_threads()`` (so ``OMP_NUM_THREADS`` and ``torch.set_num_threads``
    govern both backends alike); one inter-op thread, since the graph is a chain of convolutions.
    """
    import onnxruntime as ort  # start-up time: ONNX Runtime is read only when an ONNX model runs

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return options


class OnnxInpainter(nn.Module):
    """An exported inpainting graph run by ONNX Runtime.

    ``forward(image (B, 3, H, W) in [0, 1], mask (B, 1, H, W), 1 = hole) -> (B, 3, H, W)`` on the image's device
    and dtype; H and W must be multiples of 8. A reference-guided graph (``needs_reference``) also takes
    ``reference`` (B, 3, H, W) and ``validity`` (B, 1, H, W), as ``unmask.models.reference_guided`` does.
    ``input_size`` is the crop size recorded at export, ``metadata`` everything ``unmask.export`` recorded (model,
    kwargs, weights). CUDA is used when onnxruntime-gpu offers it.
    """

    size_multiple = 8  # the export's dynamic H and W are multiples of 8 (unmask.models.onnx_export)

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort  # start-up time: ONNX Runtime is read only when an ONNX model runs

        self.path = Path(path)
        if not self.path.is_file():
            raise UnmaskError(f"{self.path}: no such file")
        providers = [name for name in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if name in ort.get_available_providers()]
        try:
            self.session = ort.InferenceSession(str(self.path), session_options(threads), providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types for bad files
            raise UnmaskError(f"{self.path}: not a loadable ONNX model ({str(error).splitlines()[0][:160]})") from None
        names = tuple(node.name for node in self.session.get_inputs())
        if names not in (INPUT_NAMES, REFERENCE_INPUT_NAMES):
            raise UnmaskError(f"{self.path}: expected inputs {', '.join(INPUT_NAMES)} (and "
                              f"{', '.join(REFERENCE_INPUT_NAMES[2:])} for a reference-guided model); the graph has "
                              f"{', '.join(names)}")
        self.input_names = names
        self.needs_reference = names == REFERENCE_INPUT_NAMES
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.model_name = self.metadata.get("unmask_model", self.path.stem)
        self.kwargs = json.loads(self.metadata.get("unmask_kwargs", "{}"))
        self.input_size = int(self.metadata.get("unmask_size", 256))

    def forward(self, image: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor | None = None,
                validity: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W), (B, 1, H, W)[, reference, validity] -> (B, 3, H, W), known pixels kept as given."""
        check_size(self.model_name, image, self.size_multiple)
        inputs = (image, mask, reference, validity)[: len(self.input_names)]
        if any(tensor is None for tensor in inputs):
            raise UnmaskError(f"{self.model_name} fills from a reference: pass reference and validity")
        feeds = {name: np.ascontiguousarray(tensor.detach().cpu().float().numpy())
                 for name, tensor in zip(self.input_names, inputs, strict=True)}
        (output,) = self.session.run(["output"], feeds)
        return torch.from_numpy(output).to(device=image.device, dtype=image.dtype)
