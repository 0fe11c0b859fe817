"""Training callbacks: sample grids of the EMA generator, RNG state saved with every checkpoint, and checkpoints
kept at fixed steps."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from unmask.io import mask_to_image, save_image, tensor_to_image
from unmask.viz import image_grid


class SampleGrid(L.Callback):
    """Every ``every`` steps, write ``samples/step_<N>.png`` from the first ``count`` validation items.

    Subclasses say what a row shows by overriding ``rows``; this one shows an inpainting run's EMA generator:
    input, mask, output, truth.
    """

    def __init__(self, out_dir: str | Path, every: int = 500, count: int = 6) -> None:
        self.out_dir = Path(out_dir)
        self.every = every
        self.count = count
        self._items: list[Any] | None = None

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Write a grid when the global step hits a multiple of ``every`` (rank zero only)."""
        if trainer.global_step % self.every or not trainer.is_global_zero:
            return
        if self._items is None:  # validation items are fixed per index: read them once
            dataset = trainer.datamodule.splits["val"]
            self._items = [dataset[i] for i in range(min(self.count, len(dataset)))]
        columns = [torch.stack([item[k] for item in self._items]).to(module.device)
                   for k, first in enumerate(self._items[0]) if isinstance(first, torch.Tensor)]
        with torch.no_grad():
            rows, headers = self.rows(module, columns, f"step {trainer.global_step}")
        save_image(self.out_dir / f"step_{trainer.global_step:07d}.png", image_grid(rows, headers, cell=128))

    def rows(self, module: L.LightningModule, columns: list[torch.Tensor],
             step: str) -> tuple[list[list[np.ndarray]], list[str]]:
        """Picture rows and column headers from the stacked tensor fields of the validation items."""
        image, mask = columns[:2]
        output = module.ema(image, mask)
        rows = [[tensor_to_image(image[i] * (1 - mask[i]) + mask[i]), mask_to_image(mask[i]),
                 tensor_to_image(output[i]), tensor_to_image(image[i])] for i in range(len(image))]
        return rows, ["input", "mask", step, "truth"]


def _plain_numpy_state() -> tuple:
    """NumPy's legacy RNG state with plain Python types, so checkpoints load with ``weights_only=True``."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    return name, keys.tolist(), int(position), int(has_gauss), float(cached)


class RngState(L.Callback):
    """Save Python, NumPy and torch RNG states in checkpoints and restore them on resume."""

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict) -> None:
        """Store the RNG states."""
        checkpoint["rng_states"] = {
            "python": random.getstate(), "numpy": _plain_numpy_state(), "torch": torch.get_rng_state(),
        }

    def on_load_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict) -> None:
        """Restore the RNG states when present."""
        states = checkpoint.get("rng_states")
        if states:
            random.setstate(states["python"])
            name, keys, position, has_gauss, cached = states["numpy"]
            np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
            torch.set_rng_state(states["torch"])


class KeptCheckpoints(ModelCheckpoint):
    """A checkpoint every ``every`` steps that is never overwritten (``<dirpath>/step=000800.ckpt``), so an earlier
    state of a run can be evaluated and shipped; it sits beside the run's rolling ``last.ckpt`` checkpointer."""

    def __init__(self, dirpath: Path, every: int) -> None:
        super().__init__(dirpath=dirpath, filename="{step:06d}", save_top_k=-1, every_n_train_steps=every)

    @property
    def state_key(self) -> str:
        """Distinct from the rolling checkpointer's key even when both run at the same interval."""
        return f"kept-{super().state_key}"
