"""Seed 003's η study: train DMFN once per discriminator feature-matching weight η, score each on eye censor bars.

    python scripts/eta_study.py --etas 0,2,5,8 --steps 2000 --size 128 --limit 30 \
        --data prepared/all256 --runs runs/eta_study -o docs/eval/eta_study

Each η gets its own run folder ``<runs>/eta_<η>`` from ``--config`` (``model.losses.eta`` overridden); a run that
already has ``--steps`` steps is not trained again, one with fewer is resumed. All runs' EMA generators are then
scored together by the evaluation harness on the same ``bar`` holes over the first ``--limit`` test faces. The seed
reports LPIPS; the LPIPS backbones cannot be downloaded here, so the metric is the harness's LPIPS-style VGG16
distance (``vgg_perceptual``: unit-normalised relu1_2..relu5_3 features, uncalibrated), next to L1/PSNR/SSIM in the
hole. Writes ``<output>/eta_study.md``, ``eta_study.json`` and the harness report (tables, grid) there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from unmask.eval.harness import evaluate, load_eval_set
from unmask.models import load
from unmask.run_folder import load_checkpoint
from unmask.train.run import load_config, train

VGG = "../shared/weights/vgg16_imagenet_keras/vgg16_features_fp16.pth"
COLUMNS = ("vgg_perceptual", "l1_hole", "psnr_hole", "ssim_hole")


def train_eta(config_path: str, eta: float, run_dir: Path, args: argparse.Namespace) -> Path:
    """Train (or resume, or reuse) the run for one η; returns its folder."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file() and load_checkpoint(last)["global_step"] >= args.steps:
        return run_dir
    config = load_config(config_path, {
        "run_dir": str(run_dir), "model.losses.eta": eta, "trainer.max_steps": args.steps,
        "data.data_dir": args.data, "data.size": args.size, "data.batch_size": args.batch_size,
        "model.generator.kwargs.in_size": args.size, "model.vgg_path": args.train_vgg,
        "trainer.val_check_interval": min(args.steps, 500), "checkpoint_every": min(args.steps, 500),
        "sample_every": min(args.steps, 500),
    })
    return train(config, resume="last")


def markdown(rows: list[dict], settings: dict) -> str:
    """The η table: one row per η with the hole metrics."""
    lines = ["# η study (seed 003): discriminator feature matching weight, DMFN on eye censor bars", "",
             "Settings: " + ", ".join(f"`{key}={value}`" for key, value in settings.items()), "",
             "| η | run | LPIPS-style VGG ↓ | L1 hole % ↓ | PSNR hole ↑ | SSIM hole ↑ |", "|---|---|---|---|---|---|"]
    for row in rows:
        cells = " | ".join("n/a" if row[name] is None else f"{row[name]:.4g}" for name in COLUMNS)
        lines.append(f"| {row['eta']:g} | {row['model']} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Train every η, evaluate them together, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/train/dmfn_cpu.yaml")
    parser.add_argument("--etas", default="0,2,5,8", help="comma-separated η values (default: the seed's)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per η")
    parser.add_argument("--size", type=int, default=128, help="training and evaluation size")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, default=30, help="test faces to score (the seed used 30)")
    parser.add_argument("--data", default="prepared/all256")
    parser.add_argument("--train-vgg", default=VGG, help="VGG16 weights for the training losses ('' for none)")
    parser.add_argument("--vgg", default=VGG, help="VGG16 weights for the LPIPS-style metric")
    parser.add_argument("--runs", type=Path, default=Path("runs/eta_study"))
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/eval/eta_study"))
    args = parser.parse_args()
    args.train_vgg = args.train_vgg or None
    etas = [float(value) for value in args.etas.split(",")]
    models = {}
    for eta in etas:
        run = train_eta(args.config, eta, args.runs / f"eta_{eta:g}", args)
        model = load(run)
        models[eta] = (model.card.label, model)  # e.g. "eta_5@1000": short enough for the grid titles
    settings = {"config": args.config, "steps": args.steps, "size": args.size, "batch_size": args.batch_size,
                "limit": args.limit, "data": args.data, "occlusion": "bar"}
    results = evaluate(list(models.values()), load_eval_set(args.data, "test", args.limit), ["bar"], size=args.size,
                       limit=args.limit, vgg_path=args.vgg, out_dir=args.output, settings=settings)
    by_model = {entry["model"]: entry for entry in results.summary}
    rows = [{"eta": eta, "model": label, **{name: by_model[label][name] for name in COLUMNS}}
            for eta, (label, _) in models.items()]
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "eta_study.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=1))
    table = markdown(rows, settings)
    (args.output / "eta_study.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
