"""Training recipe of the reference-guided generator (seed 004): ``model.recipe: reference`` in the YAML.

Batches come from :class:`unmask.data.pairs.PairDataModule`: ``(image, mask, reference, validity)``. The
generator loss is ``l1 * (L1(coarse) + L1(refined))`` (hole and valid pixels weighted apart) ``+ adv * hinge``
against an SN-PatchGAN on the composite ``+ perceptual * VGG16 L1`` (relu1_2..relu4_3, when ``vgg_path`` is
given) ``+ identity * (1 - cos)`` of the FaceNet embeddings of the composite and the truth (when
``facenet_runner`` is given, see :mod:`unmask.nets.identity`); D (hinge) is stepped every ``d_every`` batches.
The checkpoint layout is the usual ``generator.*``, ``ema.*`` (what ships, see scripts/ship_weights.py) and
``discriminator.*``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from unmask.data.pairs import PairDataModule
from unmask.errors import UnmaskError
from unmask.eval.metrics import psnr
from unmask.io import mask_to_image, tensor_to_image
from unmask.losses import hinge_d_loss, hinge_g_loss, identity_loss, masked_l1, perceptual_loss
from unmask.models import create_model
from unmask.models.discriminators import SNPatchGAN
from unmask.models.pretrained import starting_weights
from unmask.nets import FaceNetIdentity, VGG16Features
from unmask.train.base import EMAGeneratorModule
from unmask.train.callbacks import SampleGrid

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class ReferenceGAN(EMAGeneratorModule):
    """Reference-guided generator + SN-PatchGAN with manual optimisation and an EMA copy of the generator.

    ``generator``: ``{name, kwargs}`` for :func:`create_model` (a model with ``needs_reference``);
    ``discriminator``: SNPatchGAN kwargs; ``losses``: weights of ``l1, hole, valid, adv, perceptual, identity``;
    ``optim``: ``lr_g, lr_d, betas, d_every, lr_decay_steps``; ``prior_from``: the ``.safetensors`` weights of the
    generator's frozen prior (``generator.kwargs.prior``, e.g. the shipped PConv U-Net), loaded into a new run;
    ``facenet_runner``: the FaceNet graph-runner script for the identity term (training only, never shipped).
    """

    def __init__(self, generator: dict[str, Any], discriminator: dict[str, Any] | None = None,
                 losses: dict[str, float] | None = None, optim: dict[str, Any] | None = None,
                 vgg_path: str | None = None, ema_decay: float = 0.999, prior_from: str | None = None,
                 facenet_runner: str | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = create_model(generator["name"], **generator.get("kwargs", {}))
        if prior_from:
            if self.generator.prior is None:
                raise UnmaskError("model.prior_from needs a generator with a prior (generator.kwargs.prior)")
            self.generator.prior.load_state_dict(starting_weights(prior_from, "the prior"))
        self.ema = copy.deepcopy(self.generator).requires_grad_(False).eval()
        self.discriminator = SNPatchGAN(**(discriminator or {}))
        self.weights = {"l1": 1.0, "hole": 6.0, "valid": 1.0, "adv": 0.1, "perceptual": 0.05, "identity": 0.0,
                        **(losses or {})}
        self.optim = {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "d_every": 1, "lr_decay_steps": 0,
                      **(optim or {})}
        self.vgg = VGG16Features(vgg_path).requires_grad_(False) if vgg_path else None
        if self.weights["identity"] > 0 and not facenet_runner:
            raise UnmaskError("losses.identity needs model.facenet_runner (see docs/REFERENCE.md)")
        # A plain attribute, not a submodule: its 23 M frozen weights stay out of checkpoints and shipped files.
        self.facenet = FaceNetIdentity(facenet_runner) if self.weights["identity"] > 0 else None

    def on_fit_start(self) -> None:
        """Put the FaceNet of the identity term on the training device."""
        if self.facenet is not None:
            self.facenet.to(self.device)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Separate Adam for G and D."""
        betas = tuple(self.optim["betas"])
        return [
            torch.optim.Adam(self.generator.parameters(), lr=self.optim["lr_g"], betas=betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.optim["lr_d"], betas=betas),
        ]

    def generator_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Total generator loss, its logged terms, and the composited result (B, 3, H, W)."""
        image, mask, reference, validity = batch
        w = self.weights
        coarse, refined = self.generator.forward_train(image, mask, reference, validity)
        composite = refined * mask + image * (1 - mask)
        terms = {"l1_coarse": masked_l1(coarse, image, mask, w["hole"], w["valid"]),
                 "l1_refined": masked_l1(refined, image, mask, w["hole"], w["valid"])}
        total = w["l1"] * (terms["l1_coarse"] + terms["l1_refined"])
        if w["adv"] > 0:
            terms["adv"] = hinge_g_loss(self.discriminator(composite, mask))
            total = total + w["adv"] * terms["adv"]
        if self.vgg is not None:
            terms["perceptual"] = perceptual_loss(self.vgg(composite), self.vgg(image))
            total = total + w["perceptual"] * terms["perceptual"]
        if self.facenet is not None:
            terms["identity"] = identity_loss(self.facenet, composite, image)
            total = total + w["identity"] * terms["identity"]
        return total, terms, composite

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        """One G step; a hinge D step every ``d_every`` batches; EMA update."""
        image, mask = batch[0], batch[1]
        opt_g, opt_d = self.optimizers()
        for optimizer, base in ((opt_g, self.optim["lr_g"]), (opt_d, self.optim["lr_d"])):
            for group in optimizer.param_groups:
                group["lr"] = base * self._lr_factor()
        loss_g, terms, composite = self.generator_loss(batch)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        if batch_idx % int(self.optim["d_every"]) == 0 and self.weights["adv"] > 0:
            loss_d = hinge_d_loss(self.discriminator(image, mask), self.discriminator(composite.detach(), mask))
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.optimizer.step()  # the unwrapped step, so global_step counts generator steps only
            self.log("train/d_loss", loss_d, prog_bar=True)
        self._update_ema()
        self.log("train/g_loss", loss_g, prog_bar=True)
        self.log_dict({f"train/{name}": value for name, value in terms.items()})

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """PSNR and L1 inside the hole of the EMA generator's result (and its FaceNet identity similarity)."""
        image, mask, reference, validity = batch
        output = self.ema(image, mask, reference, validity)
        self.log("val/psnr_hole", psnr(output, image, mask).mean(), prog_bar=True, sync_dist=True)
        self.log("val/l1_hole", ((output - image).abs() * mask).sum() / (3 * mask.sum()).clamp(min=1),
                 sync_dist=True)
        if self.facenet is not None:
            self.log("val/identity", self.facenet.similarity(output, image).mean(), sync_dist=True)


class ReferenceSampleGrid(SampleGrid):
    """Every ``every`` steps, ``samples/step_<N>.png``: rows = validation pairs; input, mask, warped reference
    (valid part), EMA output, truth."""

    def rows(self, module: L.LightningModule, columns: list[torch.Tensor],
             step: str) -> tuple[list[list[np.ndarray]], list[str]]:
        """Input, mask, the valid part of the warped reference, EMA output and truth per validation pair."""
        image, mask, reference, validity = columns
        output = module.ema(image, mask, reference, validity)
        rows = [[tensor_to_image(image[i] * (1 - mask[i]) + mask[i]), mask_to_image(mask[i]),
                 tensor_to_image(reference[i] * validity[i]), tensor_to_image(output[i]), tensor_to_image(image[i])]
                for i in range(len(image))]
        return rows, ["input", "mask", "reference", step, "truth"]


def build_reference_run(config: dict[str, Any], run_dir: Path) -> tuple[PairDataModule, ReferenceGAN, SampleGrid]:
    """Data, module and sample-grid callback of a ``model.recipe: reference`` config; with ``data.landmarks: fill``
    and no ``data.fill_model``, the generator's prior (weights ``model.prior_from``) fills the pairs for their
    landmarks."""
    model = {key: value for key, value in config["model"].items() if key != "recipe"}
    samples = ReferenceSampleGrid(run_dir / "samples", every=int(config.get("sample_every", 500)))
    data = dict(config["data"])
    prior = model["generator"].get("kwargs", {}).get("prior")
    if data.get("landmarks") == "fill" and prior and model.get("prior_from") and not data.get("fill_model"):
        data["fill_model"] = {**prior, "weights": model["prior_from"]}  # the frozen prior fills for the landmarks
    return PairDataModule(**data), ReferenceGAN(**model), samples
