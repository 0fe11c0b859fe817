"""Training recipe of the reference-guided generator: ``model.recipe: reference`` in the YAML.

Batches come from :class:`unmask.data.pairs.PairDataModule`: ``(image, mask, reference, validity)``. The
generator loss is ``l1 * (L1(coarse) + L1(refined))`` (hole and valid pixels weighted apart) ``+ adv * hinge``
against an SN-PatchGAN on the composite ``+ perceptual * VGG16 L1`` (relu1_2..relu4_3, when ``vgg_path`` is
given) ``+ identity * (1 - cos)`` of the FaceNet embeddings of the composite and the truth (when
``facenet_runner`` is given, see :mod:`unmask.nets.identity`); D (hinge) is stepped every ``d_every`` batches.
The module is :class:`unmask.train.gan.RecipeGAN` with this recipe's hooks (it extends DeepFill's); the checkpoint
layout is the usual ``generator.*``, ``ema.*`` (what ships, see scripts/ship_weights.py) and ``discriminator.*``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch

from unmask.errors import UnmaskError
from unmask.io import mask_to_image, tensor_to_image
from unmask.losses import hinge_g_loss, identity_loss, masked_l1, perceptual_loss
from unmask.models.pretrained import starting_weights
from unmask.nets import FaceNetIdentity
from unmask.train.callbacks import SampleGrid
from unmask.train.gan import Fakes
from unmask.train.recipes import DeepFillRecipe

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


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


class ReferenceGAN(DeepFillRecipe):
    """The reference-guided recipe: DeepFill's coarse-to-fine losses and SN-PatchGAN with the reference and its
    validity as inputs, and a FaceNet identity term.

    ``generator``: ``{name, kwargs}`` for :func:`create_model` (a model with ``needs_reference``);
    ``discriminator``: SNPatchGAN kwargs; ``losses``: weights of ``l1, hole, valid, adv, perceptual, identity``;
    ``optim``: ``lr_g, lr_d, betas, d_every, lr_decay_steps``; ``prior_from``: the ``.safetensors`` weights of the
    generator's frozen prior (``generator.kwargs.prior``, e.g. the shipped PConv U-Net), loaded into a new run;
    ``facenet_runner``: the FaceNet graph-runner script for the identity term (training only, never shipped).
    """

    default_losses: ClassVar[dict[str, float]] = {"l1": 1.0, "hole": 6.0, "valid": 1.0, "adv": 0.1,
                                                  "perceptual": 0.05, "identity": 0.0}
    default_optim: ClassVar[dict[str, Any]] = {**DeepFillRecipe.default_optim, "d_every": 1}
    data_module = "pairs"
    sample_grid = ReferenceSampleGrid

    def __init__(self, *args: Any, prior_from: str | None = None, facenet_runner: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if prior_from:
            if self.generator.prior is None:
                raise UnmaskError("model.prior_from needs a generator with a prior (generator.kwargs.prior)")
            prior = starting_weights(prior_from, "the prior")
            self.generator.prior.load_state_dict(prior)
            self.ema.prior.load_state_dict(prior)
        if self.weights["identity"] > 0 and not facenet_runner:
            raise UnmaskError("losses.identity needs model.facenet_runner (see docs/REFERENCE.md)")
        # A plain attribute, not a submodule: its 23 M frozen weights stay out of checkpoints and shipped files.
        self.facenet = FaceNetIdentity(facenet_runner) if self.weights["identity"] > 0 else None

    @classmethod
    def resolve(cls, model: dict[str, Any], data: dict[str, Any],
                config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """With ``data.landmarks: fill`` and no ``data.fill_model``, the generator's prior (weights
        ``model.prior_from``) fills the pairs for their landmarks."""
        prior = model["generator"].get("kwargs", {}).get("prior")
        if data.get("landmarks") == "fill" and prior and model.get("prior_from") and not data.get("fill_model"):
            data = {**data, "fill_model": {**prior, "weights": model["prior_from"]}}
        return model, data

    def on_fit_start(self) -> None:
        """Put the FaceNet of the identity term on the training device."""
        if self.facenet is not None:
            self.facenet.to(self.device)

    def inputs(self, batch: Batch) -> Batch:
        """The whole batch: image, mask, reference, validity."""
        return batch

    def generator_loss(self, image: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor,
                       validity: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], Fakes]:
        """Total generator loss, its logged terms, and the composite (B, 3, H, W) for the D step."""
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
        return total, terms, {"composite": composite}

    def validation_scores(self, output: torch.Tensor, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The FaceNet identity similarity of output and truth, when the identity term is on."""
        return {} if self.facenet is None else {"val/identity": self.facenet.similarity(output, image).mean()}
