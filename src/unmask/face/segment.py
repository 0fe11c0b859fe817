"""Find the occlusion on a face: a face mask by k-means in the lower-face polygon (seed 004), or an eye bar.

Both work in the aligned, upright crop of each face (so thresholds are in a fixed scale) and the result is
mapped back to the photo through the exact inverse warp.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from unmask.face.align import align_face, transform_face, unwarp
from unmask.face.detect import detect_faces
from unmask.face.types import EYE_LEFT, EYE_RIGHT, JAW, MOUTH_OUTER, NOSE_BOTTOM, Face

WORK_SIZE = 256  # side of the aligned crop the segmentation runs on


@dataclass
class SegmentSettings:
    """Tunable thresholds of the occlusion finder (colour distances are CIE ΔE in Lab units)."""

    skin_distance: float = 10.0  # a k-means cluster this far (lightness half-weighted) from skin is "not skin"
    core_cover: float = 0.6  # share of nose-bottom/mouth/chin area that must be covered to call it a mask
    bar_flatness: float = 9.0  # max grey std-dev inside a censor bar at the eye centres
    bar_colour_match: float = 14.0  # ΔE within which pixels join the bar grown from the eyes
    bar_min_skin_distance: float = 12.0  # a bar must differ from the skin colour at least this much


LAB_WEIGHTS = np.array([0.5, 1.0, 1.0], np.float32)  # shading changes lightness more than a mask changes hue


def _lab(image: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab


def _polygon_mask(points: np.ndarray, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _skin_colour(lab: np.ndarray, face: Face) -> np.ndarray:
    """Median Lab colour of the forehead and the bridge of the nose between the eyes (above any face mask)."""
    eyes = face.eye_centers()
    eye_distance = float(np.linalg.norm(eyes[1] - eyes[0]))
    centre = eyes.mean(0)
    half = max(2, int(0.18 * eye_distance))
    patches = []
    for dy in (-0.75, 0.0):  # forehead above the brows, and between the eyes
        x, y = int(centre[0]), int(centre[1] + dy * eye_distance)
        patches.append(lab[max(0, y - half): y + half, max(0, x - half): x + half].reshape(-1, 3))
    return np.median(np.concatenate(patches), axis=0)


def _largest_touching(mask: np.ndarray, seed_region: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    touching = np.unique(labels[seed_region & mask])
    touching = touching[touching > 0]
    return np.isin(labels, touching)


def face_mask_in_crop(crop: np.ndarray, face: Face, settings: SegmentSettings | None = None) -> np.ndarray:
    """Segment a worn face mask in an aligned crop (S, S, 3) with the face's landmarks in crop coordinates.

    k-means (k = 3) on Lab colour inside the lower-face polygon; clusters far from the skin colour sampled above
    the mask are "mask"; the result must cover most of the nose-bottom/mouth/chin core, else the face is taken
    as unmasked. Returns bool (S, S).
    """
    settings = settings or SegmentSettings()
    size = crop.shape[0]
    lab = _lab(crop)
    landmarks = face.landmarks
    bridge_y = landmarks[28, 1]
    jaw = landmarks[JAW]
    polygon = _polygon_mask(jaw, size)
    polygon[: int(bridge_y)] = False
    core = _polygon_mask(np.concatenate([landmarks[NOSE_BOTTOM], landmarks[MOUTH_OUTER], jaw[6:11]]), size)
    core = core | _polygon_mask(cv2.convexHull(np.concatenate(
        [landmarks[NOSE_BOTTOM], landmarks[MOUTH_OUTER], jaw[6:11]]).astype(np.float32))[:, 0], size)
    pixels = lab[polygon]
    if len(pixels) < 50:
        return np.zeros((size, size), bool)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(pixels, 3, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    skin = _skin_colour(lab, face)
    far = np.linalg.norm((centres - skin) * LAB_WEIGHTS, axis=1) > settings.skin_distance
    if not far.any():
        return np.zeros((size, size), bool)
    # classify the lower face, slightly widened, by the nearest of (skin, cluster centres)
    eye_distance = float(np.linalg.norm(face.eye_centers()[1] - face.eye_centers()[0]))
    grow = max(3, int(0.25 * eye_distance)) | 1
    region = cv2.dilate(polygon.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    region = region.astype(bool)
    region[: int(bridge_y - 0.1 * eye_distance)] = False
    references = np.concatenate([skin[None], centres])
    nearest = np.argmin(np.linalg.norm((lab[..., None, :] - references) * LAB_WEIGHTS, axis=-1), axis=-1)
    candidate = region & np.isin(nearest, 1 + np.flatnonzero(far))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, size // 40) | 1,) * 2)
    candidate = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
    candidate = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    candidate = ndimage.binary_fill_holes(_largest_touching(candidate, core))
    if candidate[core].mean() < settings.core_cover:
        return np.zeros((size, size), bool)
    return candidate


def eye_bar_in_crop(crop: np.ndarray, face: Face, settings: SegmentSettings | None = None) -> np.ndarray:
    """Segment a censor bar across both eyes in an aligned crop: a flat band of one colour, unlike the skin.

    Returns bool (S, S); empty when the eye regions are textured (real eyes) or differ from each other.
    """
    settings = settings or SegmentSettings()
    size = crop.shape[0]
    lab = _lab(crop)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (7, 7))
    local_std = np.sqrt(np.maximum(cv2.blur(grey * grey, (7, 7)) - mean * mean, 0))
    eyes = [face.landmarks[EYE_LEFT].mean(0), face.landmarks[EYE_RIGHT].mean(0)]
    eye_distance = float(np.linalg.norm(eyes[1] - eyes[0]))
    half = max(2, int(0.12 * eye_distance))
    colours, flatness = [], []
    for x, y in np.round(eyes).astype(int):
        window = (slice(max(0, y - half), y + half + 1), slice(max(0, x - half), x + half + 1))
        colours.append(np.median(lab[window].reshape(-1, 3), axis=0))
        flatness.append(float(np.median(local_std[window])))
    bar_colour = (colours[0] + colours[1]) / 2
    if (max(flatness) > settings.bar_flatness
            or np.linalg.norm(colours[0] - colours[1]) > settings.bar_colour_match
            or np.linalg.norm(bar_colour - _skin_colour(lab, face)) < settings.bar_min_skin_distance):
        return np.zeros((size, size), bool)
    close = np.linalg.norm(lab - bar_colour, axis=-1) < settings.bar_colour_match
    band = np.zeros((size, size), bool)
    top = int(min(eyes[0][1], eyes[1][1]) - 1.0 * eye_distance)
    bottom = int(max(eyes[0][1], eyes[1][1]) + 1.0 * eye_distance)
    band[max(0, top): max(0, bottom)] = True
    seeds = np.zeros((size, size), bool)
    for x, y in np.round(eyes).astype(int):
        seeds[max(0, y - half): y + half + 1, max(0, x - half): x + half + 1] = True
    bar = _largest_touching(close & band, seeds)
    if not bar.any():
        return bar
    hull = cv2.convexHull(np.argwhere(bar)[:, ::-1].astype(np.int32))
    filled = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    return filled.astype(bool)


def occlusion_in_crop(crop: np.ndarray, face: Face, settings: SegmentSettings | None = None) -> np.ndarray:
    """Union of the face mask and the eye bar found in an aligned crop; bool (S, S)."""
    return face_mask_in_crop(crop, face, settings) | eye_bar_in_crop(crop, face, settings)


def find_occlusions(image: np.ndarray, faces: list[Face] | None = None,
                    settings: SegmentSettings | None = None) -> tuple[np.ndarray, list[Face]]:
    """Find face masks and eye bars on every face of an RGB uint8 photo (H, W, 3).

    Returns the union mask, uint8 (H, W) with 1 = occluded, and the faces (detected when not given).
    """
    if faces is None:
        faces = detect_faces(image)
    union = np.zeros(image.shape[:2], np.uint8)
    for face in faces:
        aligned = align_face(image, face, size=WORK_SIZE)
        found = occlusion_in_crop(aligned.image, transform_face(face, aligned.matrix), settings)
        back, _ = unwarp(found.astype(np.float32), aligned)
        union |= (back > 0.5).astype(np.uint8)
    return union, faces
