"""Shared fixtures: the astronaut and paths into ../shared/data (tests that need them skip when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
