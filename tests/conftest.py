"""Shared fixtures: the astronaut and paths into ../shared/data (tests that need them skip when absent)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from unmask.data.manifest import write_manifest
from unmask.face import align_face, detect_faces, transform_face
from unmask.io import save_image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# ONNX graphs of shipped weights go to a folder of this test session, never the user's ~/.cache (set before any
# server worker or fork server starts, so they inherit it).
os.environ["UNMASK_CACHE"] = tempfile.mkdtemp(prefix="unmask-test-cache-")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo, RGB uint8 (512, 512, 3)."""
    return data.astronaut()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data, or skip the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """Path of ../shared/weights, or skip the test when it is not there."""
    weights = SHARED_DATA.parent / "weights"
    if not weights.is_dir():
        pytest.skip("../shared/weights is not available")
    return weights


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory, astronaut):
    """A prepared folder of six astronaut crops (4 train, 1 val, 1 test) with real landmarks."""
    root = tmp_path_factory.mktemp("prepared")
    face = detect_faces(astronaut)[0]
    aligned = align_face(astronaut, face, size=64)
    landmarks = transform_face(face, aligned.matrix).landmarks
    rows = []
    for i, split in enumerate(["train"] * 4 + ["val", "test"]):
        crop = np.clip(aligned.image.astype(int) + 8 * i, 0, 255).astype(np.uint8)
        save_image(root / "crops" / f"a{i}.png", crop)
        rows.append({"path": f"crops/a{i}.png", "split": split, "source_set": "astro", "source_file": "-",
                     "identity": "", "group": f"g{i}", "face_index": 0, "score": 1.0, "coverage": 1.0})
    write_manifest(root, rows, np.stack([landmarks] * 6))
    return root
