"""Aligned crops decoded once into one uint8 array on disk, memory-mapped, so training never decodes an image."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from unmask.data.manifest import Manifest
from unmask.errors import UnmaskError


def cache_path(manifest: Manifest, size: int) -> Path:
    """``<prepared folder>/cache/crops_<size>_<key>.npy``; the key changes when the rows or their files change."""
    digest = hashlib.sha1(str(size).encode())
    for row in manifest.rows:
        digest.update(row["path"].encode() + b"\0")
    return manifest.root / "cache" / f"crops_{size}_{digest.hexdigest()[:12]}.npy"


def decode_crop(path: Path, size: int) -> tuple[np.ndarray, float]:
    """RGB uint8 (size, size, 3) of one crop and the factor from its own pixel coordinates to ``size``."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UnmaskError(f"{path}: cannot read this prepared crop (run `unmask prepare` again)")
    scale = size / bgr.shape[0]
    if bgr.shape[0] != size:
        bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(bgr[:, :, ::-1]), scale


def build_cache(manifest: Manifest, size: int) -> Path:
    """Decode every crop of ``manifest`` at ``size`` into the cache file (atomically); returns its path.

    Next to it, ``<name>.scales.npy`` keeps each crop's landmark scale factor. An existing cache is reused.
    """
    path = cache_path(manifest, size)
    scales_path = path.with_suffix(".scales.npy")
    if path.is_file() and scales_path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
    crops = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(len(manifest), size, size, 3))
    scales = np.empty(len(manifest), dtype=np.float32)
    for index in tqdm(range(len(manifest)), desc=f"caching {size}² crops", unit="crop"):
        crops[index], scales[index] = decode_crop(manifest.image_path(index), size)
    crops.flush()
    del crops
    np.save(scales_path, scales)
    os.replace(partial, path)
    return path


class CropCache:
    """Read access to a built cache: ``cache[index]`` is ``(RGB uint8 crop, landmark scale)``.

    The file is opened lazily, once per process, so the object pickles cheaply into DataLoader workers.
    """

    def __init__(self, manifest: Manifest, size: int) -> None:
        self.path = build_cache(manifest, size)
        self.scales = np.load(self.path.with_suffix(".scales.npy"))
        self._crops: np.ndarray | None = None

    def __getitem__(self, index: int) -> tuple[np.ndarray, float]:
        if self._crops is None:
            self._crops = np.load(self.path, mmap_mode="r")
        return np.array(self._crops[index]), float(self.scales[index])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_crops": None}
