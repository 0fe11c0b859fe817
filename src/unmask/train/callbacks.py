"""Training callbacks: sample grids of the EMA generator, and RNG state saved with every checkpoint."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from unmask.io import mask_to_image, save_image, tensor_to_image
from unmask.viz import image_grid


class SampleGrid(L.Callback):
    """Every ``every`` steps, write ``samples/step_<N>.png``: rows = validation faces; input, output, truth."""

    def __init__(self, out_dir: str | Path, every: int = 500, count: int = 6) -> None:
        self.out_dir = Path(out_dir)
        self.every = every
        self.count = count
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Write a grid when the global step hits a multiple of ``every`` (rank zero only)."""
        if trainer.global_step % self.every or not trainer.is_global_zero:
            return
        if self._batch is None:
            dataset = trainer.datamodule.splits["val"]
            items = [dataset[i] for i in range(min(self.count, len(dataset)))]
            self._batch = (torch.stack([item[0] for item in items]), torch.stack([item[1] for item in items]))
        image, mask = (tensor.to(module.device) for tensor in self._batch)
        with torch.no_grad():
            output = module.ema(image, mask)
        rows = [[tensor_to_image(image[i] * (1 - mask[i]) + mask[i]), mask_to_image(mask[i]),
                 tensor_to_image(output[i]), tensor_to_image(image[i])] for i in range(len(image))]
        grid = image_grid(rows, ["input", "mask", f"step {trainer.global_step}", "truth"], cell=128)
        save_image(self.out_dir / f"step_{trainer.global_step:07d}.png", grid)


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
