"""``unmask train``: build the data, the training module and a Lightning Trainer from one YAML config.

``RECIPES`` is the one dispatcher: ``model.recipe`` (default ``deepfill``) names the module, whose hooks say the
rest; ``data.module`` names the data module (``DATA_MODULES``; default: the recipe's own, so older configs load).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

from unmask.data.datamodule import FaceDataModule
from unmask.data.pairs import PairDataModule
from unmask.data.segmentation import OccluderDataModule
from unmask.errors import UnmaskError
from unmask.run_folder import load_checkpoint, resolve_resume
from unmask.train.callbacks import KeptCheckpoints, RngState, SampleGrid
from unmask.train.recipes import DeepFillRecipe, DMFNRecipe, HOGRecipe, PConvRecipe, TextureRecipe
from unmask.train.reference_module import ReferenceGAN
from unmask.train.segmenter import SegmenterModule

RECIPES: dict[str, type[L.LightningModule]] = {
    "deepfill": DeepFillRecipe, "pconv": PConvRecipe, "dmfn": DMFNRecipe, "hog": HOGRecipe, "texture": TextureRecipe,
    "reference": ReferenceGAN, "segmenter": SegmenterModule,
}
DATA_MODULES: dict[str, type[L.LightningDataModule]] = {
    "faces": FaceDataModule, "pairs": PairDataModule, "occluders": OccluderDataModule,
}


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


def _recipe(model: dict[str, Any]) -> tuple[type[L.LightningModule], dict[str, Any]]:
    """The module class a config's ``model`` section names (``recipe``, default ``deepfill``) and its arguments."""
    kwargs = dict(model)
    recipe = kwargs.pop("recipe", "deepfill")
    if recipe not in RECIPES:
        raise UnmaskError(f"unknown model.recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[recipe], kwargs


def build_module(model: dict[str, Any]) -> L.LightningModule:
    """The training module of a config's ``model`` section."""
    module_class, kwargs = _recipe(model)
    return module_class(**kwargs)


def build_run(config: dict[str, Any], run_dir: Path) -> tuple[L.LightningDataModule, L.LightningModule,
                                                                SampleGrid]:
    """Data module, training module and sample-grid callback of a training config."""
    module_class, model = _recipe(config["model"])
    data = dict(config["data"])
    kind = data.pop("module", module_class.data_module)
    if kind not in DATA_MODULES:
        raise UnmaskError(f"unknown data.module {kind!r}; choose one of {', '.join(DATA_MODULES)}")
    model, data = module_class.resolve(model, data, config)
    samples = module_class.sample_grid(run_dir / "samples", every=int(config.get("sample_every", 500)))
    return DATA_MODULES[kind](**data), module_class(**model), samples


def train(config: dict[str, Any], resume: str | None = None) -> Path:
    """Train (or resume) one run; the run folder holds the resolved config, checkpoints and sample grids."""
    config = copy.deepcopy(config)
    run_dir = Path(config["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    L.seed_everything(int(config.get("seed", 0)), workers=True)
    data, module, samples = build_run(config, run_dir)
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
