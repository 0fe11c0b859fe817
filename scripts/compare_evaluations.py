"""One table from several ``unmask evaluate`` runs over the same faces (same data, split, size, seed and limit).

    python scripts/compare_evaluations.py docs/eval/classical_test128 docs/eval/patchmatch_test128 \
        [--metrics psnr_hole,ssim_hole,gmsd_hole] [--buckets strokes,holes,thick,medium,thin] [-o table.md]

Reads each run's ``results.json`` (written next to its ``results.md``), refuses runs whose faces or holes differ
(the harness draws the same holes for the same settings) and prints a Markdown table: one row per occlusion
kind, one column per model, the chosen summary metrics joined by " / ". The best value of the first metric in
each row is in bold. ``--buckets KINDS`` adds the partial-convolution paper's layout (Liu et al. 2018, Table 1):
L1 in the hole (%) per hole-ratio bucket, split into holes that touch the image border (B) and holes that do not
(N), pooled over the given kinds, one row per model.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from unmask.eval.buckets import BUCKET_LABELS

SAME = ("data", "split", "size", "seed", "limit")  # settings that fix the faces and the holes
HIGHER_IS_BETTER = {"psnr", "psnr_hole", "ssim", "ssim_hole"}
DIGITS = {"ssim": 3, "gmsd": 3, "vgg_perceptual": 3, "fd_vgg16": 0}  # decimals per metric (others: 2)


def load_summaries(folders: list[Path]) -> tuple[dict, dict[tuple[str, str], dict], list[dict]]:
    """The shared settings, ``{(model, kind): summary row}`` and the per-image rows of every run.

    A model scored again in a later run (e.g. new weights under the same name) replaces the earlier run's scores.
    SystemExit when the runs scored different faces or holes.
    """
    settings, rows, images = None, {}, []
    for folder in folders:
        path = folder / "results.json"
        if not path.is_file():
            raise SystemExit(f"{path}: not found (run `unmask evaluate ... -o {folder}` first)")
        results = json.loads(path.read_text())
        fixed = {key: results["settings"][key] for key in SAME}
        if settings is not None and fixed != settings:
            raise SystemExit(f"{folder}: evaluated other faces ({fixed}) than the first run ({settings})")
        settings = fixed
        rerun = {row["model"] for row in results["summary"]}
        rows = {key: row for key, row in rows.items() if key[0] not in rerun}
        rows.update({(row["model"], row["kind"]): row for row in results["summary"]})
        images = [row for row in images if row["model"] not in rerun] + results["per_image"]
    return settings, rows, images


def table(rows: dict[tuple[str, str], dict], metrics: list[str]) -> str:
    """Markdown: kinds down, models across, ``metric1 / metric2 / ...`` per cell, best first metric in bold."""
    models = list(dict.fromkeys(model for model, _ in rows))
    kinds = list(dict.fromkeys(kind for _, kind in rows))
    lines = ["| kind | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    first = metrics[0]
    for kind in kinds:
        present = [rows[(m, kind)][first] for m in models if (m, kind) in rows and rows[(m, kind)][first] is not None]
        best = (max if first in HIGHER_IS_BETTER else min)(present) if present else None
        cells = []
        for model in models:
            row = rows.get((model, kind))
            if row is None:
                cells.append("—")
                continue
            text = " / ".join("n/a" if row[m] is None else f"{row[m]:.{DIGITS.get(m.removesuffix('_hole'), 2)}f}"
                              for m in metrics)
            cells.append(f"**{text}**" if row[first] == best else text)
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bucket_table(images: list[dict], kinds: list[str]) -> str:
    """Markdown: models down, (hole-ratio bucket, N/B) across, mean L1 in the hole (%) and the image count below."""
    groups: dict[tuple[str, str, bool], list[float]] = defaultdict(list)
    for row in images:
        if row["kind"] in kinds:
            groups[(row["model"], row["bucket"], row["border"])].append(row["l1_hole"])
    models = list(dict.fromkeys(model for model, _, _ in groups))
    present = {(label, border) for _, label, border in groups}
    columns = [(label, border) for label in BUCKET_LABELS for border in (False, True) if (label, border) in present]
    lines = ["| model | " + " | ".join(f"{label} {'B' if border else 'N'}" for label, border in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for model in models:
        keys = [(model, label, border) for label, border in columns]
        cells = [f"{np.mean(groups[key]):.2f}" if key in groups else "—" for key in keys]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    counts = [len(groups.get((models[0], label, border), [])) for label, border in columns] if models else []
    lines.append("| images | " + " | ".join(str(count) for count in counts) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Print (and with -o write) the combined table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="output folders of `unmask evaluate`")
    parser.add_argument("--metrics", default="psnr_hole,ssim_hole,gmsd_hole")
    parser.add_argument("--buckets", default=None, help="kinds to pool for the L1 table by hole ratio and border")
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args()
    settings, rows, images = load_summaries(args.runs)
    text = (f"Settings: {', '.join(f'{key}={value}' for key, value in settings.items())}; cells: "
            f"{' / '.join(args.metrics.split(','))}.\n\n" + table(rows, args.metrics.split(",")))
    if args.buckets:
        text += (f"\nL1 in the hole (%) by hole ratio, N: hole away from the border, B: touching it; pooled over "
                 f"{args.buckets}.\n\n" + bucket_table(images, args.buckets.split(",")))
    if args.output:
        args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
