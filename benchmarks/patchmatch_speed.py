"""PatchMatch before and after the speed-up, side by side in one process: seconds per face and quality.

    python benchmarks/patchmatch_speed.py [--data prepared/all256] [--limit 100] [--kinds surgical,bar,strokes]

"old" is ``PatchMatchInpainter`` exactly as it was at commit OLD_COMMIT (read with ``git show``, so run this from
the repository), "new" is the registered ``patchmatch``. Both fill the same evaluation inputs (the harness of
``unmask evaluate``: test faces at 128², holes seeded per face and kind); the harness times each call. Prints per
kind and model the seconds per face and the mean whole-image and hole PSNR/SSIM, then the speed ratio and the
paired difference new - old of each metric with a 95% interval (1.96 standard errors).
"""

from __future__ import annotations

import argparse
import subprocess
import types
from pathlib import Path
from unittest import mock

import numpy as np
import torch.nn as nn

from unmask.eval.harness import evaluate, load_eval_set
from unmask.models import create_model, registry

OLD_COMMIT = "4b55005280763565edbd06993bc3d45ae416227b"
COLUMNS = ("psnr", "psnr_hole", "ssim", "ssim_hole")


def old_patchmatch(commit: str = OLD_COMMIT) -> nn.Module:
    """The PatchMatch inpainter of ``commit``'s classical.py, loaded without touching the model registry."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{commit}:src/unmask/models/classical.py"],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout
    module = types.ModuleType("classical_before_speedup")
    with mock.patch.dict(registry._BUILDERS, clear=True):  # its @register_model calls land in a throwaway registry
        exec(compile(source, f"{commit[:7]}:classical.py", "exec"), module.__dict__)
    return module.PatchMatchInpainter()


def main() -> None:
    """Evaluate old and new on the same inputs and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="prepared/all256")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--kinds", default="surgical,bar,strokes")
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    results = evaluate(
        [("old", old_patchmatch()), ("new", create_model("patchmatch"))],
        load_eval_set(args.data, args.split, args.limit),
        kinds,
        size=args.size,
        limit=args.limit,
        progress=False,
    )
    print(f"{args.limit} {args.split} faces of {args.data} at {args.size}²; old = {OLD_COMMIT[:7]}")
    print(f"{'kind':9s} {'model':5s} {'n':>4s} {'s/face':>7s} " + " ".join(f"{name:>9s}" for name in COLUMNS))
    for entry in results.summary:
        cells = " ".join(f"{entry[name]:9.4f}" for name in COLUMNS)
        print(f"{entry['kind']:9s} {entry['model']:5s} {entry['count']:4d} {entry['seconds']:7.4f} {cells}")
    rows = {(row["model"], row["kind"], row["index"]): row for row in results.rows}
    pairs = [(rows[("old", kind, index)], row) for (model, kind, index), row in rows.items() if model == "new"]
    old_seconds = sum(old["seconds"] for old, _ in pairs)
    new_seconds = sum(new["seconds"] for _, new in pairs)
    print(f"speed: old {old_seconds / len(pairs):.4f} s/face, new {new_seconds / len(pairs):.4f} s/face, "
          f"{old_seconds / new_seconds:.2f}x faster ({len(pairs)} fills each)")
    print("paired difference new - old (mean ± 1.96 SE):")
    for kind in ["all", *kinds]:
        chosen = [(old, new) for old, new in pairs if kind in ("all", new["kind"])]
        cells = []
        for name in COLUMNS:
            delta = np.array([new[name] - old[name] for old, new in chosen if None not in (new[name], old[name])])
            cells.append(f"{name} {delta.mean():+.4f} ± {1.96 * delta.std(ddof=1) / np.sqrt(len(delta)):.4f}")
        print(f"  {kind:9s} " + ", ".join(cells))


if __name__ == "__main__":
    main()
