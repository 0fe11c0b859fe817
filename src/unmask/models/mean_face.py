"""``mean_face``: fill a face's hole with the average face adapted to the person, blended in by its gradients (Poisson
image editing).

The average face (``assets/mean_face.png``, built by ``scripts/build_mean_face.py``) is the mean of thousands of
training crops warped onto their mean landmarks, in the aligned frame that ``Unmasker`` crops faces to. Because
the faces were aligned landmark by landmark before averaging, it keeps sharp, well-placed lips, nostrils and
shading; being an average of thousands of people, it is nobody's face. The fill is the photo's own membrane (the
harmonic interpolation of the pixels around the hole, which carries the person's skin tone and light into it) plus
the average face's structure relative to its own membrane, which is Pérez et al.'s Poisson blending. The structure
is weighted in only inside the average face's oval (its jaw line and brows) and fades in over ``FADE`` of the crop
from the hole's border, so that neither the average face's background nor a seam along the border shows. The
result is a closed, neutral mouth in the person's own skin tone and light, with no learned weights; it cannot
follow an open mouth, a turned head or a beard it does not see.

Before the blend, the average face is adapted to the person (a morphable model of appearance): the principal
components of the same warped training faces inside the oval (``assets/mean_face_basis.safetensors``, at
``BASIS_SIZE``²) are fitted to the visible part of the face, ridge-regularised by their variances, and the fitted
deviation, upsampled, is added to the full-resolution average face, so its sharp lips stay and the shading and
skin of the person's face carry on into the hole (``face_adaptation``).
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

import cv2
import numpy as np
import scipy.sparse as sparse
from safetensors.numpy import load
from scipy.sparse.linalg import spsolve

from unmask.errors import UnmaskError
from unmask.models.classical import ClassicalInpainter
from unmask.models.registry import register_model

MEAN_FACE = "mean_face.png"
MEAN_FACE_SHA256 = "d5354bc3099a5826993b007ed0aa8217283ef390aad8d4d97b13cc1c4acfd9b3"  # scripts/build_mean_face.py
MEAN_FACE_SIZE = 256  # the aligned frame the average face was built in
FADE = 12 / MEAN_FACE_SIZE  # the structure fades in over this share of the crop from the hole's border
OVAL_SOFTNESS = 6 / MEAN_FACE_SIZE  # Gaussian sigma of the oval's edge, share of the crop
BROW_LIFT = 10 / MEAN_FACE_SIZE  # the oval's top runs this far above the brows
BASIS = "mean_face_basis.safetensors"
BASIS_SHA256 = "ae1660f849ec92835ad3f9eab355e09e56620ad12cf036e8cee023afa658d63a"  # scripts/build_mean_face.py
BASIS_SIZE = 64  # the resolution of the PCA basis of the average face
FIT_BLUR = 4 / MEAN_FACE_SIZE  # Gaussian sigma, share of the crop, that hides the photo's residual misalignment
NOISE = 128.0  # the fit's noise variance, in units of the variance per pixel the basis leaves unexplained


def _checked_asset(name: str, sha256: str) -> bytes:
    """The bytes of a shipped asset, after checking them against their recorded sha256."""
    data = files("unmask.assets").joinpath(name).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise UnmaskError(f"{name} does not match its recorded sha256; reinstall unmask")
    return data


@cache
def mean_face() -> np.ndarray:
    """The shipped average face, RGB uint8 (256, 256, 3); its sha256 is checked against the recorded one."""
    data = _checked_asset(MEAN_FACE, MEAN_FACE_SHA256)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(image[..., ::-1])


@cache
def face_oval(size: int) -> np.ndarray:
    """Where the average face's structure is used, float (size, size) in [0, 1]: the jaw line and the brows of the
    mean 68-point shape (``assets/mean_landmarks68.npy``, in crop units) with a soft edge."""
    with files("unmask.assets").joinpath("mean_landmarks68.npy").open("rb") as handle:
        shape = np.load(handle) * size
    outline = np.concatenate([shape[0:17], shape[26:16:-1] - [0, BROW_LIFT * size]])
    oval = np.zeros((size, size), np.uint8)
    cv2.fillPoly(oval, [np.round(outline).astype(np.int32)], 1)
    return cv2.GaussianBlur(oval.astype(np.float64), (0, 0), OVAL_SOFTNESS * size)


@cache
def face_basis() -> tuple[np.ndarray, np.ndarray, float]:
    """The shipped PCA basis of the warped training faces inside the face oval (its sha256 checked): components
    (K, BASIS_SIZE, BASIS_SIZE, 3) float64 of unit length, their variances (K,) and the variance per pixel and
    channel that they leave unexplained."""
    tensors = load(_checked_asset(BASIS, BASIS_SHA256))
    return (tensors["components"].astype(np.float64), tensors["variances"].astype(np.float64),
            float(tensors["residual"][0]))


@cache
def _blurred_basis() -> tuple[np.ndarray, np.ndarray]:
    """The mean and the components at the basis resolution, blurred as the photo is before the fit: the mean
    (BASIS_SIZE, BASIS_SIZE, 3) float64 and the components (K, BASIS_SIZE, BASIS_SIZE, 3)."""
    sigma = FIT_BLUR * BASIS_SIZE
    mean = cv2.resize(mean_face(), (BASIS_SIZE, BASIS_SIZE), interpolation=cv2.INTER_AREA).astype(np.float64)
    components = np.stack([cv2.GaussianBlur(component, (0, 0), sigma) for component in face_basis()[0]])
    return cv2.GaussianBlur(mean, (0, 0), sigma), components


def face_adaptation(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """How this face differs from the average, fitted to what the photo shows: (BASIS_SIZE, BASIS_SIZE, 3) float64.

    ``image`` (H, W, 3) uint8 RGB aligned crop, ``hole`` (H, W) bool. The photo is reduced to the basis resolution
    and blurred (its hole left out: a normalised convolution), and the basis coefficients are fitted by ridge
    regression to its pixels that are visible and inside the face oval, regularised by the component variances
    (the maximum a posteriori fit under the PCA's Gaussian prior), so that what the photo does not show stays near
    the average. Returns the fitted combination of components (not blurred), zero outside the oval."""
    components, variances, residual = face_basis()
    mean, blurred = _blurred_basis()
    sigma = FIT_BLUR * BASIS_SIZE
    size = (BASIS_SIZE, BASIS_SIZE)
    visible = (~hole).astype(np.float64)
    shown = cv2.resize(image * visible[..., None], size, interpolation=cv2.INTER_AREA)
    cover = cv2.resize(visible, size, interpolation=cv2.INTER_AREA)
    spread = cv2.GaussianBlur(cover, (0, 0), sigma)
    photo = cv2.GaussianBlur(shown, (0, 0), sigma) / np.maximum(spread, 1e-6)[..., None]
    oval = face_oval(BASIS_SIZE)
    root = np.sqrt(np.repeat((oval * (spread > 0.99))[..., None], 3, 2).ravel())
    used = np.flatnonzero(root)  # the visible pixels (and channels) inside the oval
    design = blurred.reshape(len(variances), -1).T[used] * root[used, None]  # (used, K)
    target = (oval[..., None] * (photo - mean)).ravel()[used] * root[used]
    # einsum rather than BLAS: single-threaded and as fast at this size, so a busy machine cannot stall the fit.
    normal = np.einsum("pk,pl->kl", design, design) + np.diag(NOISE * residual / variances)
    coefficients = np.linalg.solve(normal, np.einsum("pk,p->k", design, target))
    return np.einsum("k,k...->...", coefficients, components)


def membrane(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``values`` (H, W, C) float with the ``hole`` (H, W) bool pixels replaced by the harmonic interpolation of the
    pixels around it (Laplace's equation, the known pixels as boundary; the image edge is a mirror)."""
    height, width = hole.shape
    ys, xs = np.nonzero(hole)
    count = len(ys)
    index = np.full((height, width), -1, np.int64)
    index[ys, xs] = np.arange(count)
    rows, columns = [np.arange(count)], [np.arange(count)]
    weights = [np.full(count, 4.0)]
    known = np.zeros((count, values.shape[2]), np.float64)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)
        inner = hole[ny, nx]
        rows.append(np.flatnonzero(inner))
        columns.append(index[ny[inner], nx[inner]])
        weights.append(np.full(int(inner.sum()), -1.0))
        known[~inner] += values[ny[~inner], nx[~inner]]
    system = sparse.csc_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(columns))),
                               shape=(count, count))
    solution = spsolve(system, known)
    out = values.astype(np.float64, copy=True)
    out[ys, xs] = solution.reshape(count, -1)
    return out


class MeanFaceInpainter(ClassicalInpainter):
    """The average face, adapted to the visible face, Poisson-blended into the hole of an aligned face crop (see the
    module docstring)."""

    input_size = MEAN_FACE_SIZE

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 aligned crop + bool hole (S, S) -> (S, S, 3) uint8; any S (the face is resized)."""
        height, width = hole.shape
        face = mean_face()
        if face.shape[:2] != (height, width):
            face = cv2.resize(face, (width, height), interpolation=cv2.INTER_AREA)
        # The low-resolution adaptation on top of the full-resolution average face, whose sharp lips stay.
        face = face.astype(np.float64) + cv2.resize(face_adaptation(image, hole), (width, height),
                                                    interpolation=cv2.INTER_LINEAR)
        fade = np.clip(cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5) / (FADE * width), 0, 1)
        weight = (fade * face_oval(width) if height == width else fade)[..., None]
        # One solve for both membranes: the photo's (its colour and light) and the average face's own.
        smooth = membrane(np.concatenate([image.astype(np.float64), face], 2), hole)
        filled = smooth[..., :3] + weight * (face - smooth[..., 3:])
        return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


@register_model("mean_face")
def mean_face_fill() -> ClassicalInpainter:
    """The average face, adapted to the visible face by its PCA basis, Poisson-blended into the hole of an aligned
    crop (no learned weights)."""
    return MeanFaceInpainter()
