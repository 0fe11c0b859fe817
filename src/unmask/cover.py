"""Crops that cover a hole: one aligned crop per face, a zoomed-out crop of a face for what reaches past it (ear
loops, straps, the rim under the chin, a mask on the neck) and an upright box around whatever is left.

Every crop is an ``AlignedFace`` of a photo region, so the pipeline pastes any of them back the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from unmask.face import AlignedFace, Face, align_face, transform_face
from unmask.face.align import TEMPLATE_5, invert_matrix, template_matrix, warp_points

MAX_ZOOM = 3.0  # a face's crop is zoomed out at most this much to reach the rest of a hole; farther goes to a box
MARGIN = 4  # crop pixels kept between a covered hole pixel and the crop's edge


@dataclass
class FaceJob:
    """One crop to inpaint: its aligned crop of the photo region ``box`` (x0, y0, x1, y1) and the crop's hole."""

    aligned: AlignedFace
    hole: np.ndarray  # uint8 (S, S), 1 = hole
    box: tuple[int, int, int, int]


def face_region(face: Face, size: int, shape: tuple[int, ...], margin: int = 8) -> tuple[int, int, int, int]:
    """The photo box (x0, y0, x1, y1) that a face's aligned crop of ``size`` covers, plus ``margin``, clipped."""
    corners = warp_points(np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64),
                          invert_matrix(template_matrix(face.keypoints, size)))
    x0, y0 = np.floor(corners.min(0)).astype(int) - margin
    x1, y1 = np.ceil(corners.max(0)).astype(int) + margin
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def _shift(face: Face, dx: float, dy: float) -> Face:
    """The face with every coordinate moved by (dx, dy)."""
    return transform_face(face, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]))


def crop_hole(hole: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The hole (H, W) warped into a ``size``² crop by ``matrix``, uint8; grown by a photo pixel per crop pixel
    first, so a thin hole (an ear loop) shrunk into the crop is never lost between its samples, and by a crop pixel
    after, so the occluder's colour that the crop's anti-aliasing smears next to it is not taken for context."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    reach = int(np.ceil(0.5 / scale))
    grown = cv2.dilate(hole.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    inside = cv2.warpAffine(grown.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR) > 0.25
    return cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8))


def cut(photo: np.ndarray, hole: np.ndarray, face: Face, size: int) -> FaceJob | None:
    """The ``size``² aligned crop of ``face`` and the part of ``hole`` in it; None when the hole misses the crop."""
    box = x0, y0, x1, y1 = face_region(face, size, photo.shape)
    if x1 <= x0 or y1 <= y0 or not hole[y0:y1, x0:x1].any():
        return None
    aligned = align_face(photo[y0:y1, x0:x1], _shift(face, -x0, -y0), size=size)
    inside = crop_hole(hole[y0:y1, x0:x1], aligned.matrix, size)
    return FaceJob(aligned, inside, box) if inside.any() else None


def zoomed(face: Face, size: int, zoom: float) -> Face:
    """The face moved so that its aligned crop shows ``zoom`` times more of the photo around the same centre."""
    centre = warp_points(np.array([size / 2, size / 2]), invert_matrix(template_matrix(face.keypoints, size)))
    return transform_face(face, np.array([[zoom, 0.0, centre[0] * (1 - zoom)], [0.0, zoom, centre[1] * (1 - zoom)]]))


def box_face(hole: np.ndarray) -> Face:
    """A stand-in face whose aligned crop is the upright square around ``hole``'s pixels with a margin."""
    ys, xs = np.nonzero(hole)
    side = 1.2 * max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) + 16
    corner = np.array([(xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2]) - side / 2
    return Face(box=np.concatenate([corner, corner + side]), score=0.0, keypoints=corner + TEMPLATE_5 * side,
                landmarks=np.zeros((68, 2)))


def _zoom_needed(points: np.ndarray, face: Face, size: int) -> np.ndarray:
    """How far the face's crop must zoom out to hold each photo point (x, y) ``MARGIN`` pixels inside it."""
    inside = warp_points(points, template_matrix(face.keypoints, size))
    return np.abs(inside - size / 2).max(axis=1) / (size / 2 - MARGIN)


def cover(photo: np.ndarray, left: np.ndarray, faces: list[Face], size: int) -> list[tuple[FaceJob, np.ndarray]]:
    """Crops for every pixel of ``left`` (H, W) with the hole each must paste: the face needing the least zoom
    takes a pixel (zoomed out as far as its farthest pixel needs, at most MAX_ZOOM); the rest share one box."""
    ys, xs = np.nonzero(left)
    need = np.full(len(xs), np.inf)
    owner = np.full(len(xs), -1)
    for index, face in enumerate(faces):
        zoom = _zoom_needed(np.stack([xs, ys], axis=1).astype(np.float64), face, size)
        closer = zoom < need
        need[closer], owner[closer] = zoom[closer], index
    owner[need > MAX_ZOOM] = -1
    jobs = []
    for index in np.unique(owner):
        part = np.zeros(left.shape, np.uint8)
        part[ys[owner == index], xs[owner == index]] = 1
        face = box_face(part) if index < 0 else zoomed(faces[index], size, max(1.0, need[owner == index].max()))
        job = cut(photo, part, face, size)
        if job is not None:
            jobs.append((job, part))
    return jobs
