"""The prepared-data manifest: ``manifest.csv`` (one aligned crop a row) and ``landmarks.npy`` (N, 68, 2)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unmask.errors import UnmaskError
from unmask.face.types import Face, keypoints_from_landmarks

MANIFEST_COLUMNS = (
    "path", "split", "source_set", "source_file", "identity", "group", "face_index", "score", "coverage",
)


@dataclass
class Manifest:
    """Rows of ``manifest.csv`` plus the matching landmark array, rooted at the prepared folder."""

    root: Path
    rows: list[dict[str, str]]
    landmarks: np.ndarray  # (N, 68, 2) float32, crop pixel coordinates

    def select(self, split: str | None = None, sets: list[str] | None = None,
               exclude_sets: list[str] | None = None) -> Manifest:
        """A manifest restricted to one split and to (or without) some source sets."""
        keep = [
            i for i, row in enumerate(self.rows)
            if (split is None or row["split"] == split)
            and (sets is None or row["source_set"] in sets)
            and (exclude_sets is None or row["source_set"] not in exclude_sets)
        ]
        return Manifest(self.root, [self.rows[i] for i in keep], self.landmarks[keep])

    def image_path(self, index: int) -> Path:
        """Absolute path of row ``index``'s aligned crop."""
        return self.root / self.rows[index]["path"]

    def __len__(self) -> int:
        return len(self.rows)


def read_manifest(root: str | Path) -> Manifest:
    """Load ``root/manifest.csv`` and ``root/landmarks.npy`` as written by ``unmask prepare``."""
    root = Path(root)
    csv_path, landmark_path = root / "manifest.csv", root / "landmarks.npy"
    if not csv_path.is_file() or not landmark_path.is_file():
        raise UnmaskError(f"{root}: not a prepared folder (run `unmask prepare` to make manifest.csv)")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    landmarks = np.load(landmark_path)
    if len(landmarks) != len(rows):
        raise UnmaskError(f"{root}: manifest.csv has {len(rows)} rows but landmarks.npy has {len(landmarks)}")
    return Manifest(root, rows, landmarks)


def write_manifest(root: str | Path, rows: list[dict[str, object]], landmarks: np.ndarray) -> None:
    """Write ``manifest.csv`` and ``landmarks.npy`` (each through a temporary file and a rename)."""
    root = Path(root)
    temp_csv = root / "manifest.csv.tmp"
    with open(temp_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    temp_npy = root / "landmarks.tmp.npy"
    np.save(temp_npy, np.asarray(landmarks, dtype=np.float32).reshape(-1, 68, 2))
    temp_npy.replace(root / "landmarks.npy")
    temp_csv.replace(root / "manifest.csv")


def face_from_landmarks(landmarks: np.ndarray, score: float = 1.0) -> Face:
    """Rebuild a Face (box, 5 keypoints) from 68 iBUG landmarks, e.g. those stored for an aligned crop."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    box = np.concatenate([landmarks.min(0), landmarks.max(0)])
    return Face(box=box, score=score, keypoints=keypoints_from_landmarks(landmarks), landmarks=landmarks)
