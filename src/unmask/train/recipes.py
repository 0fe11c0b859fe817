"""The loss recipes of the plain inpainting models (batches of ``(image, mask, names)``), chosen by ``model.recipe``
in the training YAML: ``deepfill`` (the default when the key is absent), ``pconv``, ``dmfn``, ``hog`` and
``texture``. Each is a :class:`unmask.train.gan.RecipeGAN` that fills in its hooks; the reference-guided recipe is
in :mod:`unmask.train.reference_module`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.losses import (
    band_energy_loss,
    error_guidance,
    feature_matching_loss,
    geometric_alignment_loss,
    hinge_d_loss,
    hinge_g_loss,
    hole_energy_loss,
    masked_l1,
    nsgan_d_loss,
    nsgan_g_loss,
    perceptual_loss,
    ragan_d_loss,
    ragan_g_loss,
    self_guided_loss,
    style_loss,
    total_variation_loss,
)
from unmask.models.discriminators import (
    GlobalLocalDiscriminator,
    PatchDiscriminator,
    SNPatchGAN,
    crop_boxes,
    hole_boxes,
)
from unmask.models.pretrained import starting_weights
from unmask.models.widen import widen_deepfill
from unmask.nets import LPIPS, VGG16Features
from unmask.run_folder import load_checkpoint, submodule_state
from unmask.train.diffaugment import augment_policy, diff_augment
from unmask.train.gan import Fakes, RecipeGAN
from unmask.train.projected import ProjectedDiscriminator


def _channel_weights(features: dict[str, torch.Tensor] | list[torch.Tensor]) -> dict[str, float]:
    """DMFN's per-layer feature weights ``1e3 / C_l^2`` at its reference widths (64 channels in the first layer).

    Channels are counted relative to the first layer, ``C_l = 64 * channels_l / channels_0``, so a narrower
    discriminator gets the same weights as the 64-wide one. Keyed like :func:`_as_dict`.
    """
    features = _as_dict(features)
    first = next(iter(features.values())).shape[1]
    return {name: 1e3 / (64 * value.shape[1] / first) ** 2 for name, value in features.items()}


def _as_dict(features: dict[str, torch.Tensor] | list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Feature maps keyed by name (lists are keyed by their index)."""
    return features if isinstance(features, dict) else {str(i): value for i, value in enumerate(features)}


def _halved_branch_mean(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], real: list[torch.Tensor],
                        fake: list[torch.Tensor]) -> torch.Tensor:
    """Half the mean of ``loss(real_b, fake_b)`` over discriminator branches (DMFN halves its RaGAN terms)."""
    return torch.stack([loss(r, f) for r, f in zip(real, fake, strict=True)]).mean() / 2


class DeepFillRecipe(RecipeGAN):
    """DeepFill v2 (coarse-to-fine generator against an SN-PatchGAN): ``l1 * (L1(coarse) + L1(refined))`` [hole /
    valid weighted] ``+ adv * hinge + fm * D-feature matching + perceptual/style`` (when a VGG16 path is given, on
    its default layers, unscaled); D (hinge) is stepped every ``d_every`` (5) batches when ``adv`` > 0.

    ``init_widen``: ``init_from`` holds a narrower DeepFill generator (its ``cnum`` divides this one's), widened
    without changing what it computes (:func:`unmask.models.widen.widen_deepfill`).
    """

    default_losses: ClassVar[dict[str, float]] = {"l1": 1.0, "hole": 1.0, "valid": 1.0, "adv": 0.1, "fm": 1.0,
                                                  "perceptual": 0.05, "style": 120.0}
    default_optim: ClassVar[dict[str, Any]] = {**RecipeGAN.default_optim, "d_every": 5}
    d_needs_adv = True

    def __init__(self, *args: Any, init_from: str | None = None, init_widen: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, init_from=None if init_widen else init_from, **kwargs)
        if init_widen:
            if not init_from:
                raise UnmaskError("model.init_widen needs model.init_from: the narrower weights to widen")
            self.start_from_state(widen_deepfill(starting_weights(init_from, "the generator"), self.generator))

    def build_discriminator(self, kwargs: dict[str, Any]) -> SNPatchGAN:
        """An SN-PatchGAN on (image, mask)."""
        return SNPatchGAN(**kwargs)

    def build_vgg(self, vgg_path: str, scale: float) -> VGG16Features:
        """The frozen VGG16 on its default layers, unscaled."""
        return VGG16Features(vgg_path).requires_grad_(False)

    def generator_loss(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict, Fakes]:
        """The DeepFill loss on the coarse and refined outputs and the composite."""
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
        return total, terms, {"composite": composite}

    def discriminator_loss(self, image: torch.Tensor, mask: torch.Tensor, fakes: Fakes) -> torch.Tensor:
        """Hinge loss on the real image and the composite."""
        return hinge_d_loss(self.discriminator(image, mask), self.discriminator(fakes["composite"], mask))


class PConvRecipe(RecipeGAN):
    """PConv (Liu et al. 2018): ``valid * L1_valid + hole * L1_hole + perceptual * (P(out) + P(comp))
    + style * (S(out) + S(comp)) + tv * TV(comp)``, no adversary; weights 1, 6, 0.05, 120, 0.1 as in the paper.

    Perceptual and style use VGG16 relu1_2, relu2_2, relu3_3 (the inputs of the paper's pool1..pool3). From
    ``optim.freeze_bn_step`` on (0 = never), the encoder's batch norms are frozen and G trains at
    ``optim.lr_finetune`` (the paper's fine-tuning phase: 2e-4, then 5e-5 with frozen encoder BN).
    """

    default_losses: ClassVar[dict[str, float]] = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0,
                                                  "tv": 0.1}
    default_optim: ClassVar[dict[str, Any]] = {**RecipeGAN.default_optim, "freeze_bn_step": 0, "lr_finetune": 5e-5}
    vgg_layers = ("relu1_2", "relu2_2", "relu3_3")

    def build_discriminator(self, kwargs: dict[str, Any]) -> None:
        """PConv trains without a discriminator."""
        if kwargs:
            raise UnmaskError("the pconv recipe has no discriminator; remove model.discriminator")
        return None

    def _finetuning(self) -> bool:
        """Whether the fine-tuning phase (frozen encoder BN, lower LR) has started."""
        start = int(self.optim["freeze_bn_step"])
        return 0 < start <= self.global_step

    def learning_rates(self) -> tuple[float, float]:
        """``lr_finetune`` during fine-tuning, else the base schedule."""
        if self._finetuning():
            return float(self.optim["lr_finetune"]), 0.0
        return super().learning_rates()

    def generator_loss(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict, Fakes]:
        """The PConv loss on the raw output and on its composite."""
        if self._finetuning() and not self.generator.freeze_encoder_bn:
            self.generator.freeze_encoder_bn = True
            self.generator.train()
        w = self.weights
        output = self.generator.forward_train(image, mask)
        composite = mask * output + (1 - mask) * image
        terms = {"l1": masked_l1(output, image, mask, w["hole"], w["valid"]),
                 "tv": total_variation_loss(composite, mask)}
        total = terms["l1"] + w["tv"] * terms["tv"]
        if self.vgg is not None:
            real = self.vgg(image)
            out_features, comp_features = self.vgg(output), self.vgg(composite)
            terms["perceptual"] = perceptual_loss(out_features, real) + perceptual_loss(comp_features, real)
            terms["style"] = style_loss(out_features, real) + style_loss(comp_features, real)
            total = total + w["perceptual"] * terms["perceptual"] + w["style"] * terms["style"]
        return total, terms, {}


class DMFNRecipe(RecipeGAN):
    """DMFN (Hui et al. 2020) with the weights of its reference code:
    ``l1 * L1(comp) + feature * (self-guided(relu1_1, relu2_1) + VGG matching(relu3_1, relu4_1, relu5_1))
    + align * centroid MSE(relu4_1) + eta * D-feature matching + adv * RaGAN``; 1, 25, 1, 5, 0.003.

    Per-layer weights are ``1e3 / C_l^2`` for VGG and D features alike. ``eta`` is the seed's feature-matching
    weight (its study: 0, 2, 5, 8). The RaGAN terms are halved and averaged over the global and local branches
    of :class:`GlobalLocalDiscriminator`.
    """

    default_losses: ClassVar[dict[str, float]] = {"l1": 1.0, "feature": 25.0, "align": 1.0, "eta": 5.0,
                                                  "adv": 0.003}
    vgg_layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    guided_layers = ("relu1_1", "relu2_1")

    def build_discriminator(self, kwargs: dict[str, Any]) -> GlobalLocalDiscriminator:
        """Global + local SN-PatchGAN pair."""
        return GlobalLocalDiscriminator(**kwargs)

    def generator_loss(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict, Fakes]:
        """The DMFN loss on the composited output."""
        w = self.weights
        composite = mask * self.generator.forward_train(image, mask) + (1 - mask) * image
        terms = {"l1": (composite - image).abs().mean()}
        total = w["l1"] * terms["l1"]
        if self.vgg is not None:
            fake, real = self.vgg(composite), self.vgg(image)
            weights = _channel_weights(fake)
            guided = {name: weights[name] for name in self.guided_layers}
            matched = {name: weights[name] for name in self.vgg_layers if name not in guided}
            terms["self_guided"] = self_guided_loss(fake, real, error_guidance(composite, image), guided)
            terms["vgg_fm"] = perceptual_loss({n: fake[n] for n in matched}, {n: real[n] for n in matched}, matched)
            terms["align"] = geometric_alignment_loss(fake["relu4_1"], real["relu4_1"])
            total = total + w["feature"] * (terms["self_guided"] + terms["vgg_fm"]) + w["align"] * terms["align"]
        fake_logits, fake_features = self.discriminator(composite, mask, return_features=True)
        with torch.no_grad():
            real_logits, real_features = self.discriminator(image, mask, return_features=True)
        terms["adv"] = _halved_branch_mean(ragan_g_loss, real_logits, fake_logits)
        fake_d, real_d = _as_dict(fake_features), _as_dict(real_features)
        terms["d_fm"] = perceptual_loss(fake_d, real_d, _channel_weights(fake_d))
        total = total + w["eta"] * terms["d_fm"] + w["adv"] * terms["adv"]
        return total, terms, {"composite": composite}

    def discriminator_loss(self, image: torch.Tensor, mask: torch.Tensor, fakes: Fakes) -> torch.Tensor:
        """Halved RaGAN loss, averaged over the two branches."""
        real_logits = self.discriminator(image, mask)
        fake_logits = self.discriminator(fakes["composite"], mask)
        return _halved_branch_mean(ragan_d_loss, real_logits, fake_logits)


class HOGRecipe(RecipeGAN):
    """HOG-guided two-stage network: a face-shape (HOG) predictor, then an inpainting network.

    Stage 1: ``hog_l1 * L1(HOG_pred, HOG(truth)) + hog_adv * GAN(D_H)`` (1 : 1), D_H an SN-PatchGAN on the HOG
    map (hole blocks predicted, the rest true) and the block hole map. Stage 2 (EdgeConnect weights):
    ``l1 * L1 + adv * GAN(D) + perceptual * P + style * S`` with 1, 0.1, 0.1, 250 on VGG16 relu1_1..relu4_1;
    perceptual on the raw output, style on the hole only (EdgeConnect). Both GANs are non-saturating.
    """

    default_losses: ClassVar[dict[str, float]] = {"hog_l1": 1.0, "hog_adv": 1.0, "l1": 1.0, "hole": 1.0,
                                                  "valid": 1.0, "adv": 0.1, "perceptual": 0.1, "style": 250.0}
    vgg_layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

    def build_discriminator(self, kwargs: dict[str, Any]) -> nn.ModuleDict:
        """``hog``: D_H on (HOG map, block holes); ``image``: D on (image, mask)."""
        hog_channels = self.generator.hog.out_channels
        return nn.ModuleDict({"hog": SNPatchGAN(hog_channels + 1, **kwargs), "image": SNPatchGAN(4, **kwargs)})

    def generator_loss(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict, Fakes]:
        """Both stages' losses; stage 2 sees the stage-1 map detached (inside the generator)."""
        w = self.weights
        hog = self.generator.hog
        out = self.generator.forward_train(image, mask)
        with torch.no_grad():
            hog_true = hog(image)
        blocks = hog.block_mask(mask)
        hog_fake = blocks * out.hog_pred + (1 - blocks) * hog_true
        composite = mask * out.image + (1 - mask) * image
        terms = {
            "hog_l1": (out.hog_pred - hog_true).abs().mean(),
            "hog_adv": nsgan_g_loss(self.discriminator["hog"](hog_fake, blocks)),
            "l1": masked_l1(out.image, image, mask, w["hole"], w["valid"]),
            "adv": nsgan_g_loss(self.discriminator["image"](composite, mask)),
        }
        total = (w["hog_l1"] * terms["hog_l1"] + w["hog_adv"] * terms["hog_adv"] + w["l1"] * terms["l1"]
                 + w["adv"] * terms["adv"])
        if self.vgg is not None:
            real = self.vgg(image)
            terms["perceptual"] = perceptual_loss(self.vgg(out.image), real)
            terms["style"] = style_loss(self.vgg(out.image * mask), self.vgg(image * mask))
            total = total + w["perceptual"] * terms["perceptual"] + w["style"] * terms["style"]
        return total, terms, {"hog_true": hog_true, "hog_fake": hog_fake, "blocks": blocks, "composite": composite}

    def discriminator_loss(self, image: torch.Tensor, mask: torch.Tensor, fakes: Fakes) -> torch.Tensor:
        """D_H on true vs. predicted HOG maps plus D on true vs. inpainted images."""
        d_hog, d_image = self.discriminator["hog"], self.discriminator["image"]
        hog_loss = nsgan_d_loss(d_hog(fakes["hog_true"], fakes["blocks"]), d_hog(fakes["hog_fake"], fakes["blocks"]))
        image_loss = nsgan_d_loss(d_image(image, mask), d_image(fakes["composite"], mask))
        return hog_loss + image_loss


def _discriminator_state(path: str) -> dict[str, torch.Tensor]:
    """The ``discriminator.*`` weights of a training checkpoint, without the prefix."""
    found = submodule_state(load_checkpoint(path), "discriminator.")
    if not found:
        raise UnmaskError(f"{path}: holds no discriminator to start from")
    return found


class TextureRecipe(RecipeGAN):
    """Texture fine-tuning (after LaMa and DeepFill v2): the hole is judged by a patch discriminator and by LPIPS on
    the real ImageNet VGG16, and only a small L1 keeps the fill's colours and layout.

    ``hole * L1_hole + valid * L1_valid + perceptual * LPIPS-VGG(crop) + adv * hinge_G(D(crop)) + fm * FM_D(crop)
    + band * band_energy(crop) + energy * hole_energy(crop)`` with weights 1, 1, 1, 0.1, 1, 0, 0
    (:func:`band_energy_loss`: the fill's local Laplacian energy against the truth's at three scales;
    :func:`hole_energy_loss`: the same over the whole hole). L1 is on the raw output, the rest on the composite. D is a
    :class:`PatchDiscriminator` (70x70 patches, spectral norm, hinge loss) that sees a square crop around the hole,
    resized to ``crop`` px (the same box for the real and the filled image, :func:`hole_boxes`), so its time goes to
    the mouth and chin, not to the known background; with ``vgg_path`` among the discriminator's kwargs it is a
    :class:`ProjectedDiscriminator` (trainable heads on a frozen ImageNet VGG16) instead. LPIPS reads ``lpips_path``
    (the term is skipped when None).
    ``discriminator_from``: a checkpoint of an earlier texture run whose discriminator a new run starts from (a
    fresh one spends thousands of CPU steps near chance; resuming a run loads its own over it). ``diff_augment``: D
    judges every crop through :func:`diff_augment`: ``true`` for the full policy or a list of its operations
    (feature matching still compares the crops as they are).
    """

    default_losses: ClassVar[dict[str, float]] = {"hole": 1.0, "valid": 1.0, "perceptual": 1.0, "adv": 0.1,
                                                  "fm": 1.0, "band": 0.0, "energy": 0.0}
    default_optim: ClassVar[dict[str, Any]] = {**RecipeGAN.default_optim, "lr_g": 1e-4}

    def __init__(self, *args: Any, lpips_path: str | None = None, crop: int = 128,
                 discriminator_from: str | None = None, diff_augment: bool | list[str] = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crop = int(crop)
        self.augment_policy = augment_policy(diff_augment)
        self.lpips = LPIPS(lpips_path) if lpips_path else None
        if discriminator_from:
            self.discriminator.load_state_dict(_discriminator_state(discriminator_from))

    def build_discriminator(self, kwargs: dict[str, Any]) -> PatchDiscriminator | ProjectedDiscriminator:
        """A spectral-norm PatchGAN on (crop, crop mask), or a :class:`ProjectedDiscriminator` when ``kwargs`` name
        its frozen VGG16 (``vgg_path``)."""
        return ProjectedDiscriminator(**kwargs) if "vgg_path" in kwargs else PatchDiscriminator(**kwargs)

    def _judge(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """D's logits for crops (B, 3, S, S) and their masks, through DiffAugment when the run asks for it."""
        if self.augment_policy:
            image, mask = diff_augment(image, mask, self.augment_policy)
        return self.discriminator(image, mask)

    def _crops(self, image: torch.Tensor, composite: torch.Tensor,
               mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(real crop, filled crop, mask crop), each (B, C, crop, crop), around each sample's hole."""
        boxes = hole_boxes(mask)
        return (crop_boxes(image, boxes, self.crop), crop_boxes(composite, boxes, self.crop),
                crop_boxes(mask, boxes, self.crop, mode="nearest"))

    def generator_loss(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict, Fakes]:
        """L1 on the raw output; adversarial, feature matching and LPIPS on the crop around the hole.

        Batch norms stay in eval mode: a fine-tune at a few images per batch keeps the starting weights' statistics
        (the deepest maps are 1x1, so batch statistics there would be those of four numbers).
        """
        w = self.weights
        for module in self.generator.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        output = self.generator.forward_train(image, mask)
        composite = mask * output + (1 - mask) * image
        real, fake, crop_mask = self._crops(image, composite, mask)
        fake_logits, fake_features = self.discriminator(fake, crop_mask, return_features=True)
        if self.augment_policy:
            fake_logits = self._judge(fake, crop_mask)
        with torch.no_grad():
            _, real_features = self.discriminator(real, crop_mask, return_features=True)
        terms = {"l1": masked_l1(output, image, mask, w["hole"], w["valid"]),
                 "adv": hinge_g_loss(fake_logits),
                 "fm": feature_matching_loss(real_features, fake_features)}
        total = terms["l1"] + w["adv"] * terms["adv"] + w["fm"] * terms["fm"]
        if self.lpips is not None:
            terms["perceptual"] = self.lpips(fake, real).mean()
            total = total + w["perceptual"] * terms["perceptual"]
        if w["band"]:
            terms["band"] = band_energy_loss(fake, real, crop_mask)
            total = total + w["band"] * terms["band"]
        if w["energy"]:
            terms["energy"] = hole_energy_loss(fake, real, crop_mask)
            total = total + w["energy"] * terms["energy"]
        return total, terms, {"real": real, "fake": fake, "mask": crop_mask}

    def discriminator_loss(self, image: torch.Tensor, mask: torch.Tensor, fakes: Fakes) -> torch.Tensor:
        """Hinge loss on the real and the filled crop."""
        return hinge_d_loss(self._judge(fakes["real"], fakes["mask"]), self._judge(fakes["fake"], fakes["mask"]))
