"""The one end-to-end path: detect faces -> align -> find or take the occlusion -> inpaint -> blend -> paste back."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from unmask.errors import UnmaskError
from unmask.face import AlignedFace, Face, align_face, detect_faces, transform_face, unwarp
from unmask.face.align import invert_matrix, template_matrix, warp_points
from unmask.face.reference import ReferenceUnusable, align_reference, check_cover, crop_landmarks, warp_reference
from unmask.face.segment import find_occlusions
from unmask.io import as_rgb_uint8, image_to_tensor, mask_to_tensor, tensor_to_image
from unmask.models.backends import load_model
from unmask.models.pretrained import load_pretrained, plain_models, shipped_models

DEFAULT_MODEL = "pconv"  # the best shipped model on face masks and eye bars (docs/MODELS.md)
FALLBACK_MODEL = "telea"  # used when no trained weights are installed
CLASSICAL_SIZE = 256  # crop size for models without shipped weights (classical baselines)
REFERENCE_MODEL = "reference_guided"  # fills a face from a second photo of the person (docs/REFERENCE.md)


class ReferenceWarning(UserWarning):
    """A reference photo was given but could not be used; the face was filled without it."""


@dataclass
class UnmaskResult:
    """What ``Unmasker`` returns: the edited photo (same type as the input), the hole it filled and the faces."""

    image: np.ndarray | Image.Image | torch.Tensor
    mask: np.ndarray  # uint8 (H, W), 1 = pixels that were synthesized
    faces: list[Face] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. why a reference photo could not be used


@dataclass
class FaceJob:
    """One face to inpaint: its aligned crop of the photo region ``box`` (x0, y0, x1, y1) and the crop's hole."""

    aligned: AlignedFace
    hole: np.ndarray  # uint8 (S, S), 1 = hole
    box: tuple[int, int, int, int]


@dataclass
class PhotoJob:
    """A photo between ``Unmasker.prepare`` and ``Unmasker.finish``: the faces whose crops need the model."""

    photo: np.ndarray  # RGB uint8 (H, W, 3)
    hole: np.ndarray  # uint8 (H, W), 1 = to fill
    faces: list[Face]
    feather: float
    jobs: list[FaceJob] = field(default_factory=list)


def _face_region(face: Face, size: int, shape: tuple[int, ...], margin: int = 8) -> tuple[int, int, int, int]:
    """The photo box (x0, y0, x1, y1) that a face's aligned crop of ``size`` covers, plus ``margin``, clipped."""
    corners = warp_points(np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64),
                          invert_matrix(template_matrix(face.keypoints, size)))
    x0, y0 = np.floor(corners.min(0)).astype(int) - margin
    x1, y1 = np.ceil(corners.max(0)).astype(int) + margin
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def _shift(face: Face, dx: float, dy: float) -> Face:
    """The face with every coordinate moved by (dx, dy)."""
    return transform_face(face, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]))


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
    """The shipped default model (partial-convolution U-Net) when its weights are installed, else Telea."""
    return DEFAULT_MODEL if DEFAULT_MODEL in shipped_models() else FALLBACK_MODEL


@dataclass(frozen=True)
class PhotoPreparer:
    """Detect the faces of a photo, find or take its hole and cut one aligned ``size``² crop per face it reaches.

    Holds no model, so it pickles into loader processes; ``Unmasker.prepare`` is this with the model's size.
    """

    size: int
    feather: float

    def __call__(self, image, mask=None) -> PhotoJob:
        """``PhotoJob`` of one photo (same input forms as ``Unmasker.__call__``)."""
        photo = as_rgb_uint8(image)
        user_hole = None
        if mask is not None:
            user_hole = (as_rgb_uint8(mask).max(axis=2) >= 128).astype(np.uint8)  # float masks scale to 255
            if user_hole.shape != photo.shape[:2]:
                raise UnmaskError(f"mask is {user_hole.shape[1]}x{user_hole.shape[0]} but the image is "
                                  f"{photo.shape[1]}x{photo.shape[0]}")
        if user_hole is None:
            found, faces = find_occlusions(photo)  # also finds covered faces the detector scores low
        else:
            faces = detect_faces(photo)
        if not faces:
            raise UnmaskError("no face found in the image")
        feather = 0.0 if user_hole is not None else self.feather
        hole = user_hole if user_hole is not None else _grow(found, feather)
        job = PhotoJob(photo, hole, faces, feather)
        for face in faces:
            box = x0, y0, x1, y1 = _face_region(face, self.size, photo.shape)
            if x1 <= x0 or y1 <= y0 or not hole[y0:y1, x0:x1].any():
                continue
            aligned = align_face(photo[y0:y1, x0:x1], _shift(face, -x0, -y0), size=self.size)
            crop_hole = cv2.warpAffine(hole[y0:y1, x0:x1].astype(np.float32), aligned.matrix,
                                       (self.size, self.size), flags=cv2.INTER_LINEAR) > 0.25
            if crop_hole.any():
                job.jobs.append(FaceJob(aligned, crop_hole.astype(np.uint8), box))
        return job


class Unmasker:
    """Remove what covers the faces in a photo: ``Unmasker()(image, mask=None) -> UnmaskResult``.

    ``image``: path, PIL image, numpy HWC (uint8 or float in [0, 1]) or torch (3, H, W)/(1, 3, H, W) in [0, 1].
    ``mask``: optional, same forms, non-zero = hole; found automatically (face masks, eye bars) when omitted.
    Each face is aligned, inpainted at the model's size and pasted back into the full-resolution photo;
    pixels outside the hole are returned unchanged. A given mask is filled exactly; a found mask is grown by
    ``feather`` px and blended over that band. ``UnmaskResult.mask`` is every pixel that was changed.
    """

    def __init__(self, model: str | None = None, feather: float = 3.0, backend: str = "torch",
                 reference_model: str | nn.Module = REFERENCE_MODEL) -> None:
        model = model or default_model()
        self.model_name = model
        self.backend = backend
        self.model: nn.Module = load_model(model, backend)
        if (model not in shipped_models() and not model.endswith(".onnx")
                and any(True for _ in self.model.parameters())):
            raise UnmaskError(f"model {model!r} has no trained weights shipped; choose one of "
                              f"{', '.join(plain_models() + ['telea', 'ns', 'biharmonic', 'patchmatch'])}")
        if getattr(self.model, "needs_reference", False):
            raise UnmaskError(f"model {model!r} fills from a reference photo: pass reference=PHOTO (--reference)")
        self.size = int(getattr(self.model, "input_size", CLASSICAL_SIZE))
        self.feather = feather
        self.reference_model = reference_model

    def prepare(self, image, mask=None) -> PhotoJob:
        """Detect the faces, find or take the hole and cut one aligned crop per face that the hole reaches."""
        return self.preparer()(image, mask)

    def preparer(self) -> PhotoPreparer:
        """The picklable part of :meth:`prepare` (for loader processes, which must not receive the model)."""
        return PhotoPreparer(self.size, self.feather)

    def fill(self, crops: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """Run the model on a batch of aligned crops: (N, 3, S, S), (N, 1, S, S) -> (N, 3, S, S) in [0, 1]."""
        with torch.inference_mode():
            return self.model(crops, holes)

    def finish(self, job: PhotoJob, filled: list[np.ndarray], template=None) -> UnmaskResult:
        """Paste each face's filled crop (RGB uint8 (S, S, 3), in ``job.jobs`` order) back into the photo."""
        result = job.photo.copy()
        union = np.zeros(job.photo.shape[:2], np.uint8)
        for face_job, crop in zip(job.jobs, filled, strict=True):
            x0, y0, x1, y1 = face_job.box
            back, validity = unwarp(crop, face_job.aligned)
            face_hole, _ = unwarp(face_job.hole.astype(np.float32), face_job.aligned)
            face_hole = ((face_hole > 0.5) & (validity > 0.99) & (job.hole[y0:y1, x0:x1] > 0)).astype(np.uint8)
            if not face_hole.any():
                continue
            region = result[y0:y1, x0:x1]
            back = _match_colour(back, region, face_hole)
            alpha = _feather(face_hole, job.feather)[..., None]
            result[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + back * alpha + 0.5, 0, 255).astype(np.uint8)
            union[y0:y1, x0:x1] |= face_hole
        return UnmaskResult(image=_like(result, job.photo if template is None else template), mask=union,
                            faces=job.faces)

    def __call__(self, image, mask=None, reference=None) -> UnmaskResult:
        """Run the pipeline on one photo (see the class docstring for accepted types).

        ``reference``: optional second, unmasked photo of the same person (same forms as ``image``). The largest
        face is then filled by the reference-guided model from that person's own mouth and nose; without shipped
        reference-guided weights this is refused. When the reference shows no usable face, the face is filled
        without it, a :class:`ReferenceWarning` is issued and ``UnmaskResult.notes`` says why.
        """
        guide = self.guided_model() if reference is not None else None
        job = self.prepare(image, mask)
        filled = []
        if job.jobs:
            crops = torch.cat([image_to_tensor(face_job.aligned.image) for face_job in job.jobs])
            holes = torch.cat([mask_to_tensor(face_job.hole) for face_job in job.jobs])
            filled = [tensor_to_image(output) for output in self.fill(crops, holes)]
        notes = []
        if guide is not None and job.jobs:
            try:
                guided_job, guided = self._guided_face(job, as_rgb_uint8(reference), guide)
                job.jobs.append(guided_job)  # pasted last, over the same face's fill without reference
                filled.append(guided)
            except ReferenceUnusable as reason:
                notes.append(f"{reason}; the face was filled without the reference")
                warnings.warn(notes[-1], ReferenceWarning, stacklevel=2)
        result = self.finish(job, filled, template=image)
        result.notes = notes
        return result

    def guided_model(self) -> nn.Module:
        """The reference-guided generator: the one given, or its shipped weights (UnmaskError when there are none)."""
        if isinstance(self.reference_model, nn.Module):
            return self.reference_model
        if self.reference_model not in shipped_models():
            raise UnmaskError(f"reference-guided unmasking needs trained {self.reference_model!r} weights, which "
                              "are not shipped yet (see docs/REFERENCE.md); run without a reference")
        return load_pretrained(self.reference_model)

    def _guided_face(self, job: PhotoJob, reference: np.ndarray, model: nn.Module) -> tuple[FaceJob, np.ndarray]:
        """Fill the largest face from the reference photo: its whole-photo FaceJob and filled crop (S, S, 3)."""
        size = int(getattr(model, "input_size", getattr(model, "in_size", CLASSICAL_SIZE)))
        face = job.faces[0]
        aligned = align_face(job.photo, face, size=size)
        hole = (cv2.warpAffine(job.hole.astype(np.float32), aligned.matrix, (size, size)) > 0.25).astype(np.uint8)
        if not hole.any():
            raise ReferenceUnusable("the largest face has no hole to fill")
        source = align_reference(reference, size)
        image, hole_tensor = image_to_tensor(aligned.image), mask_to_tensor(hole)
        filler = getattr(model, "prior", None)
        with torch.inference_mode():  # the landmarks under the hole are found on a fill without the reference
            fill = (self.model if filler is None else filler)(image, hole_tensor)
        landmarks = crop_landmarks(tensor_to_image(fill))
        if landmarks is None:
            landmarks = transform_face(face, aligned.matrix).landmarks
        warped = warp_reference(source.image, source.landmarks, aligned.image * (1 - hole[..., None]), landmarks,
                                hole, source.occlusion)
        check_cover(warped, hole)
        with torch.inference_mode():
            output = model(image, hole_tensor, image_to_tensor(warped.image),
                           torch.from_numpy(warped.validity)[None, None])
        box = (0, 0, job.photo.shape[1], job.photo.shape[0])
        return FaceJob(aligned, hole, box), tensor_to_image(output)


def _like(result: np.ndarray, template) -> np.ndarray | Image.Image | torch.Tensor:
    """Return ``result`` in the type the user passed (numpy stays numpy, torch stays torch, else PIL)."""
    if isinstance(template, np.ndarray):
        return result if template.dtype == np.uint8 else result.astype(np.float32) / 255.0
    if isinstance(template, torch.Tensor):
        tensor = image_to_tensor(result)
        return tensor if template.ndim == 4 else tensor[0]
    return Image.fromarray(result)
