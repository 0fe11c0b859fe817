"""Export a training run's weights as shipped fp16 safetensors plus their record.

    python scripts/ship_weights.py runs/deepfill_cpu --name deepfill
    python scripts/ship_weights.py runs/segmenter_cpu --name segmenter

Inpainting runs ship their EMA generator to ``src/unmask/assets/weights/<name>``; a ``recipe: segmenter`` run ships
the occlusion segmenter to ``src/unmask/assets/weights/detector/<name>``. The record (``<name>.yaml``) keeps the model,
its kwargs, the input size, the sha256, the run's step count and its resolved training config, so the model card
can cite them. A run that fine-tuned earlier shipped weights (``model.init_from`` a file with a record beside it)
keeps that record's training facts under ``trained.starts_from`` and the steps of every round in ``total_steps``;
a reference-guided run records ``needs_reference: true`` and the facts of its frozen prior under ``trained.prior``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from unmask.face.occluder_net import DETECTOR_DIR
from unmask.io import sha256_of
from unmask.models.pretrained import WEIGHTS_DIR, save_shipped
from unmask.run_folder import load_run


def starts_from(init_from: str | None) -> dict[str, Any] | None:
    """The training facts of the shipped weights a run was fine-tuned from (their record's ``trained`` and sha256),
    read before they are replaced; None for a run from random weights or from a file without a matching record."""
    if not init_from:
        return None
    weights = Path(init_from)
    record_path = weights.with_suffix(".yaml")
    if not weights.is_file() or not record_path.is_file():
        return None
    record = yaml.safe_load(record_path.read_text())
    if record.get("sha256") != sha256_of(weights):
        return None
    return {**record["trained"], "sha256": record["sha256"]}


def main() -> None:
    """Read the newest ``RUN/checkpoints/last*.ckpt`` (or ``--checkpoint``) and ``RUN/config.yaml``; write the
    shipped files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", default="deepfill")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a kept checkpoint of the run (RUN/checkpoints/step=001500.ckpt) instead of its last")
    args = parser.parse_args()
    config, _, _ = load_run(args.run, prefix="", checkpoint_path=args.checkpoint)
    model = config["model"]
    if model.get("recipe") == "segmenter":
        config, step, state = load_run(args.run, prefix="segmenter.", checkpoint_path=args.checkpoint)
        record = {"model": "segmenter", "kwargs": {"width": model["width"], "depth": model["depth"]}}
        directory = DETECTOR_DIR
    else:
        config, step, state = load_run(args.run, checkpoint_path=args.checkpoint)
        record = {"model": model["generator"]["name"], "kwargs": model["generator"].get("kwargs", {})}
        directory = WEIGHTS_DIR
    record.update({
        "size": config["data"]["size"],
        "trained": {"steps": step, "batch_size": config["data"]["batch_size"],
                    "images_seen": step * int(config["data"]["batch_size"]),
                    "config": config},
    })
    previous = starts_from(model.get("init_from"))
    if previous is not None:
        record["trained"]["starts_from"] = previous
        record["trained"]["total_steps"] = step + int(previous.get("total_steps", previous["steps"]))
    if model.get("recipe") == "reference":
        record["needs_reference"] = True  # called as model(image, mask, reference, validity)
        prior = starts_from(model.get("prior_from"))  # the frozen shipped model inside it
        if prior is not None:
            record["trained"]["prior"] = prior
    path = save_shipped(args.name, state, record, directory=directory)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
