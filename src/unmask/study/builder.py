"""Build a realism study from real and unmasked photos: label each by its provenance, re-encode all alike, pair."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from unmask.errors import UnmaskError
from unmask.io import list_images, load_image
from unmask.provenance import edited_by
from unmask.study.store import StudyStore

REAL = "real"
TIME_LIMITS_MS = (250, 1000, 4000, None)  # seed 002's user study; None = unlimited
JPEG_QUALITY = 95


def _encode(image: np.ndarray, max_side: int) -> tuple[bytes, int, int]:
    """Downscale so the longer side is at most ``max_side`` and encode as JPEG without metadata."""
    pil = Image.fromarray(image)
    if max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue(), pil.width, pil.height


def _source_key(path: Path) -> str:
    """The name shared by a photo and its unmasked copy (``a.jpg``, ``out/a.jpg``, ``a.unmasked.png``)."""
    return path.name.split(".")[0]


def build_study(db: str | os.PathLike, inputs: Sequence[str | os.PathLike], name: str = "realism study",
                tasks: Sequence[str] = ("rate", "pair"), time_limits_ms: Sequence[int | None] = TIME_LIMITS_MS,
                max_side: int = 1024, seed: int = 0) -> dict[str, int]:
    """Create the study file ``db`` from image files/folders; returns counts per method and of pairs.

    An image whose metadata says ``unmask`` made it (``unmask remove`` and the server write this) is labelled
    with that model; every other image is real. All images are re-encoded the same way (JPEG, no metadata,
    longer side <= ``max_side``) so neither format nor metadata tells them apart. For the ``pair`` task each
    unmasked image is paired with the real photo of the same name, else with a random real photo.
    """
    paths = list_images(inputs)
    if not paths:
        raise UnmaskError("no images given for the study")
    labelled = []
    for path in paths:
        image = load_image(path)
        labelled.append((path, edited_by(path) or REAL, *_encode(image, max_side)))
    real = [item for item in labelled if item[1] == REAL]
    fake = [item for item in labelled if item[1] != REAL]
    if "pair" in tasks and (not real or not fake):
        raise UnmaskError(f"the pair task needs real and unmasked photos; found {len(real)} real and {len(fake)} "
                          f"unmasked (unmasked ones carry unmask's metadata)")
    store = StudyStore.create(db, name, list(tasks), list(time_limits_ms))
    ids = {path: store.add_image(method, path.name, data, width, height)
           for path, method, data, width, height in labelled}
    counts: dict[str, int] = {}
    for _, method, *_ in labelled:
        counts[method] = counts.get(method, 0) + 1
    if "pair" in tasks:
        rng = np.random.default_rng(seed)
        by_key = {_source_key(path): path for path, *_ in real}
        for path, *_ in fake:
            partner = by_key.get(_source_key(path)) or real[rng.integers(len(real))][0]
            store.add_pair(ids[partner], ids[path])
        counts["pairs"] = len(fake)
    return counts
