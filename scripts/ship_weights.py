"""Export a training run's weights as shipped fp16 safetensors plus their record.

    python scripts/ship_weights.py runs/deepfill_cpu --name deepfill
    python scripts/ship_weights.py runs/segmenter_cpu --name segmenter

Inpainting runs ship their EMA generator to ``src/unmask/assets/weights/<name>``; a ``recipe: segmenter`` run ships
the occlusion segmenter to ``src/unmask/assets/weights/detector/<name>``. The record (``<name>.yaml``) keeps the model,
its kwargs, the input size, the sha256, the run's step count and its resolved training config, so the model card
can cite them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from unmask.face.occluder_net import DETECTOR_DIR
from unmask.models.pretrained import WEIGHTS_DIR, save_shipped
from unmask.train.run import load_run


def main() -> None:
    """Read the newest ``RUN/checkpoints/last*.ckpt`` and ``RUN/config.yaml``; write the shipped files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", default="deepfill")
    args = parser.parse_args()
    config, _, _ = load_run(args.run, prefix="")
    model = config["model"]
    if model.get("recipe") == "segmenter":
        config, step, state = load_run(args.run, prefix="segmenter.")
        record = {"model": "segmenter", "kwargs": {"width": model["width"], "depth": model["depth"]}}
        directory = DETECTOR_DIR
    else:
        config, step, state = load_run(args.run)
        record = {"model": model["generator"]["name"], "kwargs": model["generator"].get("kwargs", {})}
        directory = WEIGHTS_DIR
    record.update({
        "size": config["data"]["size"],
        "trained": {"steps": step, "batch_size": config["data"]["batch_size"],
                    "images_seen": step * int(config["data"]["batch_size"]),
                    "config": config},
    })
    path = save_shipped(args.name, state, record, directory=directory)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
