"""Pictures people look at: labelled image grids and landmark overlays."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from unmask.face.types import Face


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if image.shape[0] > size
                      else cv2.INTER_NEAREST)


def image_grid(rows: Sequence[Sequence[np.ndarray]], column_labels: Sequence[str] | None = None,
               cell: int = 160, gap: int = 4) -> np.ndarray:
    """Tile RGB (or grey) uint8 images into a white-backed grid with an optional header row of labels."""
    columns = max(len(row) for row in rows)
    header = 22 if column_labels else 0
    grid = np.full((header + len(rows) * (cell + gap) + gap, columns * (cell + gap) + gap, 3), 255, np.uint8)
    for c, label in enumerate(column_labels or []):
        text, scale = _fit_label(label, cell - 4)
        cv2.putText(grid, text, (gap + c * (cell + gap) + 2, 16), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = header + gap + r * (cell + gap), gap + c * (cell + gap)
            grid[y:y + cell, x:x + cell] = _fit(image, cell)
    return grid


def _fit_label(label: str, width: int, scale: float = 0.45, smallest: float = 0.3) -> tuple[str, float]:
    """``label`` and a font scale that fit ``width`` px: a smaller font first, then the end cut off."""
    def text_width(text: str, size: float) -> int:
        return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, size, 1)[0][0]

    scale = max(smallest, min(scale, scale * width / max(text_width(label, scale), 1)))
    while len(label) > 1 and text_width(label, scale) > width:
        label = label[:-1]
    return label, scale


def draw_faces(image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A copy of ``image`` with each face's box and 68 landmarks drawn on it."""
    canvas = image.copy()
    scale = max(1, round(max(image.shape[:2]) / 400))
    for face in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 255, 0), scale)
        for x, y in face.landmarks:
            cv2.circle(canvas, (int(round(x)), int(round(y))), scale, (255, 0, 0), -1)
    return canvas
