"""Data-parallel folder runs with Lightning's ``trainer.predict``: N GPUs (DDP), or N CPU processes without one.

Each process gets its share of the photos (Lightning's distributed sampler), prepares them, runs the model on its
device and writes its own results with the same ``ResultWriter`` as the single-process loop.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader

from unmask.batch import ResultWriter
from unmask.pipeline import Unmasker


class FillModule(L.LightningModule):
    """``predict_step``: the model on a batch's face crops; the photos' records stay on the CPU."""

    def __init__(self, unmasker: Unmasker) -> None:
        super().__init__()
        self.unmasker = unmasker
        self.model = unmasker.model  # a submodule, so Lightning moves it to the device

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Move only the crop and hole tensors; the photo records are plain CPU data."""
        items, crops, holes = batch
        return items, crops.to(device), holes.to(device)

    def predict_step(self, batch: Any, batch_idx: int) -> tuple[list, torch.Tensor]:
        """(photos, crops (F, 3, S, S), holes (F, 1, S, S)) -> (photos, filled crops (F, 3, S, S))."""
        items, crops, holes = batch
        return items, self.unmasker.fill(crops, holes) if len(crops) else crops


class WriteResults(BasePredictionWriter):
    """Write every predicted batch as it comes (nothing is kept), then sum the counts over processes."""

    def __init__(self, writer: ResultWriter) -> None:
        super().__init__(write_interval="batch")
        self.writer = writer

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any,
                           batch_indices: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        items, filled = prediction
        self.writer.write(items, filled)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        counts = torch.tensor([self.writer.written, self.writer.failed], dtype=torch.float64, device=pl_module.device)
        written, failed = trainer.strategy.reduce(counts, reduce_op="sum").tolist()
        self.writer.written, self.writer.failed = int(written), int(failed)


def predict_folder(loader: DataLoader, unmasker: Unmasker, writer: ResultWriter, devices: int,
                   progress: bool = True) -> None:
    """Run ``loader``'s photos through ``trainer.predict`` on ``devices`` GPUs (or CPU processes) and write them."""
    gpu = torch.cuda.is_available()
    trainer = L.Trainer(accelerator="gpu" if gpu else "cpu", devices=devices,
                        strategy="ddp" if devices > 1 else "auto", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, enable_progress_bar=progress, callbacks=[WriteResults(writer)])
    trainer.predict(FillModule(unmasker), dataloaders=loader, return_predictions=False)
