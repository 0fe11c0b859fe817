"""The Face record every part of unmask shares: a box, five keypoints, 68 iBUG landmarks and the dense mesh."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Index groups of the 68-point iBUG / dlib layout used for ``Face.landmarks`` (image-left side first).
JAW = slice(0, 17)  # 0 = image-left ear level ... 8 = chin tip ... 16 = image-right ear level
BROW_LEFT, BROW_RIGHT = slice(17, 22), slice(22, 27)  # image-left brow, image-right brow
NOSE_BRIDGE, NOSE_BOTTOM = slice(27, 31), slice(31, 36)  # 27 = between the eyes ... 30 = nose tip
EYE_LEFT, EYE_RIGHT = slice(36, 42), slice(42, 48)  # image-left eye (36 outer corner), image-right eye
MOUTH_OUTER, MOUTH_INNER = slice(48, 60), slice(60, 68)  # 48 = image-left mouth corner, 54 = image-right
NOSE_TIP, CHIN = 30, 8


def keypoints_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) keypoints of (68, 2) iBUG landmarks: the eyes' centres, the nose tip and the outer mouth corners (the
    points the training crops are aligned by)."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    return np.stack([landmarks[EYE_LEFT].mean(0), landmarks[EYE_RIGHT].mean(0), landmarks[NOSE_TIP],
                     landmarks[MOUTH_OUTER][0], landmarks[MOUTH_OUTER][6]])


@dataclass
class Face:
    """One detected face, all coordinates in pixels of the image it was found in.

    box: (4,) x0, y0, x1, y1.  score: detector confidence in [0, 1].
    keypoints: (5, 2) image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner.
    landmarks: (68, 2) iBUG layout (see the index groups above).
    mesh: (468, 2) MediaPipe FaceMesh points when the mesh model ran, else None.
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    landmarks: np.ndarray
    mesh: np.ndarray | None = None

    def eye_centers(self) -> np.ndarray:
        """(2, 2) centres of the image-left and image-right eye from the 68 landmarks."""
        return np.stack([self.landmarks[EYE_LEFT].mean(0), self.landmarks[EYE_RIGHT].mean(0)])
