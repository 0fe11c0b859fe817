"""Build a realism study from real and unmasked photos: label each by its provenance, re-encode all alike, pair."""

from __future__ import annotations

import io
import os
from collections import Counter
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


def _label(path: Path) -> str:
    """The model that made the image according to its metadata, or 'real'; unreadable files fail later."""
    try:
        return edited_by(path) or REAL
    except (OSError, SyntaxError, ValueError):
        return REAL


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
    db = Path(db)
    if db.exists():
        raise UnmaskError(f"{db}: already exists; choose another --db or remove it first")
    paths = list_images(inputs)
    if not paths:
        raise UnmaskError("no images given for the study")
    methods = {path: _label(path) for path in paths}
    real = [path for path in paths if methods[path] == REAL]
    fake = [path for path in paths if methods[path] != REAL]
    if "pair" in tasks and (not real or not fake):
        raise UnmaskError(f"the pair task needs real and unmasked photos; found {len(real)} real and {len(fake)} "
                          f"unmasked (unmasked ones carry unmask's metadata)")
    partial = db.with_name(f".{db.name}.partial")  # renamed into place once complete
    partial.unlink(missing_ok=True)
    try:
        store = StudyStore.create(partial, name, list(tasks), list(time_limits_ms))
        ids = {path: store.add_image(methods[path], path.name, *_encode(load_image(path), max_side)) for path in paths}
        if "pair" in tasks:
            rng = np.random.default_rng(seed)
            by_key = {_source_key(path): path for path in real}
            for path in fake:
                partner = by_key.get(_source_key(path)) or real[rng.integers(len(real))]
                store.add_pair(ids[partner], ids[path])
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, db)
    counts = dict(Counter(methods[path] for path in paths))
    return {**counts, "pairs": len(fake)} if "pair" in tasks else counts
