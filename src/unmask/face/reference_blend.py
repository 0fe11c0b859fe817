"""Make a second photo of the person the content of the hole: align, match colour and shading, blend the seams.

Two warps bring the reference's aligned crop onto the masked face's crop: the thin-plate spline through the 30
lower-face landmarks of :mod:`unmask.face.reference` (the target's points under the mask are found on a fill without
the reference, so they are guesses) and a similarity fitted on the landmarks that the hole leaves visible (the
reference keeps its own mouth and jaw shape). Each is also registered on the ring of known pixels around the hole:
DIS optical flow (``cv2.DISOpticalFlow``) between the warped reference and the masked face, a similarity fitted to
it by least median of squares, twice (landmarks alone are off by about a pixel; the flow brings a same-photo
reference to a fraction of one). Of the four, the one with the highest ring similarity is kept: the zero-mean
normalised cross-correlation of the grey detail (the image minus its blur) on the ring. That similarity is also the
agreement measure: a reference that does not line up with the visible face (another expression or pose than a
warp can absorb) is not used.

The warped reference is colour-matched (Lab mean and spread, :func:`unmask.face.reference.match_colour`), then its
shading is transferred: each RGB channel is multiplied by the low-frequency ratio of the masked face to the
reference on the known skin near the hole (a normalised Gaussian convolution that tends to the global ratio far
from it). Inside the hole the source is the shaded reference where the warp is valid (feathered) and the fill
without the reference elsewhere. OpenCV's Poisson blend (``cv2.seamlessClone``) then solves the reference's part
of the hole again: its gradients are kept, its border values are the masked face's on the known pixels around the
hole (which removes what is left of the seam there) and the source's own where it meets the fill inside the hole.

Crops are (S, S, 3) uint8 RGB, holes (S, S) with non-zero = hole, landmarks (68, 2) in crop pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from unmask.face.reference import (
    AlignedReference,
    ReferenceUnusable,
    WarpedReference,
    check_cover,
    face_region,
    reference_points,
    remap,
    tps_map,
    warp_by_map,
)

RING = 0.1  # width of the ring of known pixels that aligns the reference and measures agreement, x crop side
SHADING_SIGMA = 0.1  # Gaussian scale of the shading ratio, x crop side
SHADING_PRIOR = 0.05  # weight of the global ratio against the local one (local weights are in [0, 1])
SHADING_RATIO = (0.67, 1.5)  # bounds of the per-channel shading ratio
FEATHER = 0.03  # the reference's share ramps over this x crop side inside its valid region
VISIBLE_MARGIN = 0.03  # a landmark this close to the hole (x crop side) counts as covered
MIN_VISIBLE = 6  # fewer visible landmarks than this and only the spline is tried
MIN_RING_PIXELS = 200  # fewer ring pixels than this and the warp is not refined
REGION_GROW = 0.1  # the reference is used up to this x its face width beyond the hull of its jaw and brows
MIN_AGREEMENT = 0.1  # the ring similarity below which the reference is not used (docs/REFERENCE.md)
REFINE_ROUNDS = 2  # flow-and-similarity rounds that register the warped reference on the ring
DETAIL_SIGMA = 0.025  # x crop side: the ring similarity compares what is left after a Gaussian blur of this scale
POISSON_PAD = 8  # px of reflected border so the blended region never touches the crop's edge


@dataclass
class Composite:
    """The masked crop with its hole filled from the reference.

    image: (S, S, 3) uint8.  share: (S, S) float32 in [0, 1], the reference's share of each hole pixel.
    agreement: ring similarity of the kept warp.  warp: ``"spline"`` or ``"similarity"``.
    """

    image: np.ndarray
    share: np.ndarray
    agreement: float
    warp: str


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _disc(radius: float) -> np.ndarray:
    size = 2 * max(int(round(radius)), 1) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def ring(hole: np.ndarray, width: float) -> np.ndarray:
    """(S, S) bool: the pixels outside ``hole`` within ``width`` px of it."""
    inside = (np.asarray(hole) > 0).astype(np.uint8)
    return (cv2.dilate(inside, _disc(width)) > 0) & (inside == 0)


def similarity_map(source_points: np.ndarray, target_points: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """Backward map (H, W, 2) of the similarity that best sends ``target_points`` to ``source_points`` (N, 2),
    fitted robustly (least median of squares); None when it cannot be fitted."""
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(target_points, np.float32),
                                            np.asarray(source_points, np.float32), method=cv2.LMEDS)
    if matrix is None:
        return None
    return _affine_grid(matrix, size)


def _affine_grid(matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32: ``matrix`` (2, 3) applied to every pixel position (x, y)."""
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2],
                     matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]], axis=2).astype(np.float32)


def visible(landmarks: np.ndarray, hole: np.ndarray, margin: float) -> np.ndarray:
    """(68,) bool: the landmarks inside the crop and farther than ``margin`` px from the hole."""
    size = hole.shape[0]
    near = cv2.dilate((np.asarray(hole) > 0).astype(np.uint8), _disc(margin)) > 0
    points = np.round(landmarks).astype(int)
    inside = (points >= 0).all(1) & (points < size).all(1)
    clipped = np.clip(points, 0, size - 1)
    return inside & ~near[clipped[:, 1], clipped[:, 0]]


def _detail(grey: np.ndarray, where: np.ndarray, sigma: float) -> np.ndarray:
    """A grey image minus its Gaussian blur over the ``where`` pixels only (normalised, so that pixels outside, such
    as a hole's, never leak in): the edges and texture, without shading."""
    weight = where.astype(np.float32)
    blur = cv2.GaussianBlur(grey * weight, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-6)
    return grey - blur


def ring_similarity(first: np.ndarray, second: np.ndarray, where: np.ndarray) -> float:
    """Zero-mean normalised cross-correlation of the grey detail (``DETAIL_SIGMA``) of two (S, S, 3) crops on
    ``where`` (S, S) bool; -1 when fewer than MIN_RING_PIXELS pixels are given or one of them is flat there."""
    if where.sum() < MIN_RING_PIXELS:
        return -1.0
    sigma = DETAIL_SIGMA * first.shape[0]
    a, b = (_detail(_grey(image), where, sigma)[where] for image in (first, second))
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 1e-6 else -1.0


def _flow_similarity(target: np.ndarray, warped: np.ndarray, where: np.ndarray) -> np.ndarray | None:
    """(2, 3) similarity from crop pixels to ``warped`` pixels fitted (least median of squares) to the DIS optical
    flow between the two grey crops (S, S) on ``where`` (S, S) bool; None when it cannot be fitted."""
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(
        np.clip(target, 0, 255).astype(np.uint8), np.clip(warped, 0, 255).astype(np.uint8), None)
    ys, xs = np.nonzero(where)
    here = np.stack([xs, ys], axis=1).astype(np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(here, here + flow[ys, xs], method=cv2.LMEDS)
    return matrix


def refine(positions: np.ndarray, reference: np.ndarray, target: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Compose a backward map (S, S, 2) with the similarity that the optical flow between the reference warped by
    it and ``target`` shows on ``where`` (S, S) bool, REFINE_ROUNDS times; unchanged where too few pixels are
    given or no similarity fits."""
    if where.sum() < MIN_RING_PIXELS:
        return positions
    for _ in range(REFINE_ROUNDS):
        matrix = _flow_similarity(_grey(target), _grey(remap(reference, positions)), where)
        if matrix is None:
            break
        grid = _affine_grid(matrix, positions.shape[:2])
        positions = cv2.remap(positions, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    return positions


def shading_ratio(warped: np.ndarray, target: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """(S, S, 3) float32: low-frequency ratio target / warped per RGB channel, from the ``known`` (S, S) bool pixels
    (a Gaussian of ``sigma`` px, normalised, leaning on the global ratio where few known pixels are near)."""
    weight = known.astype(np.float32)
    total = max(float(weight.sum()), 1.0)
    ratio = np.empty(warped.shape, np.float32)
    for channel in range(3):
        mine, theirs = warped[..., channel].astype(np.float32) + 1, target[..., channel].astype(np.float32) + 1
        local_mine = cv2.GaussianBlur(mine * weight, (0, 0), sigma)
        local_theirs = cv2.GaussianBlur(theirs * weight, (0, 0), sigma)
        prior_mine = SHADING_PRIOR * float((mine * weight).sum()) / total
        prior_theirs = SHADING_PRIOR * float((theirs * weight).sum()) / total
        ratio[..., channel] = (local_theirs + prior_theirs) / (local_mine + prior_mine)
    return np.clip(ratio, *SHADING_RATIO)


def poisson_blend(source: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``target`` (S, S, 3) uint8 with ``region`` (S, S) bool replaced by the Poisson solution that has the
    gradients of ``source`` and ``target``'s values on the region's border (``cv2.seamlessClone``)."""
    if not region.any():
        return target.copy()
    pad = POISSON_PAD
    padded = [cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT) for image in (source, target)]
    mask = np.pad(region.astype(np.uint8) * 255, pad)
    x, y, width, height = cv2.boundingRect(mask)
    blended = cv2.seamlessClone(padded[0], padded[1], mask, (x + width // 2, y + height // 2), cv2.NORMAL_CLONE)
    return blended[pad:-pad, pad:-pad]


def initial_warps(reference: AlignedReference, landmarks: np.ndarray, hole: np.ndarray
                  ) -> list[tuple[str, np.ndarray]]:
    """The backward maps (S, S, 2) to start from, with their names: the spline through the 30 lower-face points,
    and the similarity on the landmarks the hole leaves visible when at least MIN_VISIBLE are."""
    size = hole.shape
    maps = [("spline", tps_map(reference_points(reference.landmarks), reference_points(landmarks), size))]
    seen = visible(landmarks, hole, VISIBLE_MARGIN * size[0])
    if seen.sum() >= MIN_VISIBLE:
        positions = similarity_map(reference.landmarks[seen], landmarks[seen], size)
        if positions is not None:
            maps.append(("similarity", positions))
    return maps


def best_warp(reference: AlignedReference, target: np.ndarray, landmarks: np.ndarray, hole: np.ndarray
              ) -> tuple[WarpedReference, float, str]:
    """The reference warped onto ``target`` by the start (refined on the ring of known pixels around the hole, or
    not, whichever agrees better) whose ring similarity is highest: the warp, its ring similarity and its name."""
    known = ring(hole, RING * hole.shape[0])
    region = face_region(reference.landmarks, reference.image.shape[:2], -REGION_GROW)
    region *= np.asarray(reference.occlusion) == 0
    best: tuple[WarpedReference, float, str] | None = None
    for name, positions in initial_warps(reference, landmarks, hole):
        first = warp_by_map(reference.image, region, positions, target, hole)
        refined = refine(positions, reference.image, target, known & (first.validity > 0.9))
        for label, warped in ((name, first), (f"{name}+flow", warp_by_map(reference.image, region, refined,
                                                                            target, hole))):
            score = ring_similarity(warped.image, target, known & (warped.validity > 0.9))
            if best is None or score > best[1]:
                best = (warped, score, label)
    return best


def composite(reference: AlignedReference, target: np.ndarray, landmarks: np.ndarray, hole: np.ndarray,
              fill: np.ndarray, min_agreement: float = MIN_AGREEMENT) -> Composite:
    """Fill the hole of ``target`` from the reference where its warp is valid, from ``fill`` (the same crop filled
    without the reference) elsewhere, with colour and shading transferred and the seams Poisson-blended.

    Raises :class:`ReferenceUnusable` when the best warp covers less than MIN_HOLE_COVER of the hole or its ring
    similarity is below ``min_agreement``.
    """
    size = hole.shape[0]
    inside = np.asarray(hole) > 0
    warped, agreement, name = best_warp(reference, target, landmarks, hole)
    check_cover(warped, hole)
    if agreement < min_agreement:
        raise ReferenceUnusable(f"the reference photo does not line up with the visible face (ring similarity "
                                f"{agreement:.2f} < {min_agreement:.2f}: another expression or pose)")
    valid = warped.validity > 0.9
    skin = remap(face_region(reference.landmarks, reference.image.shape[:2]), warped.positions) > 0.5
    known = skin & valid & ~inside
    shaded = warped.image.astype(np.float32) * shading_ratio(warped.image, target, known, SHADING_SIGMA * size)
    feather = FEATHER * size
    share = cv2.GaussianBlur(cv2.erode(valid.astype(np.float32), _disc(feather)), (0, 0), feather / 2)
    share = (share * valid).astype(np.float32)
    source = share[..., None] * shaded + (1 - share[..., None]) * fill.astype(np.float32)
    source = np.clip(source + 0.5, 0, 255).astype(np.uint8)
    # Poisson on the reference's part of the hole: the known pixels around it set its border values, and where it
    # meets the fill inside the hole the border is the source itself (no correction is pulled from there)
    used = (inside & (share > 0.01)).astype(np.uint8)
    blended = poisson_blend(source, np.where(inside[..., None], source, target), cv2.dilate(used, _disc(2)) > 0)
    image = np.where(inside[..., None], blended, target)
    return Composite(image=image, share=share * inside, agreement=agreement, warp=name)

