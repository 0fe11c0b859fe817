"""``mean_face``: fill a face's hole with the average face, blended in by its gradients (Poisson image editing).

The average face (``assets/mean_face.png``, built by ``scripts/build_mean_face.py``) is the mean of thousands of
training crops warped onto their mean landmarks, in the aligned frame that ``Unmasker`` crops faces to. Because
the faces were aligned landmark by landmark before averaging, it keeps sharp, well-placed lips, nostrils and
shading; being an average of thousands of people, it is nobody's face. Inside the hole the fill keeps the average
face's gradients and takes its colour and shading from the photo: the difference between the photo and the average
face is known on the hole's border and interpolated harmonically (a membrane) into the hole, which is Pérez et
al.'s Poisson blending. The result is a closed, neutral mouth in the person's own skin tone and light, with no
learned weights; it cannot follow an open mouth, a turned head or a beard it does not see.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

import cv2
import numpy as np
import scipy.sparse as sparse
from scipy.sparse.linalg import spsolve

from unmask.errors import UnmaskError
from unmask.models.classical import ClassicalInpainter
from unmask.models.registry import register_model

MEAN_FACE = "mean_face.png"
MEAN_FACE_SHA256 = "d5354bc3099a5826993b007ed0aa8217283ef390aad8d4d97b13cc1c4acfd9b3"  # scripts/build_mean_face.py
MEAN_FACE_SIZE = 256  # the aligned frame the average face was built in


@cache
def mean_face() -> np.ndarray:
    """The shipped average face, RGB uint8 (256, 256, 3); its sha256 is checked against the recorded one."""
    data = files("unmask.assets").joinpath(MEAN_FACE).read_bytes()
    if hashlib.sha256(data).hexdigest() != MEAN_FACE_SHA256:
        raise UnmaskError(f"{MEAN_FACE} does not match its recorded sha256; reinstall unmask")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(image[..., ::-1])


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
    """The average face Poisson-blended into the hole of an aligned face crop (see the module docstring)."""

    input_size = MEAN_FACE_SIZE

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 aligned crop + bool hole (S, S) -> (S, S, 3) uint8; any S (the face is resized)."""
        height, width = hole.shape
        face = mean_face()
        if face.shape[:2] != (height, width):
            face = cv2.resize(face, (width, height), interpolation=cv2.INTER_AREA)
        face = face.astype(np.float64)
        offset = membrane(image.astype(np.float64) - face, hole)
        return np.clip(face + offset + 0.5, 0, 255).astype(np.uint8)


@register_model("mean_face")
def mean_face_fill() -> ClassicalInpainter:
    """The average face, Poisson-blended into the hole of an aligned crop (no learned weights)."""
    return MeanFaceInpainter()
