"""What every inpainting training module shares: an EMA copy of the generator, linear LR decay, validation."""

from __future__ import annotations

import lightning as L
import torch

from unmask.eval.metrics import psnr
from unmask.models.pretrained import starting_weights


class EMAGeneratorModule(L.LightningModule):
    """Base for modules with ``self.generator``, its EMA copy ``self.ema`` (what gets exported), ``self.optim``
    (with ``lr_decay_steps``, optionally ``lr_drop_at`` and ``lr_drop_factor``) and ``hparams.ema_decay``;
    validation scores the EMA generator inside the hole.
    """

    def start_from(self, weights: str | None) -> None:
        """Load generator weights from a ``.safetensors`` file (e.g. the shipped ones) into ``generator`` and ``ema``.

        A new run fine-tunes them instead of starting from random weights (None: keep the random ones); resuming a
        run loads its checkpoint over them.
        """
        if weights:
            self.start_from_state(starting_weights(weights, "the generator"))

    def start_from_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a generator state dict into both ``generator`` and ``ema``."""
        self.generator.load_state_dict(state)
        self.ema.load_state_dict(state)

    def _lr_factor(self) -> float:
        """Learning-rate multiplier: 1, or a linear decay to 0.1 at ``2 * lr_decay_steps`` when that is > 0; times
        ``lr_drop_factor`` from step ``lr_drop_at`` on when that is given (a step schedule, e.g. for a last phase)."""
        decay = int(self.optim["lr_decay_steps"])
        factor = 1.0 if decay <= 0 else max(0.1, 1.0 - self.global_step / (2 * decay))
        drop_at = self.optim.get("lr_drop_at")
        if drop_at is not None and self.global_step >= int(drop_at):
            factor *= float(self.optim["lr_drop_factor"])
        return factor

    @torch.no_grad()
    def _update_ema(self) -> None:
        """Move the EMA weights towards the live generator (warm-up: decay ``(1 + t) / (10 + t)`` at first).

        Buffers (batch-norm running statistics) are copied: the EMA copy never runs in training mode, so without
        them its normalisation would keep its initial statistics.
        """
        decay = min(float(self.hparams.ema_decay), (1 + self.global_step) / (10 + self.global_step))
        for ema, live in zip(self.ema.parameters(), self.generator.parameters(), strict=True):
            ema.lerp_(live, 1 - decay)
        for ema, live in zip(self.ema.buffers(), self.generator.buffers(), strict=True):
            ema.copy_(live)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor, list[str]], batch_idx: int) -> None:
        """PSNR and L1 inside the hole of the EMA generator's result."""
        image, mask, _ = batch
        output = self.ema(image, mask)
        self.log("val/psnr_hole", psnr(output, image, mask).mean(), prog_bar=True, sync_dist=True)
        self.log("val/l1_hole", ((output - image).abs() * mask).sum() / (3 * mask.sum()).clamp(min=1),
                 sync_dist=True)
