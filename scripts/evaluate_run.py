"""Score a training run's EMA generator against classical baselines, before deciding to ship it.

    python scripts/evaluate_run.py /work/runs/deepfill_cpu --data prepared/all256 --limit 100 \
        --occlusions surgical,cloth,bar --baselines telea -o docs/eval/run_check

Uses the same harness, split and seeds as ``unmask evaluate``; the run is labelled ``<run name>@<step>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from unmask.eval.harness import evaluate, load_eval_set


def main() -> None:
    """Evaluate and print where the report is."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--occlusions", default="surgical,n95,kn95,cloth,bar")
    parser.add_argument("--baselines", default="telea")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    models = [str(args.run), *args.baselines.split(",")]
    evaluate(models, load_eval_set(args.data, "test", args.limit), args.occlusions.split(","), size=args.size,
             limit=args.limit, out_dir=args.output, settings={"run": str(args.run), "data": args.data})
    print(f"report: {Path(args.output) / 'results.md'}")


if __name__ == "__main__":
    main()
