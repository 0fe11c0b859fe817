"""The memory-mapped crop cache gives the training items the decoded files give, and is built once."""

import pickle

import numpy as np
import torch

from unmask.data.crop_cache import CropCache, cache_path
from unmask.data.datamodule import OccludedFaces
from unmask.data.manifest import read_manifest


def test_cached_items_equal_decoded_items(tiny_prepared):
    manifest = read_manifest(tiny_prepared).select(split="train")
    for size in (64, 32):  # the crops' own size, and a resize (landmarks scaled with them)
        decoded = OccludedFaces(manifest, size, base_seed=3)
        cached = OccludedFaces(manifest, size, base_seed=3, cache_crops=True)
        assert cache_path(manifest, size).is_file()
        for index in range(len(manifest)):
            for first, second in zip(decoded[index], cached[index], strict=True):
                if isinstance(first, torch.Tensor):
                    assert torch.equal(first, second)
                else:
                    assert first == second


def test_cache_is_reused_and_pickles_without_its_array(tiny_prepared):
    manifest = read_manifest(tiny_prepared).select(split="train")
    cache = CropCache(manifest, 48)
    stamp = cache.path.stat().st_mtime_ns
    crop, scale = cache[1]
    assert crop.shape == (48, 48, 3) and crop.dtype == np.uint8 and scale == 48 / 64
    assert CropCache(manifest, 48).path.stat().st_mtime_ns == stamp
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._crops is None and np.array_equal(clone[1][0], crop)
    assert cache_path(manifest, 48) != cache_path(read_manifest(tiny_prepared).select(split="val"), 48)
