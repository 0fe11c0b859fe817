"""Training items per second on one core: crops decoded from their files vs read from the memory-mapped cache.

    python benchmarks/data_loading.py [--data prepared/all256] [--size 128] [--items 500]

Both datasets draw the same occlusions (fixed per index), so the difference is the decoding alone; the cache is
built first if it is not there yet (its build time is printed). The load average is printed: other processes on a
shared machine slow both figures.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from unmask.data.crop_cache import build_cache
from unmask.data.datamodule import OCCLUDED_SETS, OccludedFaces
from unmask.data.manifest import read_manifest


def items_per_second(dataset: OccludedFaces, items: int) -> float:
    """Items per second over the first ``items`` indices."""
    start = time.perf_counter()
    for index in range(items):
        dataset[index]
    return items / (time.perf_counter() - start)


def main() -> None:
    """Print items/s of both ways, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="prepared/all256")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--items", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    manifest = read_manifest(args.data).select(split="train", exclude_sets=OCCLUDED_SETS)  # the training set
    start = time.perf_counter()
    build_cache(manifest, args.size)
    print(f"cache ready in {time.perf_counter() - start:.1f} s ({len(manifest)} crops at {args.size}²), "
          f"load average {os.getloadavg()[0]:.1f}")
    decoded = items_per_second(OccludedFaces(manifest, args.size, base_seed=0), args.items)
    cached = items_per_second(OccludedFaces(manifest, args.size, base_seed=0, cache_crops=True), args.items)
    print(f"decoded from files: {decoded:7.1f} items/s")
    print(f"memory-mapped cache: {cached:7.1f} items/s  ({cached / decoded:.2f}x)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
