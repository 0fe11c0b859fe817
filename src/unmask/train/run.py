"""``unmask train``: build the data, the GAN module and a Lightning Trainer from one YAML config."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

from unmask.data.datamodule import FaceDataModule
from unmask.errors import UnmaskError
from unmask.run_folder import load_checkpoint, resolve_resume
from unmask.train.callbacks import KeptCheckpoints, RngState, SampleGrid
from unmask.train.recipes import build_module


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a training YAML and apply dotted-key overrides such as ``{"data.batch_size": 4}``."""
    path = Path(path)
    if not path.is_file():
        raise UnmaskError(f"{path}: no such config")
    config = yaml.safe_load(path.read_text())
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config


def trainer_precision(config: dict[str, Any], gpu: bool) -> str:
    """The Lightning precision a run trains in: the config's ``trainer.precision``, else bf16 autocast on a GPU and
    float32 on a CPU."""
    return str(config.get("trainer", {}).get("precision", "bf16-mixed" if gpu else "32-true"))


def train(config: dict[str, Any], resume: str | None = None) -> Path:
    """Train (or resume) one run; the run folder holds the resolved config, checkpoints and sample grids."""
    config = copy.deepcopy(config)
    run_dir = Path(config["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    L.seed_everything(int(config.get("seed", 0)), workers=True)
    if config["model"].get("recipe") == "reference":  # reference-guided pairs: unmask.train.reference_module
        from unmask.train.reference_module import build_reference_run

        data, module, samples = build_reference_run(config, run_dir)
    elif config["model"].get("recipe") == "segmenter":  # the learned occlusion detector: unmask.train.segmenter
        from unmask.train.segmenter import build_segmenter_run

        data, module, samples = build_segmenter_run(config, run_dir)
    else:
        data = FaceDataModule(**config["data"])
        module = build_module(config["model"])  # model.recipe picks the loss recipe (default: deepfill)
        samples = SampleGrid(run_dir / "samples", every=int(config.get("sample_every", 500)))
    trainer_cfg = dict(config.get("trainer", {}))
    devices = trainer_cfg.pop("devices", 1)
    trainer_cfg.pop("precision", None)
    gpu = torch.cuda.is_available()
    trainer = L.Trainer(
        default_root_dir=str(run_dir),
        accelerator="gpu" if gpu else "cpu",
        devices=devices,
        strategy="ddp" if gpu and int(devices) > 1 or int(trainer_cfg.get("num_nodes", 1)) > 1 else "auto",
        precision=trainer_precision(config, gpu),
        callbacks=[
            ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0,
                            every_n_train_steps=int(config.get("checkpoint_every", 500))),
            *([KeptCheckpoints(run_dir / "checkpoints", int(config["keep_every"]))] if config.get("keep_every")
              else []),
            samples,
            RngState(),
        ],
        logger=L.pytorch.loggers.CSVLogger(str(run_dir), name="logs"),
        **trainer_cfg,
    )
    checkpoint = resolve_resume(resume, run_dir)
    if checkpoint is not None:  # Lightning's own load would refuse a crafted file too, but with a traceback
        load_checkpoint(checkpoint)
    trainer.fit(module, datamodule=data, ckpt_path=checkpoint)
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    return run_dir
