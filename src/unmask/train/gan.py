"""The one Lightning module that trains an inpainting generator, with or without a discriminator.

A recipe (``model.recipe`` in the training YAML, see :mod:`unmask.train.run`) is a subclass that fills in hooks:
its loss weights (``default_losses``) and optimiser defaults, the networks it trains and reads (``build_discriminator``,
``build_vgg``), its loss terms (``generator_loss``, ``discriminator_loss``), what a batch feeds the generator
(``inputs``) and the data module and sample grid of its runs (``data_module``, ``sample_grid``, ``resolve``).
Everything else is shared: the generator and its EMA copy (what ships), starting weights, manual optimisation with
one G step per batch and a D step every ``d_every`` batches, the learning-rate schedule, validation, and frozen
feature networks kept out of checkpoints. The checkpoint layout is ``generator.*``, ``ema.*`` and
``discriminator.*``.

VGG terms use the offline Keras/Caffe VGG16 (``vgg_path``; skipped when it is None). Its inputs are 0..255 with
the mean removed, whereas the papers' torchvision VGGs see ImageNet-standardised inputs (std about 0.226 of 1), so
its activations are about 255 * 0.226 = 57.6 times larger; ``vgg_feature_scale`` (default 1 / 57.6) brings them to
the papers' scale for the recipes that name ``vgg_layers``, so the papers' loss weights carry over.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, ClassVar

import lightning as L
import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.eval.metrics import psnr
from unmask.models import create_model
from unmask.models.pretrained import starting_weights
from unmask.nets import VGG16Features
from unmask.train.callbacks import SampleGrid

TORCHVISION_VGG_SCALE = 1.0 / 57.6
Fakes = dict[str, torch.Tensor]


class ScaledVGG(nn.Module):
    """Frozen :class:`VGG16Features` whose activations are multiplied by ``scale``: (B,3,H,W) -> {layer: map}."""

    def __init__(self, weights_path: str, layers: tuple[str, ...], scale: float) -> None:
        super().__init__()
        self.features = VGG16Features(weights_path, layers).requires_grad_(False)
        self.scale = scale

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, H, W) RGB in [0, 1] -> ``{layer: scaled activation}``."""
        return {name: value * self.scale for name, value in self.features(image).items()}


class RecipeGAN(L.LightningModule):
    """A generator, its EMA copy ``ema`` and the recipe's discriminator (or none), trained with manual optimisation.

    ``generator``: ``{name, kwargs}`` for :func:`create_model`; ``discriminator``: kwargs of the recipe's D;
    ``losses``: weights over ``default_losses`` (other names are refused); ``optim``: ``lr_g, lr_d, betas,
    d_every, lr_decay_steps`` and optionally ``lr_drop_at``, ``lr_drop_factor``, ``d_warmup`` (steps at the start of
    a run in which only D learns: G gets no gradient, so a fresh D catches up with a trained G); ``init_from``:
    generator weights (``.safetensors``) to fine-tune instead of random ones; ``ema_decay``: of the EMA copy.
    """

    default_losses: ClassVar[dict[str, float]] = {}
    default_optim: ClassVar[dict[str, Any]] = {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "d_every": 1,
                                               "lr_decay_steps": 0}
    vgg_layers: ClassVar[tuple[str, ...]] = ()  # the VGG16 layers of the recipe's feature terms (none: no VGG)
    d_needs_adv: ClassVar[bool] = False  # skip the D step when the adversarial weight ``adv`` is 0
    data_module: ClassVar[str] = "faces"  # the data module of the recipe's runs (unmask.train.run.DATA_MODULES)
    sample_grid: ClassVar[type[SampleGrid]] = SampleGrid

    def __init__(self, generator: dict[str, Any], discriminator: dict[str, Any] | None = None,
                 losses: dict[str, float] | None = None, optim: dict[str, Any] | None = None,
                 vgg_path: str | None = None, vgg_feature_scale: float = TORCHVISION_VGG_SCALE,
                 ema_decay: float = 0.999, init_from: str | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = create_model(generator["name"], **generator.get("kwargs", {}))
        self.ema = copy.deepcopy(self.generator).requires_grad_(False).eval()
        if init_from:
            self.start_from_state(starting_weights(init_from, "the generator"))
        unknown = set(losses or {}) - set(self.default_losses)
        if unknown:
            raise UnmaskError(f"unknown loss weight(s) {', '.join(sorted(unknown))}; "
                              f"this recipe has {', '.join(self.default_losses)}")
        self.weights = {**self.default_losses, **(losses or {})}
        self.optim = {**self.default_optim, **(optim or {})}
        self.discriminator = self.build_discriminator(discriminator or {})
        self.vgg = self.build_vgg(vgg_path, vgg_feature_scale) if vgg_path else None

    @classmethod
    def resolve(cls, model: dict[str, Any], data: dict[str, Any],
                config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The module's and the data module's arguments of a run from its config sections (as given by default)."""
        return model, data

    def build_discriminator(self, kwargs: dict[str, Any]) -> nn.Module | None:
        """The recipe's discriminator built from ``kwargs`` (None: no adversarial training)."""
        raise NotImplementedError

    def build_vgg(self, vgg_path: str, scale: float) -> nn.Module | None:
        """The frozen VGG16 of the recipe's feature terms: ``vgg_layers`` scaled by ``scale`` (None without them)."""
        return ScaledVGG(vgg_path, self.vgg_layers, scale) if self.vgg_layers else None

    def inputs(self, batch: tuple) -> tuple[torch.Tensor, ...]:
        """What the generator takes from a batch: ``(image, mask)`` of ``(image, mask, names)``."""
        return batch[0], batch[1]

    def generator_loss(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, dict, Fakes]:
        """Total generator loss, its logged terms, and the detached-later fakes the D step needs."""
        raise NotImplementedError

    def discriminator_loss(self, image: torch.Tensor, mask: torch.Tensor, fakes: Fakes) -> torch.Tensor:
        """Discriminator loss on real ``image`` and the detached ``fakes``."""
        raise NotImplementedError

    def validation_scores(self, output: torch.Tensor, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Recipe-specific validation scores of the EMA output, logged beside PSNR and L1 (none by default)."""
        return {}

    def start_from_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a generator state dict into both ``generator`` and ``ema`` (a new run fine-tunes it; resuming a run
        loads its checkpoint over it)."""
        self.generator.load_state_dict(state)
        self.ema.load_state_dict(state)

    def _frozen_networks(self) -> dict[str, nn.Module]:
        """The frozen feature networks read from files at start-up (kept out of checkpoints), by attribute name."""
        return {name: getattr(self, name) for name in ("vgg", "lpips") if getattr(self, name, None) is not None}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Leave the frozen feature networks (tens of MB, read from their files) out of checkpoints."""
        prefixes = tuple(f"{name}." for name in self._frozen_networks())
        checkpoint["state_dict"] = {key: value for key, value in checkpoint["state_dict"].items()
                                    if not key.startswith(prefixes)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Put the frozen networks' weights back, so the strict state-dict load sees every key (a checkpoint that
        still holds them, as DeepFill's and the reference recipe's once did, gets the same weights)."""
        for name, network in self._frozen_networks().items():
            checkpoint["state_dict"].update({f"{name}.{key}": value for key, value in network.state_dict().items()})

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam for G and, when there is one, for D."""
        betas = tuple(self.optim["betas"])
        optimizers = [torch.optim.Adam(self.generator.parameters(), lr=self.optim["lr_g"], betas=betas)]
        if self.discriminator is not None:
            optimizers.append(torch.optim.Adam(self.discriminator.parameters(), lr=self.optim["lr_d"], betas=betas))
        return optimizers

    def _lr_factor(self) -> float:
        """Learning-rate multiplier: 1, or a linear decay to 0.1 at ``2 * lr_decay_steps`` when that is > 0; times
        ``lr_drop_factor`` from step ``lr_drop_at`` on when that is given (a step schedule, e.g. for a last phase)."""
        decay = int(self.optim["lr_decay_steps"])
        factor = 1.0 if decay <= 0 else max(0.1, 1.0 - self.global_step / (2 * decay))
        drop_at = self.optim.get("lr_drop_at")
        if drop_at is not None and self.global_step >= int(drop_at):
            factor *= float(self.optim["lr_drop_factor"])
        return factor

    def learning_rates(self) -> tuple[float, float]:
        """(G, D) learning rates at the current step; G's is 0 during the ``d_warmup`` steps."""
        factor = self._lr_factor()
        g_factor = 0.0 if self.global_step < int(self.optim.get("d_warmup", 0)) else factor
        return self.optim["lr_g"] * g_factor, self.optim["lr_d"] * factor

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

    def _steps_discriminator(self, batch_idx: int) -> bool:
        """Whether this batch has a D step: every ``d_every`` batches, when there is a D that is used."""
        if self.discriminator is None or batch_idx % int(self.optim["d_every"]):
            return False
        return not self.d_needs_adv or self.weights["adv"] > 0

    def training_step(self, batch: tuple, batch_idx: int) -> None:
        """One G step (none in the ``d_warmup`` steps); a D step every ``d_every`` batches; EMA update; logs every
        term."""
        image, mask = batch[0], batch[1]
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        for optimizer, lr in zip(optimizers, self.learning_rates(), strict=False):
            for group in optimizer.param_groups:
                group["lr"] = lr
        warming = self.global_step < int(self.optim.get("d_warmup", 0))
        with torch.no_grad() if warming else contextlib.nullcontext():
            loss_g, terms, fakes = self.generator_loss(*self.inputs(batch))
        optimizers[0].zero_grad(set_to_none=True)
        if not warming:  # in the D's warm-up G gets no gradient: Adam leaves its weights and moments as they are
            self.manual_backward(loss_g)
        optimizers[0].step()  # still stepped, so global_step counts the warm-up
        if self._steps_discriminator(batch_idx):
            loss_d = self.discriminator_loss(image, mask, {name: value.detach() for name, value in fakes.items()})
            optimizers[1].zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            optimizers[1].optimizer.step()  # the unwrapped step, so global_step counts generator steps only
            self.log("train/d_loss", loss_d, prog_bar=True)
        self._update_ema()
        self.log("train/g_loss", loss_g, prog_bar=True)
        self.log_dict({f"train/{name}": value for name, value in terms.items()})

    def validation_step(self, batch: tuple, batch_idx: int) -> None:
        """PSNR and L1 inside the hole of the EMA generator's result, and the recipe's own scores."""
        image, mask = batch[0], batch[1]
        output = self.ema(*self.inputs(batch))
        self.log("val/psnr_hole", psnr(output, image, mask).mean(), prog_bar=True, sync_dist=True)
        self.log("val/l1_hole", ((output - image).abs() * mask).sum() / (3 * mask.sum()).clamp(min=1),
                 sync_dist=True)
        for name, value in self.validation_scores(output, image).items():
            self.log(name, value, sync_dist=True)
