"""The one end-to-end path: detect faces -> align -> find or take the occlusion -> inpaint -> blend -> paste back."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from unmask.errors import UnmaskError
from unmask.face import Face, align_face, detect_faces, unwarp
from unmask.face.segment import find_occlusions
from unmask.io import as_rgb_uint8, image_to_tensor, mask_to_tensor, tensor_to_image
from unmask.models.pretrained import build_model, shipped_models

DEFAULT_MODEL = "deepfill"
FALLBACK_MODEL = "telea"  # used until trained DeepFill weights are shipped
CLASSICAL_SIZE = 256  # crop size for models without shipped weights (classical baselines)


@dataclass
class UnmaskResult:
    """What ``Unmasker`` returns: the edited photo (same type as the input), the hole it filled and the faces."""

    image: np.ndarray | Image.Image | torch.Tensor
    mask: np.ndarray  # uint8 (H, W), 1 = pixels that were synthesized
    faces: list[Face] = field(default_factory=list)


def _feather(mask: np.ndarray, width: float) -> np.ndarray:
    """Alpha that is 0 outside the hole and ramps to 1 over ``width`` px inside it: float32 (H, W)."""
    if width <= 0:
        return mask.astype(np.float32)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(inside / width, 0, 1).astype(np.float32) * (mask > 0)


def _grow(mask: np.ndarray, width: float) -> np.ndarray:
    """Dilate a found mask by ``width`` px, so its feathered edge covers the occluder's last pixels."""
    size = 2 * int(round(width)) + 1
    return cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))


def _match_colour(result: np.ndarray, original: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Shift the pasted hole's colour by the mean offset between original and result on a ring around it."""
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~hole.astype(bool)
    if ring.sum() < 10:
        return result
    offset = original[ring].astype(np.float32).mean(0) - result[ring].astype(np.float32).mean(0)
    shifted = result.astype(np.float32)
    shifted[hole > 0] += offset
    return np.clip(shifted + 0.5, 0, 255).astype(np.uint8)


def default_model() -> str:
    """The shipped DeepFill model when its weights are installed, else the best-tested classical fill."""
    return DEFAULT_MODEL if DEFAULT_MODEL in shipped_models() else FALLBACK_MODEL


class Unmasker:
    """Remove what covers the faces in a photo: ``Unmasker()(image, mask=None) -> UnmaskResult``.

    ``image``: path, PIL image, numpy HWC (uint8 or float in [0, 1]) or torch (3, H, W)/(1, 3, H, W) in [0, 1].
    ``mask``: optional, same forms, non-zero = hole; found automatically (face masks, eye bars) when omitted.
    Each face is aligned, inpainted at the model's size and pasted back into the full-resolution photo;
    pixels outside the hole are returned unchanged. A given mask is filled exactly; a found mask is grown by
    ``feather`` px and blended over that band. ``UnmaskResult.mask`` is every pixel that was changed.
    """

    def __init__(self, model: str | None = None, feather: float = 3.0) -> None:
        model = model or default_model()
        self.model_name = model
        self.model: nn.Module = build_model(model)
        if model not in shipped_models() and any(True for _ in self.model.parameters()):
            raise UnmaskError(f"model {model!r} has no trained weights shipped; choose one of "
                              f"{', '.join(shipped_models() + ['telea', 'ns', 'biharmonic', 'patchmatch'])}")
        self.size = int(getattr(self.model, "input_size", CLASSICAL_SIZE))
        self.feather = feather

    def _fill_face(self, photo: np.ndarray, face: Face, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inpaint one face; returns the face's result in photo frame and the part of ``hole`` it filled."""
        aligned = align_face(photo, face, size=self.size)
        crop_hole = cv2.warpAffine(hole.astype(np.float32), aligned.matrix, (self.size, self.size),
                                   flags=cv2.INTER_LINEAR) > 0.25
        crop_hole = crop_hole.astype(np.uint8)
        if not crop_hole.any():
            return photo, np.zeros(photo.shape[:2], np.uint8)
        with torch.no_grad():
            filled = self.model(image_to_tensor(aligned.image), mask_to_tensor(crop_hole))
        back, validity = unwarp(tensor_to_image(filled), aligned)
        face_hole, _ = unwarp(crop_hole.astype(np.float32), aligned)
        return back, ((face_hole > 0.5) & (validity > 0.99) & (hole > 0)).astype(np.uint8)

    def __call__(self, image, mask=None) -> UnmaskResult:
        """Run the pipeline on one photo (see the class docstring for accepted types)."""
        photo = as_rgb_uint8(image)
        user_hole = None
        if mask is not None:
            user_hole = (as_rgb_uint8(mask).max(axis=2) >= 128).astype(np.uint8)  # float masks scale to 255
            if user_hole.shape != photo.shape[:2]:
                raise UnmaskError(f"mask is {user_hole.shape[1]}x{user_hole.shape[0]} but the image is "
                                  f"{photo.shape[1]}x{photo.shape[0]}")
        faces = detect_faces(photo)
        if not faces:
            raise UnmaskError("no face found in the image")
        feather = 0.0 if user_hole is not None else self.feather
        hole = user_hole if user_hole is not None else _grow(find_occlusions(photo, faces)[0], feather)
        result = photo.copy()
        union = np.zeros(photo.shape[:2], np.uint8)
        for face in faces:
            filled, face_hole = self._fill_face(result, face, hole)
            if not face_hole.any():
                continue
            filled = _match_colour(filled, result, face_hole)
            alpha = _feather(face_hole, feather)[..., None]
            result = np.clip(result * (1 - alpha) + filled * alpha + 0.5, 0, 255).astype(np.uint8)
            union |= face_hole
        return UnmaskResult(image=_like(result, image), mask=union, faces=faces)


def _like(result: np.ndarray, template) -> np.ndarray | Image.Image | torch.Tensor:
    """Return ``result`` in the type the user passed (numpy stays numpy, torch stays torch, else PIL)."""
    if isinstance(template, np.ndarray):
        return result if template.dtype == np.uint8 else result.astype(np.float32) / 255.0
    if isinstance(template, torch.Tensor):
        tensor = image_to_tensor(result)
        return tensor if template.ndim == 4 else tensor[0]
    return Image.fromarray(result)
