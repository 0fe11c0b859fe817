"""The one end-to-end path: detect faces -> align -> find or take the occlusion -> inpaint -> blend -> paste back."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from unmask.cover import FaceJob, box_face, cover, cut
from unmask.errors import UnmaskError
from unmask.face import Face, detect_faces, unwarp
from unmask.face.align import template_matrix, transform_face, warp_points
from unmask.face.keypoints import aligned_for_filling
from unmask.face.reference import ReferenceUnusable, align_reference, check_pose, crop_landmarks
from unmask.face.reference_blend import composite
from unmask.face.segment import RESCUE_SCORE, find_occlusions
from unmask.grain import match_grain
from unmask.io import as_rgb_uint8, image_to_tensor, load_mask, mask_to_tensor, tensor_to_image
from unmask.large import FullSize, large_enough, paste_back, reduce
from unmask.models import load
from unmask.models.pretrained import load_pretrained, plain_models, shipped_models
from unmask.nets.identity import FaceNetIdentity
from unmask.occlusion.holes import grow_mask
from unmask.seam import remove_seam

DEFAULT_MODEL = "pconv_texture"  # lowest KID and LPIPS on face masks, PSNR above Telea + 1 dB (docs/MODELS.md)
FALLBACK_MODEL = "telea"  # used when no trained weights are installed
CLASSICAL_SIZE = 256  # crop size for models without shipped weights (classical baselines)
REFERENCE_MODEL = "reference_composite"  # the label of a face filled from a reference photo (docs/REFERENCE.md)
MAX_REFERENCE_SIZE = 768  # the largest crop side the reference composite is made at
REFERENCE_OVERSAMPLE = 1.5  # crop pixels per photo pixel: resampling twice at 1:1 blurs (docs/REFERENCE.md)
FACENET_RUNNER = "UNMASK_FACENET_RUNNER"  # environment variable: FaceNet graph runner for the identity check
SAME_PERSON = 0.15  # FaceNet similarity below which a reference shows another person (docs/REFERENCE.md)
CLASSICAL_MODELS = ("telea", "ns", "biharmonic", "patchmatch")
DEFAULT_GROW = 0  # px a found mask is grown on top of the margin find_occlusions already adds (docs/DETECTION.md)


class ReferenceWarning(UserWarning):
    """A reference photo was given but could not be used; the face was filled without it."""


@dataclass
class UnmaskResult:
    """What ``Unmasker`` returns: the edited photo (same type as the input), the hole it filled and the faces."""

    image: np.ndarray | Image.Image | torch.Tensor
    mask: np.ndarray  # uint8 (H, W), 1 = pixels that were synthesized
    faces: list[Face] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. no face was found, or why a reference could not be used

    def __repr__(self) -> str:
        """One short line: the image's type and size, how much was filled, the faces and the notes."""
        height, width = self.mask.shape
        filled = int(np.count_nonzero(self.mask))
        return (f"UnmaskResult(image={type(self.image).__name__} {width}x{height}, mask={filled:,} px filled "
                f"({filled / max(self.mask.size, 1):.1%}), faces={len(self.faces)}, notes={self.notes!r})")


@dataclass
class PhotoJob:
    """A photo between ``Unmasker.prepare`` and ``Unmasker.finish``: the crops that need the model.

    ``anchors`` are the faces the crops are aligned to, or a box around the hole when a given mask has no face.
    """

    photo: np.ndarray  # RGB uint8 (H, W, 3)
    hole: np.ndarray  # uint8 (H, W), 1 = to fill
    faces: list[Face]
    feather: float
    jobs: list[FaceJob] = field(default_factory=list)
    anchors: list[Face] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    full: FullSize | None = None  # the full-size photo, when this job works on a reduced copy (unmask.large)
    from_reference: bool = False  # a face is filled from a reference photo, whose own grain it keeps


def as_hole(mask, shape: tuple[int, ...]) -> np.ndarray:
    """A mask in any form -> uint8 (H, W), 1 = hole: every non-zero value of an array, tensor or PIL image of any
    dtype or mode (uint8 0/1 or 0/255, bool, float, "L", "1"); bright pixels (>= 128) of an image file.

    Colour masks count a pixel non-zero in any colour channel (alpha is ignored); must match ``shape`` (H, W).
    """
    if isinstance(mask, (str, os.PathLike)):
        array = load_mask(mask)
    elif isinstance(mask, Image.Image):
        array = np.asarray(mask if mask.mode in ("1", "L", "I", "F", "I;16") else mask.convert("RGB"))
    elif isinstance(mask, torch.Tensor):
        array = mask.detach().cpu().numpy()
        while array.ndim > 2 and array.shape[0] == 1:
            array = array[0]
        array = array.any(axis=0) if array.ndim == 3 else array
    else:
        array = np.asarray(mask)
    if array.ndim == 3:
        array = array[..., :3].any(axis=2)
    if array.ndim != 2:
        raise UnmaskError(f"expected an (H, W) mask, got shape {array.shape}")
    if array.shape != tuple(shape[:2]):
        raise UnmaskError(f"mask is {array.shape[1]}x{array.shape[0]} but the image is {shape[1]}x{shape[0]}")
    return (np.nan_to_num(array.astype(np.float32) if array.dtype.kind == "f" else array) != 0).astype(np.uint8)


def _feather(mask: np.ndarray, width: float) -> np.ndarray:
    """Alpha that is 0 outside the hole and ramps to 1 over ``width`` px inside it: float32 (H, W)."""
    if width <= 0:
        return mask.astype(np.float32)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(inside / width, 0, 1).astype(np.float32) * (mask > 0)


def _match_colour(result: np.ndarray, original: np.ndarray, hole: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Shift the pasted hole's colour by the mean offset between original and result on a ring around it, taken
    from ``known`` pixels only (outside the photo's hole, or filled already)."""
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~hole.astype(bool) & known
    if ring.sum() < 10:
        return result
    offset = original[ring].astype(np.float32).mean(0) - result[ring].astype(np.float32).mean(0)
    shifted = result.astype(np.float32)
    shifted[hole > 0] += offset
    return np.clip(shifted + 0.5, 0, 255).astype(np.uint8)


def model_choices() -> list[str]:
    """The names ``Unmasker(model=...)`` and ``--model`` accept: shipped learned models, then classical fills."""
    return plain_models() + list(CLASSICAL_MODELS)


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
    grow: int = DEFAULT_GROW

    def __call__(self, image, mask=None) -> PhotoJob:
        """``PhotoJob`` of one photo (same input forms as ``Unmasker.__call__``); a huge one is worked on reduced
        when its faces stay large enough there (``unmask.large``), else at full size."""
        photo = as_rgb_uint8(image)
        hole = None if mask is None else as_hole(mask, photo.shape)
        small, small_hole, full = reduce(photo, hole)
        try:
            job = self._prepare(small, small_hole)
        except UnmaskError:
            if full is None:
                raise
            return self._prepare(photo, hole)  # e.g. a face too small to be found in the reduced copy
        if full is None or large_enough(job.anchors, self.size):
            job.full = full
            return job
        return self._prepare(photo, hole)

    def _prepare(self, photo: np.ndarray, hole: np.ndarray | None) -> PhotoJob:
        if hole is None:
            found, faces = find_occlusions(photo)  # also finds covered faces the detector scores low
            if not faces:
                raise UnmaskError("no face found in the image")
            job = PhotoJob(photo, grow_mask(found, self.grow), faces, self.feather)
        else:
            faces = detect_faces(photo) or detect_faces(photo, min_score=RESCUE_SCORE)
            job = PhotoJob(photo, hole, faces, 0.0)
        job.anchors = [aligned_for_filling(face, job.hole) for face in faces]
        if not faces:  # only a given mask gets here
            job.notes.append("no face found: the hole was filled from a crop around it" if job.hole.any()
                             else "no face found and the mask is empty: nothing was changed")
            job.anchors = [box_face(job.hole)] if job.hole.any() else []
        job.jobs = [face_job for anchor in job.anchors
                    if (face_job := cut(photo, job.hole, anchor, self.size)) is not None]
        return job


class Unmasker:
    """Remove what covers the faces in a photo: ``Unmasker()(image, mask=None) -> UnmaskResult``.

    ``image``: path, PIL image, numpy HWC (uint8 or float in [0, 1]) or torch (3, H, W)/(1, 3, H, W) in [0, 1].
    ``mask`` (or ``mask_image``): optional; any non-zero value is a hole, for every dtype and PIL mode; found
    automatically (face masks, eye bars) when omitted. Each face is aligned, inpainted at the model's size and
    pasted back into the full-resolution photo; what the hole reaches beyond that crop (ear loops, the rim under
    the chin, a mask on the neck) is filled from a zoomed-out crop of the face, and a hole far from any face (or a
    given mask on a photo with no face) from an upright crop around it, so every hole pixel is filled. Pixels
    outside the hole are returned unchanged. A given mask is filled exactly; a found mask is grown by ``grow`` px
    along its border and blended over ``feather`` px. With ``grain`` the filled pixels get the fine grain of the
    photo around the hole (:func:`unmask.grain.match_grain`), which a fill scaled up from the model's size lacks
    (not when a face is filled from a reference photo, which brings its own).
    ``UnmaskResult.mask`` is every pixel that was changed.
    """

    def __init__(self, model: str | nn.Module | None = None, feather: float = 3.0, backend: str = "torch",
                 reference_model: str | nn.Module | None = None, grow: int = DEFAULT_GROW,
                 identity: FaceNetIdentity | str | os.PathLike | None = None, grain: bool = True) -> None:
        model = model or default_model()
        if not isinstance(grow, (int, np.integer)) or grow < 0:
            raise UnmaskError(f"grow must be a whole number of pixels >= 0, got {grow!r}")
        self.backend = backend
        self.model = load(model, backend)  # any spec (name, weights file, .onnx, run folder) or a built module
        card = self.model.card
        self.model_name = model if isinstance(model, str) else card.label
        if not card.trained:
            raise UnmaskError(f"model {model!r} has no trained weights shipped; choose one of "
                              f"{', '.join(model_choices())}")
        if card.needs_reference:
            raise UnmaskError(f"model {self.model_name!r} fills from a reference photo: pass reference=PHOTO "
                              "(--reference)")
        self.size = card.input_size
        self.feather = feather
        self.grow = int(grow)
        self.grain = grain
        self.reference_model = reference_model
        self.identity = identity if identity is not None else os.environ.get(FACENET_RUNNER) or None
        self._others: dict[str, Unmasker] = {}

    def prepare(self, image, mask=None) -> PhotoJob:
        """Detect the faces, find or take the hole and cut one aligned crop per face that the hole reaches."""
        return self.preparer()(image, mask)

    def preparer(self) -> PhotoPreparer:
        """The picklable part of :meth:`prepare` (for loader processes, which must not receive the model)."""
        return PhotoPreparer(self.size, self.feather, self.grow)

    def fill(self, crops: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """Run the model on a batch of aligned crops: (N, 3, S, S), (N, 1, S, S) -> (N, 3, S, S) in [0, 1]."""
        device = next(self.model.parameters(), crops).device
        with torch.inference_mode():
            return self.model(crops.to(device), holes.to(device))

    def _fill_images(self, jobs: list[FaceJob]) -> list[np.ndarray]:
        """The model's fill of each crop, RGB uint8 (S, S, 3)."""
        if not jobs:
            return []
        crops = torch.cat([image_to_tensor(face_job.aligned.image) for face_job in jobs])
        holes = torch.cat([mask_to_tensor(face_job.hole) for face_job in jobs])
        return [tensor_to_image(output) for output in self.fill(crops, holes).cpu()]

    def finish(self, job: PhotoJob, filled: list[np.ndarray], template=None) -> UnmaskResult:
        """Paste each crop's fill (RGB uint8 (S, S, 3), in ``job.jobs`` order) back into the photo, then fill what
        the hole reaches beyond those crops from crops that cover it (see the class docstring)."""
        result = job.photo.copy()
        union = np.zeros(job.photo.shape[:2], np.uint8)
        for face_job, crop in zip(job.jobs, filled, strict=True):
            _paste(result, union, job, face_job, crop)
        left = (job.hole > 0) & (union == 0)
        if left.any():
            parts = cover(result, left, job.anchors or job.faces, self.size)
            for (face_job, part), crop in zip(parts, self._fill_images([face_job for face_job, _ in parts]),
                                              strict=True):
                _paste(result, union, job, face_job, crop, part)
        if job.full is not None:
            result, union = paste_back(job.full, result, union)
        photo, faces = job.photo, job.faces
        if job.full is not None:  # faces found on the reduced copy, reported in the photo's own pixels
            (sx, sy), photo = job.full.scale, job.full.photo
            faces = [transform_face(face, np.array([[1 / sx, 0, 0], [0, 1 / sy, 0]])) for face in faces]
        if self.grain and not job.from_reference:
            result = match_grain(photo, result, union, skin_area=_face_boxes(photo.shape[:2], faces))
        _differ(result, photo, union)
        return UnmaskResult(image=_like(result, job.photo if template is None else template), mask=union,
                            faces=faces, notes=list(job.notes))

    def __call__(self, image, mask=None, reference=None, *, mask_image=None, model: str | None = None
                 ) -> UnmaskResult:
        """Run the pipeline on one photo (see the class docstring for accepted types).

        ``mask_image``: the same as ``mask`` (the name diffusers' inpainting pipelines use). ``model``: fill with
        another model for this call (loaded once, then kept; same ``feather``, ``grow`` and backend).
        ``reference``: optional second, unmasked photo of the same person (same forms as ``image``). The largest
        face's hole is then filled with that person's own pixels: the reference is warped onto the face, its colour
        and shading are matched to the visible skin and it is Poisson-blended in (``unmask.face.reference_blend``);
        where the warp does not reach, the fill without the reference stays. When the reference cannot be used (no
        face, another pose, its lower face covered, another person by FaceNet when an ``identity`` checker is set,
        or it does not line up with the visible face), the face is filled without it, a
        :class:`ReferenceWarning` is issued and ``UnmaskResult.notes`` says why.
        """
        if mask_image is not None:
            if mask is not None:
                raise UnmaskError("pass mask= or mask_image=, not both")
            mask = mask_image
        if model is not None and model != self.model_name:
            if model not in self._others:
                self._others[model] = Unmasker(model, self.feather, self.backend, self.reference_model, self.grow,
                                               self.identity, self.grain)
            return self._others[model](image, mask, reference)
        harmoniser = self.guided_model() if reference is not None else None
        job = self.prepare(image, mask)
        filled = self._fill_images(job.jobs)
        notes = []
        if reference is not None and job.jobs and job.faces:
            try:
                guided_job, guided = self._guided_face(job, as_rgb_uint8(reference), harmoniser)
                job.jobs.append(guided_job)  # pasted last, over the same face's fill without reference
                filled.append(guided)
                job.from_reference = True
            except ReferenceUnusable as reason:
                notes.append(f"{reason}; the face was filled without the reference")
                warnings.warn(notes[-1], ReferenceWarning, stacklevel=2)
        elif reference is not None and job.hole.any():
            notes.append("no face found to fill from the reference; the hole was filled without it")
            warnings.warn(notes[-1], ReferenceWarning, stacklevel=2)
        result = self.finish(job, filled, template=image)
        result.notes += notes
        return result

    def guided_model(self) -> nn.Module | None:
        """The network that harmonises the reference composite, if any: the one given, or shipped weights by name
        (UnmaskError when there are none); None (the default) keeps the composite as it is."""
        if self.reference_model is None or isinstance(self.reference_model, nn.Module):
            return self.reference_model
        if self.reference_model not in shipped_models():
            raise UnmaskError(f"reference-guided unmasking needs trained {self.reference_model!r} weights, which "
                              "are not shipped yet (see docs/REFERENCE.md); run without a reference")
        return load_pretrained(self.reference_model)

    def identity_checker(self) -> FaceNetIdentity | None:
        """What checks that a reference shows the same person: the ``FaceNetIdentity`` (or any object with its
        ``similarity``) given, one built from the graph runner path given (or in ``$UNMASK_FACENET_RUNNER``), else
        None (unchecked); built once."""
        if isinstance(self.identity, (str, os.PathLike)):
            self.identity = FaceNetIdentity(self.identity)
        return self.identity

    def _guided_face(self, job: PhotoJob, reference: np.ndarray, harmoniser: nn.Module | None
                     ) -> tuple[FaceJob, np.ndarray]:
        """Fill the largest face from the reference photo: its whole-photo FaceJob and filled crop (S, S, 3)."""
        face = job.faces[0]
        size = reference_size(face, self.size)
        target = cut(job.photo, job.hole, face, size)
        if target is None:
            raise ReferenceUnusable("the largest face has no hole to fill")
        source = align_reference(reference, size)
        landmarks = warp_points(face.landmarks - np.array(target.box[:2], np.float64), target.aligned.matrix)
        check_pose(source.landmarks, landmarks)
        fill = self.fill_at_model_size(target.aligned.image, target.hole)
        self._check_identity(source.image, fill)
        found = crop_landmarks(fill)  # the landmarks under the hole are found on the fill without the reference
        made = composite(source, target.aligned.image, landmarks if found is None else found, target.hole, fill)
        image = made.image if harmoniser is None else self._harmonise(harmoniser, target, made)
        return target, image

    def fill_at_model_size(self, crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """The model's fill of an aligned crop (S, S, 3) at the model's size, brought back to S: (S, S, 3) uint8,
        the known pixels kept."""
        side = crop.shape[0]
        small = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(hole.astype(np.float32), (self.size, self.size), interpolation=cv2.INTER_AREA) > 0.1
        filled = self.fill(image_to_tensor(small), mask_to_tensor(small_hole.astype(np.uint8))).cpu()
        back = cv2.resize(tensor_to_image(filled), (side, side), interpolation=cv2.INTER_CUBIC)
        return np.where(hole[..., None] > 0, back, crop)

    def _check_identity(self, reference: np.ndarray, fill: np.ndarray) -> None:
        """Raise ReferenceUnusable when FaceNet (if set) finds the aligned reference and the masked face's fill
        without the reference (both (S, S, 3) uint8) less similar than SAME_PERSON."""
        checker = self.identity_checker()
        if checker is None:
            return
        similarity = float(checker.similarity(image_to_tensor(reference), image_to_tensor(fill))[0])
        if similarity < SAME_PERSON:
            raise ReferenceUnusable(f"the reference photo seems to show another person (FaceNet similarity "
                                    f"{similarity:.2f} < {SAME_PERSON})")

    @staticmethod
    def _harmonise(model: nn.Module, target: FaceJob, made) -> np.ndarray:
        """Run a reference-guided network on the composite as its reference, at the network's size: (S, S, 3)."""
        side = target.aligned.size
        size = int(getattr(model, "input_size", getattr(model, "in_size", CLASSICAL_SIZE)))

        def small(array: np.ndarray) -> np.ndarray:
            return cv2.resize(array, (size, size), interpolation=cv2.INTER_AREA)

        hole = (small(target.hole.astype(np.float32)) > 0.1).astype(np.uint8)
        with torch.inference_mode():
            output = model(image_to_tensor(small(target.aligned.image)), mask_to_tensor(hole),
                           image_to_tensor(small(made.image)), torch.from_numpy(small(made.share))[None, None])
        return cv2.resize(tensor_to_image(output), (side, side), interpolation=cv2.INTER_CUBIC)


def reference_size(face: Face, smallest: int) -> int:
    """The side of the aligned crop at which a face is filled from a reference: about the face's own resolution in
    the photo (the crop's pixels as large as the photo's), a multiple of 4 between ``smallest`` and
    MAX_REFERENCE_SIZE."""
    scale = float(np.sqrt(abs(np.linalg.det(template_matrix(face.keypoints, 256)[:, :2])))) / 256
    side = int(round(REFERENCE_OVERSAMPLE / max(scale, 1e-6) / 4)) * 4
    return int(np.clip(side, smallest, MAX_REFERENCE_SIZE))


def _alpha(hole: np.ndarray, box: tuple[int, int, int, int], width: float) -> np.ndarray:
    """``_feather`` of ``hole`` (H, W) inside ``box``, computed on the box grown by ``width`` only (not the whole
    photo: a float per pixel of a 100-megapixel photo is 400 MB)."""
    x0, y0, x1, y1 = box
    pad = int(np.ceil(width)) + 1
    top, left = max(y0 - pad, 0), max(x0 - pad, 0)
    around = _feather(hole[top:y1 + pad, left:x1 + pad], width)
    return around[y0 - top:y1 - top, x0 - left:x1 - left]


def _paste(result: np.ndarray, union: np.ndarray, job: PhotoJob, face_job: FaceJob, crop: np.ndarray,
           part: np.ndarray | None = None) -> None:
    """Blend a crop's fill into ``result`` over the pixels of the hole (or of its ``part``) that the crop validly
    covers, feathered over ``job.feather`` px from the hole's border, colour-matched to the known pixels around them
    (outside the hole, or filled already) and without a step at the border (:func:`unmask.seam.remove_seam`); marks
    them in ``union``."""
    x0, y0, x1, y1 = face_job.box
    back, validity = unwarp(crop, face_job.aligned, cv2.INTER_CUBIC)  # keeps more of the fill's detail
    inside, _ = unwarp(face_job.hole.astype(np.float32), face_job.aligned)
    hole = job.hole[y0:y1, x0:x1]
    paste = (inside > 0.5) & (validity > 0.99) & ((hole if part is None else part[y0:y1, x0:x1]) > 0)
    if not paste.any():
        return
    region = result[y0:y1, x0:x1]
    known = (union[y0:y1, x0:x1] > 0) | (hole == 0)
    back = remove_seam(_match_colour(back, region, paste, known), region, paste, known)
    weight = (_alpha(job.hole, face_job.box, job.feather) * paste)[..., None]
    result[y0:y1, x0:x1] = np.clip(region * (1 - weight) + back * weight + 0.5, 0, 255).astype(np.uint8)
    union[y0:y1, x0:x1] |= paste.astype(np.uint8)


def _face_boxes(shape: tuple[int, int], faces: list[Face]) -> np.ndarray | None:
    """Bool (H, W): inside any face's box; None without faces."""
    if not faces:
        return None
    inside = np.zeros(shape, bool)
    for face in faces:
        x0, y0, x1, y1 = np.asarray(face.box, np.float64)
        inside[max(0, int(y0)):max(0, int(np.ceil(y1))), max(0, int(x0)):max(0, int(np.ceil(x1)))] = True
    return inside


def _differ(result: np.ndarray, photo: np.ndarray, union: np.ndarray) -> None:
    """Move the filled pixels whose value came out equal to the photo's by one level of green, in place, so the
    result's mask is exactly the set of changed pixels (a fill feathered into skin-coloured input can land on it)."""
    same = (union > 0) & (result == photo).all(axis=2)
    green = result[..., 1]
    green[same] = np.where(green[same] < 255, green[same] + 1, 254)


def _like(result: np.ndarray, template) -> np.ndarray | Image.Image | torch.Tensor:
    """Return ``result`` in the type the user passed (numpy stays numpy, torch stays torch, else PIL)."""
    if isinstance(template, np.ndarray):
        return result if template.dtype == np.uint8 else result.astype(np.float32) / 255.0
    if isinstance(template, torch.Tensor):
        tensor = image_to_tensor(result)
        return tensor if template.ndim == 4 else tensor[0]
    return Image.fromarray(result)
