"""The Lightning module that trains the occlusion segmenter: binary cross-entropy plus soft Dice."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from unmask.io import mask_to_image, tensor_to_image
from unmask.models.pretrained import starting_weights
from unmask.models.segmenter import OcclusionSegmenter
from unmask.train.callbacks import SampleGrid


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice per image, averaged; images with an empty target count only through their false positives.

    logits, target: (B, 1, H, W); target 1 = occluder.
    """
    prob = logits.sigmoid().flatten(1)
    target = target.flatten(1)
    intersection = (prob * target).sum(1)
    return (1 - (2 * intersection + 1) / (prob.sum(1) + target.sum(1) + 1)).mean()


def batch_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of ``logits > 0`` against the target per image, (B,); 1 where both are empty."""
    predicted, truth = (logits > 0).flatten(1), target.flatten(1) > 0.5
    union = (predicted | truth).sum(1)
    intersection = (predicted & truth).sum(1)
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union, dtype=torch.float32))


class SegmentationGrid(SampleGrid):
    """Every ``every`` steps, write ``samples/step_<N>.png``: validation faces; input, predicted, true occluder."""

    def __init__(self, out_dir: str | Path, every: int = 500, count: int = 8) -> None:
        super().__init__(out_dir, every, count)

    def rows(self, module: L.LightningModule, columns: list[torch.Tensor],
             step: str) -> tuple[list[list[np.ndarray]], list[str]]:
        """Input, predicted occluder (eval mode) and true occluder per validation face."""
        image, mask = columns
        predicted = (module.segmenter.eval()(image) > 0).float()
        module.segmenter.train()
        rows = [[tensor_to_image(image[i]), mask_to_image(predicted[i]), mask_to_image(mask[i])]
                for i in range(len(image))]
        return rows, ["input", step, "truth"]


class SegmenterModule(L.LightningModule):
    """Trains ``OcclusionSegmenter(width, depth)`` with Adam, cosine learning-rate decay over ``max_steps``.

    init_from: a ``.safetensors`` file of segmenter weights (e.g. the shipped ones) to start from instead of random
    weights; the segmenter is fully convolutional, so weights trained at one input size fine-tune at another.
    ``model.recipe: segmenter`` in a training YAML; its runs read :class:`OccluderDataModule` (``occluders``).
    """

    data_module: ClassVar[str] = "occluders"
    sample_grid: ClassVar[type[SampleGrid]] = SegmentationGrid

    @classmethod
    def resolve(cls, model: dict[str, Any], data: dict[str, Any],
                config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``max_steps`` (the cosine schedule's length) defaults to the trainer's."""
        return {"max_steps": int(config.get("trainer", {}).get("max_steps", 10000)), **model}, data

    def __init__(self, width: int = 16, depth: int = 4, lr: float = 2e-3, max_steps: int = 10000,
                 dice: float = 1.0, init_from: str | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.segmenter = OcclusionSegmenter(width, depth)
        if init_from:
            self.segmenter.load_state_dict(starting_weights(init_from, "the segmenter"))

    def configure_optimizers(self) -> dict:
        """Adam with a cosine schedule stepped every batch."""
        optimizer = torch.optim.Adam(self.segmenter.parameters(), lr=self.hparams.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.hparams.max_steps,
                                                              eta_min=self.hparams.lr * 0.02)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """BCE + dice * soft Dice on one batch."""
        image, mask = batch
        logits = self.segmenter(image)
        bce = F.binary_cross_entropy_with_logits(logits, mask)
        dice = soft_dice_loss(logits, mask)
        self.log_dict({"train/bce": bce, "train/dice": dice}, prog_bar=True)
        return bce + self.hparams.dice * dice

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Mean IoU on occluded faces and the false-positive share on clean ones."""
        image, mask = batch
        logits = self.segmenter(image)
        occluded = mask.flatten(1).amax(1) > 0
        iou = batch_iou(logits, mask)
        if occluded.any():
            self.log("val/iou", iou[occluded].mean(), prog_bar=True)
        if (~occluded).any():
            self.log("val/false_positive", (logits[~occluded] > 0).float().mean())
