"""The Lightning module that trains a coarse-to-fine inpainting generator against an SN-PatchGAN (seed 000)."""

from __future__ import annotations

import copy
from typing import Any

import torch

from unmask.errors import UnmaskError
from unmask.losses import (
    feature_matching_loss,
    hinge_d_loss,
    hinge_g_loss,
    masked_l1,
    perceptual_loss,
    style_loss,
)
from unmask.models import create_model
from unmask.models.discriminators import SNPatchGAN
from unmask.models.pretrained import starting_weights
from unmask.models.widen import widen_deepfill
from unmask.nets import VGG16Features
from unmask.train.base import EMAGeneratorModule


class InpaintingGAN(EMAGeneratorModule):
    """Generator + SN-PatchGAN with manual optimisation; D is stepped once every ``d_every`` batches.

    Generator loss = l1 * (L1(coarse) + L1(refined)) [hole / valid weighted] + adv * hinge
                     + fm * D-feature matching + perceptual/style (when a VGG16 path is given).
    An exponential moving average of the generator (``ema``) is what gets exported. ``init_from``: generator
    weights (``.safetensors``) to fine-tune instead of random ones; with ``init_widen`` they are a narrower DeepFill
    generator (its ``cnum`` divides this one's), widened without changing what it computes
    (:func:`unmask.models.widen.widen_deepfill`).
    """

    def __init__(self, generator: dict[str, Any], discriminator: dict[str, Any] | None = None,
                 losses: dict[str, float] | None = None, optim: dict[str, float] | None = None,
                 vgg_path: str | None = None, ema_decay: float = 0.999, init_from: str | None = None,
                 init_widen: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = create_model(generator["name"], **generator.get("kwargs", {}))
        self.discriminator = SNPatchGAN(**(discriminator or {}))
        self.ema = copy.deepcopy(self.generator).requires_grad_(False).eval()
        if init_widen:
            if not init_from:
                raise UnmaskError("model.init_widen needs model.init_from: the narrower weights to widen")
            self.start_from_state(widen_deepfill(starting_weights(init_from, "the generator"), self.generator))
        else:
            self.start_from(init_from)
        self.weights = {"l1": 1.0, "hole": 1.0, "valid": 1.0, "adv": 0.1, "fm": 1.0,
                        "perceptual": 0.05, "style": 120.0, **(losses or {})}
        self.optim = {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "d_every": 5, "lr_decay_steps": 0,
                      **(optim or {})}
        self.vgg = VGG16Features(vgg_path).requires_grad_(False) if vgg_path else None

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Separate Adam for G and D, each with its own learning rate."""
        betas = tuple(self.optim["betas"])
        return [
            torch.optim.Adam(self.generator.parameters(), lr=self.optim["lr_g"], betas=betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.optim["lr_d"], betas=betas),
        ]

    def generator_loss(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """Total generator loss, its logged terms, and the composited result (B, 3, H, W)."""
        w = self.weights
        coarse, refined = (output.float() for output in self.generator.forward_train(image, mask))  # bf16 autocast
        composite = refined * mask + image * (1 - mask)
        terms = {
            "l1_coarse": masked_l1(coarse, image, mask, w["hole"], w["valid"]),
            "l1_refined": masked_l1(refined, image, mask, w["hole"], w["valid"]),
        }
        total = w["l1"] * (terms["l1_coarse"] + terms["l1_refined"])
        if w["adv"] > 0 or w["fm"] > 0:
            fake_logits, fake_features = self.discriminator(composite, mask, return_features=True)
            terms["adv"] = hinge_g_loss(fake_logits)
            total = total + w["adv"] * terms["adv"]
            if w["fm"] > 0:
                with torch.no_grad():
                    _, real_features = self.discriminator(image, mask, return_features=True)
                terms["fm"] = feature_matching_loss(real_features, fake_features)
                total = total + w["fm"] * terms["fm"]
        if self.vgg is not None:
            fake_vgg, real_vgg = self.vgg(composite), self.vgg(image)
            terms["perceptual"] = perceptual_loss(fake_vgg, real_vgg)
            terms["style"] = style_loss(fake_vgg, real_vgg)
            total = total + w["perceptual"] * terms["perceptual"] + w["style"] * terms["style"]
        return total, terms, composite

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor, list[str]], batch_idx: int) -> None:
        """One G step; a D step (hinge) every ``d_every`` batches; EMA update."""
        image, mask, _ = batch
        opt_g, opt_d = self.optimizers()
        for optimizer, base in ((opt_g, self.optim["lr_g"]), (opt_d, self.optim["lr_d"])):
            for group in optimizer.param_groups:
                group["lr"] = base * self._lr_factor()
        loss_g, terms, composite = self.generator_loss(image, mask)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        if batch_idx % int(self.optim["d_every"]) == 0 and self.weights["adv"] > 0:
            real_logits = self.discriminator(image, mask)
            fake_logits = self.discriminator(composite.detach(), mask)
            loss_d = hinge_d_loss(real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.optimizer.step()  # the unwrapped step, so global_step counts generator steps only
            self.log("train/d_loss", loss_d, prog_bar=True)
        self._update_ema()
        self.log("train/g_loss", loss_g, prog_bar=True)
        self.log_dict({f"train/{name}": value for name, value in terms.items()})
