"""Bring a second, unmasked photo of the same person onto a masked face (seed 004).

Both faces carry the 68 iBUG landmarks of :func:`unmask.face.detect_faces` (taken from the 468-point MediaPipe
FaceMesh). Thirty of them around the covered area (``REFERENCE_POINTS``: jaw 3-13, the nine nose points, eight
outer-lip points, the two outer eye corners) drive a thin-plate-spline warp of the reference onto the masked
face. The spline is scikit-image's ``ThinPlateSplineTransform`` (the textbook one); kornia 0.9's
``get_tps_transform`` puts its kernel centres on the destination points and breaks down on real pose differences
(see docs/REFERENCE.md). The warp comes with a validity mask: 1 where the warped pixel comes from the reference's
face (the hull of its jaw and brows), inside the reference photo, where the spline does not fold and where the
reference itself is not occluded. The warped reference is then colour-matched (mean and spread per Lab channel)
to the masked face over the pixels both show: valid and not in the hole.

Coordinates are pixels with pixel centres at integers (OpenCV's convention), x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.transform import ThinPlateSplineTransform

from unmask.errors import UnmaskError
from unmask.face.align import align_face, transform_face
from unmask.face.detect import detect_faces
from unmask.face.segment import find_occlusions
from unmask.face.types import JAW

# 30 of the 68 iBUG landmarks around nose, mouth and jaw (plus the outer eye corners that anchor the upper face).
REFERENCE_POINTS = (*range(3, 14), *range(27, 36), 48, 50, 51, 52, 54, 56, 57, 58, 36, 45)
BROWS = slice(17, 27)
MIN_COLOUR_PIXELS = 50  # fewer shared pixels than this and the colour is left as it is
STD_RATIO = (0.5, 2.0)  # bounds of the per-channel spread ratio in the colour match
MIN_HOLE_COVER = 0.3  # the warped reference must be valid on this share of the hole to guide the fill
MAX_COVERED = 0.4  # a reference whose lower face is occluded on more than this share is unusable
MAX_YAW_DIFFERENCE = 0.6  # the largest difference of yaw_proxy between the two faces (docs/REFERENCE.md)
LOWER_FACE = (*range(2, 15), 29)  # the jaw from cheek to cheek and the nose below the eyes: the covered part
TPS_STEP = 2  # the spline is evaluated on a grid of this many px and interpolated between (it is smooth)
DETECT_SIZE = 256  # aligned crops are searched for landmarks at this size, as the prepared crops were


class ReferenceUnusable(UnmaskError):
    """The reference photo cannot guide the fill (no face, no landmarks, or it does not show the covered part)."""


@dataclass
class AlignedReference:
    """A reference photo's largest face, aligned like the faces it will guide.

    image: (S, S, 3) uint8 crop.  landmarks: (68, 2) in crop pixels.  occlusion: (S, S) uint8, 1 = occluded.
    """

    image: np.ndarray
    landmarks: np.ndarray
    occlusion: np.ndarray


@dataclass
class WarpedReference:
    """A reference photo brought into the frame of a masked face.

    image: (H, W, 3) uint8, warped and colour-matched.  validity: (H, W) float32 in [0, 1], 1 = defined.
    positions: (H, W, 2) float32, the reference pixel each one was sampled at (a backward map).
    """

    image: np.ndarray
    validity: np.ndarray
    positions: np.ndarray | None = None


def reference_points(landmarks: np.ndarray) -> np.ndarray:
    """The (30, 2) control points of the warp, picked from (68, 2) iBUG landmarks."""
    return np.asarray(landmarks, dtype=np.float64)[list(REFERENCE_POINTS)]


def tps_map(source_points: np.ndarray, target_points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """For every target pixel, the source position that a thin-plate spline through the points sends there.

    source_points, target_points: (N, 2) pixels, N >= 3 and not all on one line; size: (H, W) of the target.
    Returns (H, W, 2) float32 source pixel positions (x, y): a backward map for ``cv2.remap``. The spline (fitted
    target -> source, so it interpolates the points exactly) is scikit-image's ``ThinPlateSplineTransform``.
    """
    spline = ThinPlateSplineTransform.from_estimate(np.asarray(target_points, np.float64),
                                                    np.asarray(source_points, np.float64))
    if not spline:
        raise UnmaskError(f"the thin-plate spline could not be fitted to the landmarks: {spline}")
    height, width = size
    rows, columns = -(-(height - 1) // TPS_STEP) + 1, -(-(width - 1) // TPS_STEP) + 1
    ys, xs = np.meshgrid(np.linspace(0, height - 1, rows), np.linspace(0, width - 1, columns), indexing="ij")
    coarse = spline(np.stack([xs.ravel(), ys.ravel()], axis=1)).reshape(rows, columns, 2).astype(np.float32)
    if (rows, columns) == (height, width):
        return coarse
    # the spline is smooth: evaluated every TPS_STEP px and interpolated bilinearly (corners aligned)
    u = np.arange(width, dtype=np.float32) * ((columns - 1) / max(width - 1, 1))
    v = np.arange(height, dtype=np.float32) * ((rows - 1) / max(height - 1, 1))
    grid_u, grid_v = np.meshgrid(u, v)
    return cv2.remap(coarse, grid_u, grid_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def tps_warp(image: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
             size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Thin-plate-spline warp of ``image`` (h, w) or (h, w, C) moving (N, 2) ``source_points`` onto ``target_points``.

    Returns the warped image (H, W[, C]) in the input dtype (bilinear, zero where the sample falls outside the
    image) and the (H, W, 2) source positions it sampled. ``size`` (H, W) defaults to the input size.

    Example:
        >>> points = np.array([[10.0, 10.0], [50.0, 12.0], [30.0, 50.0], [12.0, 40.0]])
        >>> warped, where = tps_warp(np.zeros((64, 64), np.float32), points, points + 2.0)
        >>> warped.shape, np.allclose(where[12, 12], [10.0, 10.0], atol=1e-3)
        ((64, 64), True)
    """
    positions = tps_map(source_points, target_points, size or image.shape[:2])
    return remap(image, positions), positions


def remap(image: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sample ``image`` (h, w[, C]) bicubically at (H, W, 2) pixel positions; zero outside -> (H, W[, C])."""
    return cv2.remap(image, positions[..., 0], positions[..., 1], cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def not_folded(positions: np.ndarray) -> np.ndarray:
    """(H, W) bool: where a backward map (H, W, 2) keeps the orientation (its Jacobian determinant is > 0)."""
    dx = np.gradient(positions, axis=1)
    dy = np.gradient(positions, axis=0)
    return dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0] > 0


def face_region(landmarks: np.ndarray, shape: tuple[int, int], erode: float = 0.03) -> np.ndarray:
    """(H, W) float32: 1 inside the hull of the jaw and brows of (68, 2) landmarks, shrunk by ``erode`` x face width
    (grown for a negative ``erode``)."""
    points = np.concatenate([landmarks[JAW], landmarks[BROWS]]).astype(np.float32)
    region = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(region, np.round(cv2.convexHull(points)[:, 0] * 16).astype(np.int32), 1, shift=4)
    width = float(np.ptp(landmarks[JAW, 0]))
    size = 2 * int(round(abs(erode) * width)) + 1
    if size > 1:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        region = cv2.erode(region, disc) if erode > 0 else cv2.dilate(region, disc)
    return region.astype(np.float32)


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def match_colour(warped: np.ndarray, validity: np.ndarray, target: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Shift and scale each Lab channel of ``warped`` to the target's statistics on the pixels both show.

    warped, target: (H, W, 3) uint8 RGB; validity: (H, W) float; hole: (H, W), non-zero = hole in ``target``.
    Shared pixels are ``validity > 0.9`` outside the hole; with fewer than MIN_COLOUR_PIXELS ``warped`` is returned.
    """
    shared = (validity > 0.9) & (np.asarray(hole) == 0)
    if shared.sum() < MIN_COLOUR_PIXELS:
        return warped
    source, reference = _lab(warped), _lab(target)
    source_mean, source_std = source[shared].mean(0), source[shared].std(0)
    target_mean, target_std = reference[shared].mean(0), reference[shared].std(0)
    ratio = np.clip(target_std / np.maximum(source_std, 1e-3), *STD_RATIO)
    matched = np.clip((source - source_mean) * ratio + target_mean + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(matched, cv2.COLOR_LAB2RGB)


def warp_reference(reference: np.ndarray, reference_landmarks: np.ndarray, target: np.ndarray,
                   target_landmarks: np.ndarray, hole: np.ndarray,
                   reference_occlusion: np.ndarray | None = None) -> WarpedReference:
    """Warp a reference face onto a masked face, with its validity, colour-matched to the visible skin.

    reference: (h, w, 3) uint8 RGB with (68, 2) ``reference_landmarks``; target: (H, W, 3) uint8 RGB (the masked
    face) with (68, 2) ``target_landmarks``; hole: (H, W), non-zero = hole in the target;
    reference_occlusion: optional (h, w), non-zero = occluded in the reference (left out of the validity).
    """
    region = face_region(reference_landmarks, reference.shape[:2])
    if reference_occlusion is not None:
        region *= np.asarray(reference_occlusion) == 0
    positions = tps_map(reference_points(reference_landmarks), reference_points(target_landmarks), target.shape[:2])
    return warp_by_map(reference, region, positions, target, hole)


def warp_by_map(reference: np.ndarray, region: np.ndarray, positions: np.ndarray, target: np.ndarray,
                hole: np.ndarray) -> WarpedReference:
    """Sample ``reference`` (h, w, 3) uint8 at the backward map ``positions`` (H, W, 2), with its validity (the
    warped ``region`` (h, w) float, 1 = usable reference pixel, where the map does not fold), colour-matched to
    ``target`` (H, W, 3) outside ``hole`` (H, W)."""
    image = remap(reference, positions)
    validity = np.clip(remap(region.astype(np.float32), positions), 0, 1) * not_folded(positions)
    image = match_colour(image, validity, target, hole)
    image[validity <= 0] = 0
    return WarpedReference(image=image, validity=validity.astype(np.float32), positions=positions)


def crop_landmarks(crop: np.ndarray) -> np.ndarray | None:
    """The (68, 2) landmarks of the face in an aligned crop (S, S, 3) uint8 RGB, in its pixels; None if none is found.

    To warp a reference onto a masked face, give the crop *filled without the reference* rather than the masked
    one: FaceMesh's points under a mask are guesses, and on the fill they land closer to the true jaw, nose and
    mouth (3.92 px against 6.57 px mean error on 473 test crops of 128², docs/REFERENCE.md).
    """
    size = crop.shape[0]
    faces = detect_faces(cv2.resize(crop, (DETECT_SIZE, DETECT_SIZE), interpolation=cv2.INTER_LINEAR), max_faces=1)
    return faces[0].landmarks * (size / DETECT_SIZE) if faces else None


def yaw_proxy(landmarks: np.ndarray) -> float:
    """How far a face is turned, from (68, 2) landmarks: ``(a - b) / (a + b)`` with ``a``, ``b`` the horizontal
    distances from the nose bridge (points 27-30) to the outer eye corners (36, 45); 0 frontal, about +-1 in
    profile. It is unchanged by the similarity of an alignment."""
    axis = np.asarray(landmarks, np.float64)[27:31, 0].mean()
    left, right = abs(axis - landmarks[36, 0]), abs(landmarks[45, 0] - axis)
    return float((left - right) / max(left + right, 1e-6))


def check_pose(reference_landmarks: np.ndarray, target_landmarks: np.ndarray) -> None:
    """Raise :class:`ReferenceUnusable` when the two faces' yaw proxies differ by more than MAX_YAW_DIFFERENCE."""
    difference = abs(yaw_proxy(reference_landmarks) - yaw_proxy(target_landmarks))
    if difference > MAX_YAW_DIFFERENCE:
        raise ReferenceUnusable(f"the reference face is turned too differently from the masked face (yaw "
                                f"difference {difference:.2f} > {MAX_YAW_DIFFERENCE}: a profile against a frontal "
                                "face?)")


def covered_share(landmarks: np.ndarray, occlusion: np.ndarray) -> float:
    """The share of the lower face (hull of LOWER_FACE of (68, 2) landmarks) that ``occlusion`` (S, S) covers."""
    region = np.zeros(occlusion.shape, np.uint8)
    points = np.asarray(landmarks, np.float32)[list(LOWER_FACE)]
    cv2.fillConvexPoly(region, np.round(cv2.convexHull(points)[:, 0]).astype(np.int32), 1)
    inside = region > 0
    return float((np.asarray(occlusion)[inside] > 0).mean()) if inside.any() else 0.0


def align_reference(photo: np.ndarray, size: int, max_covered: float = MAX_COVERED) -> AlignedReference:
    """Find the largest face of a reference photo (H, W, 3) uint8 RGB, its landmarks and occlusions; align it.

    Raises :class:`ReferenceUnusable` when there is no face, when FaceMesh found no landmarks on it (the
    mean-shape stand-in would make the warp meaningless), or when more than ``max_covered`` of its lower face
    is occluded (a mask, a hand).
    """
    faces = detect_faces(photo, max_faces=1)
    if not faces:
        raise ReferenceUnusable("no face found in the reference photo")
    face = faces[0]
    if face.mesh is None:
        raise ReferenceUnusable("no facial landmarks found on the reference face")
    aligned = align_face(photo, face, size=size)
    occlusion, _ = find_occlusions(photo, [face])
    crop_occlusion = (cv2.warpAffine(occlusion.astype(np.float32), aligned.matrix, (size, size)) > 0.25
                      ).astype(np.uint8)
    landmarks = transform_face(face, aligned.matrix).landmarks
    covered = covered_share(landmarks, crop_occlusion)
    if covered > max_covered:
        raise ReferenceUnusable(f"the reference photo's lower face is covered ({covered:.0%} of it)")
    return AlignedReference(aligned.image, landmarks, crop_occlusion)


def check_cover(warped: WarpedReference, hole: np.ndarray) -> None:
    """Raise :class:`ReferenceUnusable` when the warp is valid on less than MIN_HOLE_COVER of the hole (S, S)."""
    inside = np.asarray(hole) > 0
    cover = float((warped.validity[inside] > 0.5).mean()) if inside.any() else 0.0
    if cover < MIN_HOLE_COVER:
        raise ReferenceUnusable(f"the reference photo shows only {cover:.0%} of the covered part of the face")
