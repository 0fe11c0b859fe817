"""Face detection (YuNet), dense landmarks (MediaPipe FaceMesh) and the 68 iBUG points derived from them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources

import cv2
import numpy as np

from unmask.errors import UnmaskError
from unmask.face.align import TEMPLATE_5, invert_matrix, template_matrix, warp_points
from unmask.face.types import Face

YUNET_FILE = "face_detection_yunet_2026may.onnx"
MEAN_SHAPE_FILE = "mean_landmarks68.npy"
DETECT_MIN_SIDE, DETECT_MAX_SIDE = 320, 640  # images are rescaled so the longer side falls in this range
# Small faces (group photos) get a second pass with the photo enlarged to this longer side; a face found there is
# kept when it is smaller than SMALL_FACE px at the first pass's scale and overlaps no face of the first pass.
SMALL_PASS_SIDE, SMALL_FACE, SMALL_OVERLAP = 1280, 40, 0.3
PADDINGS = ((0.25, cv2.BORDER_CONSTANT), (0.25, cv2.BORDER_REPLICATE))  # retries for tight face crops
CONFIDENT = 0.6  # a pass with a face scoring this much ends the padded retries
MESH_SIZE = 256  # side of the upright crop FaceMesh sees (face laid out as in TEMPLATE_5)
MESH_ZOOMS = (1.0, 0.8)  # face scale in that crop, relative to TEMPLATE_5; the second is a retry
MESH_EYE_TOLERANCE = 0.35  # mesh eyes must land within this fraction of the eye distance from YuNet's eyes

# MediaPipe FaceMesh (468) index of each of the 68 iBUG landmarks, image-left side first.
MESH_TO_IBUG68 = np.array(
    [127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,  # jaw
     70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows
     168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose bridge, nose bottom
     33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes
     61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
     78, 82, 13, 312, 308, 317, 14, 87],  # inner lips
    dtype=np.int64,
)  # fmt: skip


def _asset(name: str) -> str:
    """Filesystem path of a file shipped in unmask/assets."""
    return str(resources.files("unmask") / "assets" / name)


@cache
def _yunet() -> cv2.FaceDetectorYN:
    """The YuNet detector, created once (score threshold 0 here: filtering happens in detect_faces)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.FaceDetectorYN.create(
            _asset(YUNET_FILE), "", (DETECT_MAX_SIDE, DETECT_MAX_SIDE), 0.3, 0.3, 5000
        )
    except cv2.error as error:
        raise UnmaskError(f"cannot load the face detector {YUNET_FILE}: {error}") from None
    finally:
        cv2.utils.logging.setLogLevel(level)


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence writes to file descriptor 2 (MediaPipe's native absl/TFLite logging) inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@cache
def _face_mesh():
    """MediaPipe FaceMesh in static-image mode, created once on first use with native logging turned down."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _quiet_native_stderr():
        import mediapipe as mp

        return mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=0.3
        )


@cache
def mean_shape() -> np.ndarray:
    """(68, 2) mean iBUG landmarks in the unit frame of the TEMPLATE_5 crop (scripts/build_mean_shape.py)."""
    return np.load(_asset(MEAN_SHAPE_FILE)).astype(np.float64)


def _pass_scale(shape: tuple[int, ...]) -> float:
    """The factor ``_yunet_pass`` resizes an image of this shape by (longer side into the detector's range)."""
    longest = max(shape[:2])
    return float(np.clip(longest, DETECT_MIN_SIDE, DETECT_MAX_SIDE)) / longest


def _yunet_pass(bgr: np.ndarray, pad: float, border: int, side: int | None = None) -> np.ndarray:
    """Run YuNet once on a padded, rescaled copy of a BGR image; returns (N, 15) rows in original pixels.

    The copy's longer side is brought into [DETECT_MIN_SIDE, DETECT_MAX_SIDE], or to ``side`` when given.
    """
    offset = 0
    if pad > 0:
        offset = int(round(pad * max(bgr.shape[:2])))
        bgr = cv2.copyMakeBorder(bgr, offset, offset, offset, offset, border, value=(127, 127, 127))
    height, width = bgr.shape[:2]
    scale = _pass_scale(bgr.shape) if side is None else side / max(height, width)
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    detector = _yunet()
    detector.setInputSize((bgr.shape[1], bgr.shape[0]))
    _, found = detector.detect(bgr)
    if found is None:
        return np.zeros((0, 15))
    rows = found[:, :15].astype(np.float64)
    rows[:, :14] /= scale
    rows[:, [0, 1]] -= offset
    rows[:, 4:14] -= offset
    return rows


def _box_overlap(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box for (N, 4+) and (M, 4+) rows of x, y, w, h; returns (N, M)."""
    x0 = np.maximum(first[:, None, 0], second[None, :, 0])
    y0 = np.maximum(first[:, None, 1], second[None, :, 1])
    x1 = np.minimum(first[:, None, 0] + first[:, None, 2], second[None, :, 0] + second[None, :, 2])
    y1 = np.minimum(first[:, None, 1] + first[:, None, 3], second[None, :, 1] + second[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    smaller = np.minimum(first[:, None, 2] * first[:, None, 3], second[None, :, 2] * second[None, :, 3])
    return inter / np.maximum(smaller, 1e-6)


def small_face_pass(bgr: np.ndarray, found: np.ndarray, min_score: float) -> np.ndarray:
    """Faces too small for the first YuNet pass, from a second pass on the photo enlarged to SMALL_PASS_SIDE.

    Keeps the (N, 15) rows scoring ``min_score`` or more that are under SMALL_FACE px wide at the first pass's
    scale and overlap no row of ``found`` (nor each other, best score first) by SMALL_OVERLAP of the smaller box.
    Empty when the first pass already saw the photo at that size or larger.
    """
    first_scale = _pass_scale(bgr.shape)
    if SMALL_PASS_SIDE <= first_scale * max(bgr.shape[:2]) * 1.2:
        return np.zeros((0, 15))
    rows = _yunet_pass(bgr, 0.0, cv2.BORDER_CONSTANT, side=SMALL_PASS_SIDE)
    rows = rows[(rows[:, 14] >= min_score) & (np.maximum(rows[:, 2], rows[:, 3]) * first_scale < SMALL_FACE)]
    kept: list[np.ndarray] = []
    for row in rows[np.argsort(-rows[:, 14], kind="stable")]:
        others = np.concatenate([found[:, :4], np.array([r[:4] for r in kept]).reshape(-1, 4)])
        if not len(others) or _box_overlap(row[None, :4], others).max() < SMALL_OVERLAP:
            kept.append(row)
    return np.array(kept).reshape(-1, 15)


def _mesh_landmarks(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray | None:
    """(468, 2) FaceMesh points in image pixels, from an upright crop set by the keypoints; None on failure.

    The crop is tried at each of MESH_ZOOMS (face size relative to TEMPLATE_5); a mesh whose eyes are far from
    the keypoints' eyes is rejected (it landed on another face or fitted poorly).
    """
    for zoom in MESH_ZOOMS:
        template = 0.5 + (TEMPLATE_5 - 0.5) * zoom
        matrix = template_matrix(keypoints, MESH_SIZE, template)
        crop = cv2.warpAffine(
            image, matrix, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        mesh_model = _face_mesh()
        with _quiet_native_stderr():
            result = mesh_model.process(crop)
        if not result.multi_face_landmarks:
            continue
        points = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark], dtype=np.float64)
        points = points[:468] * MESH_SIZE
        mesh_eyes = np.stack([points[[33, 133]].mean(0), points[[362, 263]].mean(0)])
        template_eyes = template[:2] * MESH_SIZE
        eye_distance = np.linalg.norm(template_eyes[1] - template_eyes[0])
        if np.linalg.norm(mesh_eyes - template_eyes, axis=1).max() <= MESH_EYE_TOLERANCE * eye_distance:
            return warp_points(points, invert_matrix(matrix))
    return None


def fit_mean_shape(keypoints: np.ndarray) -> np.ndarray:
    """(68, 2) mean iBUG shape placed by the similarity that maps TEMPLATE_5 onto the (5, 2) keypoints."""
    return warp_points(mean_shape(), invert_matrix(template_matrix(keypoints, 1)))


def detect_faces(image: np.ndarray, min_score: float = 0.6, max_faces: int | None = None,
                 mesh: bool = True, small_faces: bool = True) -> list[Face]:
    """Find faces in an RGB uint8 image (H, W, 3); returns Faces sorted by box area, largest first.

    Each Face has the YuNet box and 5 keypoints, 468 FaceMesh points when the mesh fits (else ``mesh=None``)
    and 68 iBUG landmarks taken from the mesh or, failing that, the mean shape fitted to the keypoints.
    ``mesh=False`` skips FaceMesh (several times faster) and always uses the fitted mean shape.
    Tight face crops are retried with a padded border until a face scores CONFIDENT (the pass with the best face
    is kept); faces covered by masks or bars are still found. ``small_faces`` adds the faces of a second pass at a
    higher resolution (``small_face_pass``).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UnmaskError(f"detect_faces expects an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    bgr = np.ascontiguousarray(image[..., ::-1])
    rows = np.zeros((0, 15))
    for pad, border in ((0.0, cv2.BORDER_CONSTANT), *PADDINGS):  # padded retries until a confident face is found
        found = _yunet_pass(bgr, pad, border)
        found = found[found[:, 14] >= min_score]
        if len(found) and (not len(rows) or found[:, 14].max() > rows[:, 14].max()):
            rows = found
        if len(rows) and rows[:, 14].max() >= CONFIDENT:
            break
    if small_faces:
        rows = np.concatenate([rows, small_face_pass(bgr, rows, max(min_score, CONFIDENT))])
    rows = rows[np.argsort(-(rows[:, 2] * rows[:, 3]), kind="stable")]
    if max_faces is not None:
        rows = rows[:max_faces]
    faces = []
    for row in rows:
        x, y, w, h = row[:4]
        keypoints = row[4:14].reshape(5, 2)
        points = _mesh_landmarks(image, keypoints) if mesh else None
        landmarks = points[MESH_TO_IBUG68] if points is not None else fit_mean_shape(keypoints)
        faces.append(
            Face(
                box=np.array([x, y, x + w, y + h]),
                score=float(row[14]),
                keypoints=keypoints,
                landmarks=landmarks,
                mesh=points,
            )
        )
    return faces
