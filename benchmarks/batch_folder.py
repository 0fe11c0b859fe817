"""Throughput of ``unmask remove`` over a folder, on this machine's CPU.

    python benchmarks/batch_folder.py [--count 1000] [--models telea,deepfill,deepfill@onnxruntime] [--batch-size 8]
        [--workers 1]

Writes ``count`` 512² JPEG photos (the astronaut, shifted and re-shaded, each with a synthetic surgical mask) into a
temporary folder, runs the same code as ``unmask remove FOLDER -o OUT`` on them once per model and prints images/s
and the peak resident memory. ``NAME@onnxruntime`` runs the model's shipped weights in ONNX Runtime
(``--backend onnxruntime``); plain names run in PyTorch, as ``unmask remove`` does by default.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage import data

from unmask.batch import remove_folder
from unmask.face import detect_faces
from unmask.io import list_images, save_image
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker


def write_photos(folder: Path, count: int) -> None:
    """``count`` distinct 512² JPEGs with a masked face each."""
    astronaut = data.astronaut()
    occluded, _ = occlude(astronaut, "surgical", np.random.default_rng(0), face=detect_faces(astronaut)[0])
    rng = np.random.default_rng(1)
    for index in range(count):
        shifted = np.roll(occluded, (int(rng.integers(-20, 20)), int(rng.integers(-20, 20))), axis=(0, 1))
        shade = np.clip(shifted.astype(np.int16) + int(rng.integers(-15, 15)), 0, 255).astype(np.uint8)
        save_image(folder / f"photo_{index:05d}.jpg", shade)


def main() -> None:
    """Print images/s per model."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--models", default="telea,deepfill,deepfill@onnxruntime")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, {args.count} photos 512², "
          f"batch {args.batch_size} photos, {args.workers} loader worker(s)")
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        write_photos(root / "in", args.count)
        inputs = list_images([root / "in"])
        for name in args.models.split(","):
            model, _, backend = name.partition("@")
            unmasker = Unmasker(model, backend=backend or "torch")
            start = time.perf_counter()
            written, failed, _ = remove_folder(inputs, root / f"out_{name}", unmasker, batch_size=args.batch_size,
                                               workers=args.workers, progress=False)
            seconds = time.perf_counter() - start
            peak = [resource.getrusage(who).ru_maxrss / 1024 for who in (resource.RUSAGE_SELF,
                                                                         resource.RUSAGE_CHILDREN)]
            print(f"{name:22s} {written} written, {failed} failed in {seconds:.1f} s: {written / seconds:.2f} "
                  f"images/s; peak RSS so far: main {peak[0]:.0f} MB, loader workers {peak[1]:.0f} MB")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
