"""Similarity alignment of a face to a canonical, upright crop, and the exact way back to the photo."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from unmask.face.types import Face

# Canonical 5-point template in unit coordinates of a square crop (x right, y down): image-left eye,
# image-right eye, nose tip, image-left mouth corner, image-right mouth corner. It is the ArcFace 112x112
# template scaled by 0.7 about the centre and shifted up by 0.0325, so the eyes sit at y = 0.44 and the crop
# holds the whole face: on real faces the chin lands near y = 0.85 (95% below 0.875), the jaw spans
# x ~ 0.25..0.75 and the brows sit near y = 0.37, leaving forehead and some hair above.
TEMPLATE_5 = np.array(
    [
        [0.3893, 0.4406],
        [0.6096, 0.4394],
        [0.5002, 0.5659],
        [0.4097, 0.6948],
        [0.5921, 0.6938],
    ],
    dtype=np.float64,
)


@dataclass
class AlignedFace:
    """An upright face crop and the transforms that relate it to the original photo.

    image: (S, S, 3) uint8 crop.  matrix: (2, 3) original -> aligned.  inverse: (2, 3) aligned -> original.
    size: S.  source_shape: (H, W) of the original.
    coverage: fraction of the crop that lies inside the original.
    """

    image: np.ndarray
    matrix: np.ndarray
    inverse: np.ndarray
    size: int
    source_shape: tuple[int, int]
    coverage: float


def similarity_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, scale, translation; Umeyama) mapping (N, 2) source onto target.

    Returns the (2, 3) float64 matrix M with target ~ M @ [x, y, 1].
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    variance = (src_c**2).sum() / len(src)
    scale = float(np.trace(np.diag(singular) @ sign) / max(variance, 1e-12))
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def invert_matrix(matrix: np.ndarray) -> np.ndarray:
    """Exact inverse of a (2, 3) affine matrix, as (2, 3) float64."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def warp_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (..., 2) points; returns float64 points of the same shape."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def template_matrix(keypoints: np.ndarray, size: int, template: np.ndarray = TEMPLATE_5) -> np.ndarray:
    """(2, 3) similarity mapping the (5, 2) keypoints of a photo onto ``template * size``."""
    return similarity_matrix(keypoints, np.asarray(template, dtype=np.float64) * size)


def zoomed_template(zoom: float, centre: tuple[float, float], template: np.ndarray = TEMPLATE_5) -> np.ndarray:
    """``template`` scaled by ``zoom`` about ``centre`` (crop units): below 1, the crop shows more around the face."""
    centre_point = np.asarray(centre, np.float64)
    return (np.asarray(template, np.float64) - centre_point) * zoom + centre_point


def _antialiased(image: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` a (size, size) warp by ``matrix`` reads, area-shrunk so the warp scales by >= 0.5.

    Bilinear warping alone aliases when a large photo is shrunk to a small crop. Returns the image to warp and
    the matrix that maps it onto the same crop.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale >= 0.5:
        return image, matrix
    corners = warp_points(np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64), invert_matrix(matrix))
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 2, [image.shape[1], image.shape[0]])
    if x1 <= x0 or y1 <= y0:
        return image, matrix
    shrink = 2 * scale
    region = image[y0:y1, x0:x1]
    small = cv2.resize(region, (max(1, round(region.shape[1] * shrink)), max(1, round(region.shape[0] * shrink))),
                       interpolation=cv2.INTER_AREA)
    # small pixel (u, v) covers region pixel (u / sx, v / sy); region pixel (x, y) is photo pixel (x + x0, y + y0)
    sx, sy = small.shape[1] / region.shape[1], small.shape[0] / region.shape[0]
    to_photo = np.array([[1 / sx, 0, x0 + 0.5 / sx - 0.5], [0, 1 / sy, y0 + 0.5 / sy - 0.5]])
    combined = matrix[:, :2] @ to_photo[:, :2]
    return small, np.concatenate([combined, (matrix[:, :2] @ to_photo[:, 2] + matrix[:, 2])[:, None]], axis=1)


def align_face(
    image: np.ndarray, face: Face, size: int = 256, border: int = cv2.BORDER_REPLICATE,
    template: np.ndarray = TEMPLATE_5,
) -> AlignedFace:
    """Warp the face into an upright (size, size, 3) crop with its keypoints on ``template * size``.

    image: (H, W, 3) uint8 RGB.  border: OpenCV border mode for the parts of the crop outside the photo; the
    default repeats the photo's edge pixels (mirroring would paint phantom faces around tight face crops).
    template: (5, 2) keypoint positions in crop units (``zoomed_template`` for a wider view).
    """
    matrix = template_matrix(face.keypoints, size, template)
    crop = cv2.warpAffine(*_antialiased(image, matrix, size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=border)
    inside = cv2.warpAffine(
        np.ones(image.shape[:2], np.float32),
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return AlignedFace(
        image=crop,
        matrix=matrix,
        inverse=invert_matrix(matrix),
        size=size,
        source_shape=(int(image.shape[0]), int(image.shape[1])),
        coverage=float(inside.mean()),
    )


def transform_face(face: Face, matrix: np.ndarray) -> Face:
    """Map every coordinate of a Face through a (2, 3) affine matrix (the box becomes its corners' bounds)."""
    x0, y0, x1, y1 = np.asarray(face.box, dtype=np.float64)
    corners = warp_points(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), matrix)
    return Face(
        box=np.concatenate([corners.min(0), corners.max(0)]),
        score=face.score,
        keypoints=warp_points(face.keypoints, matrix),
        landmarks=warp_points(face.landmarks, matrix),
        mesh=None if face.mesh is None else warp_points(face.mesh, matrix),
    )


def unwarp(aligned_image: np.ndarray, aligned: AlignedFace,
           interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """Map an aligned crop (S, S) or (S, S, C) back to the photo frame with the exact inverse transform.

    ``interpolation``: OpenCV's flag for the image (the validity is always bilinear). Returns the image (H, W) or
    (H, W, C) in the crop's dtype, zero where the crop does not reach, and a float32 validity mask (H, W) in [0, 1]
    saying where the crop covers the photo. Only the crop's footprint in the photo is warped (a big photo is not
    warped whole for a small face); the rest stays zero.
    """
    height, width = aligned.source_shape
    side = aligned.size
    corners = warp_points(np.array([[0, 0], [side, 0], [side, side], [0, side]], np.float64), aligned.inverse)
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int) - 1, 0, [width, height])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 2, [x0, y0], [width, height])
    shifted = aligned.inverse.copy()
    shifted[:, 2] -= (x0, y0)  # footprint pixel (x, y) is photo pixel (x + x0, y + y0)

    def back(plane: np.ndarray, flags: int, border: int) -> np.ndarray:
        full = np.zeros((height, width), plane.dtype)
        if x1 > x0 and y1 > y0:
            full[y0:y1, x0:x1] = cv2.warpAffine(np.ascontiguousarray(plane), shifted, (int(x1 - x0), int(y1 - y0)),
                                                flags=flags, borderMode=border, borderValue=0)
        return full

    validity = back(np.ones(aligned_image.shape[:2], np.float32), cv2.INTER_LINEAR, cv2.BORDER_CONSTANT)
    # a kernel wider than bilinear would ring against zeros at the crop's edge: repeat the edge, then clear outside
    border = cv2.BORDER_CONSTANT if interpolation == cv2.INTER_LINEAR else cv2.BORDER_REPLICATE
    channels = [aligned_image] if aligned_image.ndim == 2 else np.moveaxis(aligned_image, 2, 0)
    planes = [back(plane, interpolation, border) for plane in channels]
    image = planes[0] if aligned_image.ndim == 2 else np.stack(planes, axis=2)
    if border != cv2.BORDER_CONSTANT:
        image[validity == 0] = 0
    return image, validity
