"""Export the EMA generator of a training run as shipped fp16 safetensors plus its record.

    python scripts/ship_weights.py runs/deepfill_cpu --name deepfill

The record (``src/unmask/assets/weights/<name>.yaml``) keeps the model, its kwargs, the input size, the sha256,
and the run's step count, so the model card can cite them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from unmask.models.pretrained import save_shipped
from unmask.train.run import load_run


def main() -> None:
    """Read ``RUN/checkpoints/last.ckpt`` and ``RUN/config.yaml``; write the shipped files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", default="deepfill")
    args = parser.parse_args()
    config, step, state = load_run(args.run)
    generator = config["model"]["generator"]
    record = {
        "model": generator["name"], "kwargs": generator.get("kwargs", {}), "size": config["data"]["size"],
        "trained": {"steps": step, "batch_size": config["data"]["batch_size"],
                    "images_seen": step * int(config["data"]["batch_size"]),
                    "config": str(args.run / "config.yaml")},
    }
    path = save_shipped(args.name, state, record)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
