"""Inference speed on this machine, side by side in one run.

    python benchmarks/inference.py [--models deepfill,telea] [--repeats 5]

Prints per-face latency of each model at 128² and 256² (a lower-face hole; learned models with random weights when
none are shipped: speed does not depend on the weights), and the whole pipeline (detect, find the mask, align,
inpaint, paste back) on a 1024² photo with a synthetic surgical mask, for the default model.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch
from skimage import data

from unmask.face import detect_faces
from unmask.models import create_model
from unmask.models.pretrained import build_model, shipped_models
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker


def median_seconds(function, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    """Print the latency table and the pipeline time."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="deepfill,telea")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}; shipped weights: {', '.join(shipped_models()) or 'none'}")
    print(f"{'model':12s} {'128² ms':>9s} {'256² ms':>9s}")
    for name in args.models.split(","):
        model = build_model(name) if name in shipped_models() else create_model(name).eval()
        cells = []
        for size in (128, 256):
            image = torch.rand(1, 3, size, size)
            mask = torch.zeros(1, 1, size, size)
            mask[..., size // 2: size * 7 // 8, size // 4: size * 3 // 4] = 1
            with torch.no_grad():
                cells.append(1000 * median_seconds(lambda m=model, i=image, k=mask: m(i, k), args.repeats))
        print(f"{name:12s} {cells[0]:9.1f} {cells[1]:9.1f}")
    photo = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    occluded, _ = occlude(photo, "surgical", np.random.default_rng(0), face=detect_faces(photo)[0])
    unmasker = Unmasker()
    seconds = median_seconds(lambda: unmasker(occluded), args.repeats)
    print(f"pipeline, 1024² photo, model {unmasker.model_name}: {seconds:.3f} s")


if __name__ == "__main__":
    main()
