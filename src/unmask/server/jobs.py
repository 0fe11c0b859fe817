"""The work done in the server's worker processes: read uploads with ``unmask.io``, call the one ``Unmasker``.

Uploads arrive as bytes and are written under server-chosen names into a private temporary folder (mode 0700)
that is removed after the job; nothing a client names is ever used as a path.
"""

from __future__ import annotations

import base64
import inspect
import os
import tempfile
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from unmask.errors import UnmaskError
from unmask.face import detect_faces
from unmask.face.segment import find_occlusions
from unmask.io import load_image, load_mask, save_image
from unmask.models import list_models
from unmask.models.pretrained import shipped_models
from unmask.pipeline import Unmasker, default_model
from unmask.provenance import provenance_metadata
from unmask.server.tasks import NO_REFERENCE, RemoveResult, UploadError

# Pillow format -> suffix of the file written back; other formats come back as PNG.
FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}
MEDIA_TYPE = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".bmp": "image/bmp",
              ".tif": "image/tiff"}


def worker_pid() -> int:
    """The id of the worker process that ran this job (for supervising and testing the pool)."""
    return os.getpid()


def warm_up(backend: str = "torch") -> None:
    """Load the face detector and the models once, so a fresh worker's first request is not the slow one."""
    detect_faces(np.zeros((64, 64, 3), np.uint8))
    _models(backend)


def supports_reference() -> bool:
    """Whether this version's ``Unmasker.__call__`` takes a ``reference`` photo (looked up on every call)."""
    return "reference" in inspect.signature(Unmasker.__call__).parameters


@cache
def _models(backend: str) -> tuple[dict, ...]:
    """Every registered model and shipped variant (e.g. ``pconv_texture``: other weights for a registered net), and
    whether the pipeline accepts it under ``backend`` (learned ones need weights)."""
    default = default_model()
    models = []
    registered = list_models()
    for name in registered + [name for name in shipped_models() if name not in registered]:
        try:
            learned = _unmasker(name, backend).model.card.learned
            models.append({"name": name, "kind": "learned" if learned else "classical", "available": True,
                           "default": name == default})
        except UnmaskError as error:
            models.append({"name": name, "kind": "learned", "available": False, "default": False,
                           "reason": str(error)})
    return tuple(models)


def describe(backend: str = "torch") -> dict:
    """The models this installation can run and reference support, shaped as ``schemas.ModelsResponse``."""
    return {"default": default_model(), "models": list(_models(backend)), "reference_supported": supports_reference(),
            "backend": backend}


@cache
def _unmasker(model: str, backend: str) -> Unmasker:
    """One pipeline per model, backend and worker process, built on first use."""
    return Unmasker(model, backend=backend)


class _Uploads:
    """A private temporary folder holding one request's uploads under fixed names."""

    def __enter__(self) -> _Uploads:
        self._folder = tempfile.TemporaryDirectory(prefix="unmask-upload-")
        self.root = Path(self._folder.name)
        return self

    def __exit__(self, *exc) -> None:
        self._folder.cleanup()

    def _write(self, field: str, data: bytes) -> Path:
        path = self.root / field
        path.write_bytes(data)
        return path

    def _as_upload_error(self, field: str, error: UnmaskError) -> UploadError:
        return UploadError(str(error).replace(str(self.root / field), field))

    def image(self, field: str, data: bytes) -> np.ndarray:
        """The upload as an upright RGB uint8 array (H, W, 3) read by ``unmask.io.load_image``."""
        try:
            return load_image(self._write(field, data))
        except UnmaskError as error:
            raise self._as_upload_error(field, error) from None

    def mask(self, field: str, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        """The upload as a mask float32 (H, W), 1 = hole, that must match ``shape``."""
        try:
            return load_mask(self._write(field, data), shape)
        except UnmaskError as error:
            raise self._as_upload_error(field, error) from None

    def encode(self, image: np.ndarray, suffix: str, metadata: dict[str, str]) -> bytes:
        """Encode an RGB uint8 image in the format of ``suffix`` with ``unmask.io.save_image``."""
        return save_image(self.root / f"result{suffix}", image, metadata).read_bytes()


def remove_job(image: bytes, image_format: str | None, model: str, mask: bytes | None = None,
               reference: bytes | None = None, backend: str = "torch") -> RemoveResult:
    """Unmask one uploaded photo; the result keeps its size and (JPEG/PNG/WebP/BMP/TIFF) format."""
    suffix = FORMAT_SUFFIX.get(image_format or "", ".png")
    with _Uploads() as uploads:
        photo = uploads.image("image", image)
        hole = None if mask is None else uploads.mask("mask", mask, photo.shape)
        options = {}
        if reference is not None:
            if not supports_reference():
                raise UploadError(NO_REFERENCE)
            options["reference"] = uploads.image("reference", reference)
        result = _unmasker(model, backend)(photo, mask=hole, **options)
        metadata = provenance_metadata(model, result.mask)
        data = uploads.encode(np.asarray(result.image), suffix, metadata)
    return RemoveResult(data, MEDIA_TYPE[suffix], suffix, len(result.faces), metadata["unmask_region"],
                        list(getattr(result, "notes", [])))


def detect_job(image: bytes) -> dict:
    """Faces and occlusion mask of one uploaded photo, shaped as ``schemas.DetectResponse``."""
    with _Uploads() as uploads:
        photo = uploads.image("image", image)
    mask, faces = find_occlusions(photo)
    _, png = cv2.imencode(".png", (mask > 0).astype(np.uint8) * 255)
    return {
        "width": photo.shape[1], "height": photo.shape[0],
        "faces": [{"box": [float(v) for v in face.box], "score": float(face.score),
                   "keypoints": face.keypoints.astype(float).tolist()} for face in faces],
        "occluded_fraction": float((mask > 0).mean()),
        "mask_png": base64.b64encode(png.tobytes()).decode("ascii"),
    }
