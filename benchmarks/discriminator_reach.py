"""How well a patch discriminator can tell a generator's fills from real faces, by its depth (receptive field) and
the DiffAugment policy it judges through.

A texture recipe's D sees a crop around the hole resized to 128 px. Each of its logits judges one receptive field:
70 px with 3 strided layers (half a mouth), 142 px with 4, the whole crop with 5. This benchmark fills training and
validation faces once with fixed generator weights (``--weights``, default the shipped ``pconv_texture``), then
trains a fresh spectral-norm :class:`PatchDiscriminator` of each depth on the same real/filled crops (hinge loss,
Adam 2e-4, batch 8, fp32) and prints, every 100 steps, the AUC of its logits on validation patches that are at
least 30 % hole (real against filled; 0.5 = chance) and the gap between their mean logits. A variant ``5:colour,
translation`` trains a 5-layer D on crops passed through :func:`diff_augment` with that policy (scored on the crops
as they are); ``vgg`` is a :class:`ProjectedDiscriminator` (heads on a frozen ImageNet VGG16, ``--vgg``).

The faces and occluder mixture are a training config's (``--config``, default texture round 2's).

    python benchmarks/discriminator_reach.py --steps 300 --variants 3 5 5:colour,translation,cutout 5:translation,cutout
    python benchmarks/discriminator_reach.py --steps 300 --variants vgg
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from tqdm import tqdm

from unmask.data.datamodule import FaceDataModule
from unmask.losses import hinge_d_loss
from unmask.models import create_model
from unmask.models.discriminators import PatchDiscriminator, crop_boxes, hole_boxes
from unmask.models.pretrained import starting_weights
from unmask.train.diffaugment import diff_augment
from unmask.train.projected import ProjectedDiscriminator
from unmask.train.run import load_config

CROP = 128
Pool = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@torch.no_grad()
def fill_pool(generator: torch.nn.Module, dataset: torch.utils.data.Dataset, count: int,
              seed: int) -> Pool:
    """(real crops, filled crops, mask crops) around the holes of ``count`` random items, fp16, (N, C, 128, 128)."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count].tolist()
    reals, fakes, masks = [], [], []
    for start in tqdm(range(0, count, 16), desc="filling", unit="batch"):
        items = [dataset[index] for index in order[start:start + 16]]
        image, mask = torch.stack([item[0] for item in items]), torch.stack([item[1] for item in items])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            filled = generator(image, mask).float().clamp(0, 1)
        boxes = hole_boxes(mask)
        reals.append(crop_boxes(image, boxes, CROP).half())
        fakes.append(crop_boxes(filled, boxes, CROP).half())
        masks.append(crop_boxes(mask, boxes, CROP, mode="nearest").half())
    return torch.cat(reals), torch.cat(fakes), torch.cat(masks)


@torch.no_grad()
def hole_auc(discriminator: PatchDiscriminator | ProjectedDiscriminator, pool: Pool) -> tuple[float, float]:
    """AUC of real against filled logits on patches at least 30 % hole, and the gap of their means."""
    real_logits, fake_logits = [], []
    for start in range(0, len(pool[0]), 32):
        real, fake, mask = (part[start:start + 32].float() for part in pool)
        real_out, fake_out = discriminator(real, mask), discriminator(fake, mask)
        maps = len(discriminator.heads) if isinstance(discriminator, ProjectedDiscriminator) else 1
        side = round((real_out.shape[1] // maps) ** 0.5)
        keep = (F.adaptive_avg_pool2d(mask, side).flatten(1) > 0.3).repeat(1, maps)
        real_logits.append(real_out[keep])
        fake_logits.append(fake_out[keep])
    real, fake = torch.cat(real_logits), torch.cat(fake_logits)
    auc = (real[:, None] > fake[None, :]).float().mean().item()
    return auc, (real.mean() - fake.mean()).item()


def train_and_score(variant: str, train: Pool, val: Pool, steps: int, seed: int, vgg_path: str) -> None:
    """Train a fresh D of a variant (``layers``, ``vgg``, optionally ``:policy``) on ``train``; print its validation
    AUC every 100 steps."""
    layers, _, policy = variant.partition(":")
    operations = tuple(policy.split(",")) if policy else ()
    torch.manual_seed(seed)
    discriminator = (ProjectedDiscriminator(vgg_path) if layers == "vgg"
                     else PatchDiscriminator(cnum=32, layers=int(layers)))
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for step in range(1, steps + 1):
        index = torch.randint(0, len(train[0]), (8,))
        real, fake, mask = (part[index].float() for part in train)
        if operations:
            (real, real_mask), (fake, mask) = diff_augment(real, mask, operations), diff_augment(fake, mask, operations)
        else:
            real_mask = mask
        loss = hinge_d_loss(discriminator(real, real_mask), discriminator(fake, mask))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            discriminator.eval()
            auc, gap = hole_auc(discriminator, val)
            discriminator.train()
            print(f"{variant:28s} step {step:4d}  AUC {auc:.3f}  logit gap {gap:.3f}", flush=True)


def main() -> None:
    """Fill the pools once, then train and score one D per variant."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/train/pconv_texture2_cpu.yaml",
                        help="training config whose data section gives the faces and the occluder mixture")
    parser.add_argument("--weights", default="src/unmask/assets/weights/pconv_texture.safetensors")
    parser.add_argument("--variants", nargs="+", default=["3", "4", "5"],
                        help="strided layers or vgg (a projected D), optionally with a DiffAugment policy: "
                             "5:translation,cutout")
    parser.add_argument("--vgg", default="../shared/weights/lpips/lpips_vgg16_fp16.safetensors",
                        help="the LPIPS VGG16 file a projected D's frozen trunk is read from")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--train-count", type=int, default=1600)
    parser.add_argument("--val-count", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generator = create_model("pconv", width=0.5, in_size=256, upsample="bilinear")
    generator.load_state_dict(starting_weights(args.weights, "the generator"))
    generator.eval()
    section = load_config(args.config)["data"]
    data = FaceDataModule(section["data_dir"], size=256, weights=section.get("weights"), seed=args.seed)
    data.setup()
    torch.manual_seed(args.seed)  # the training split draws its occlusions from torch's generator
    train = fill_pool(generator, data.splits["train"], args.train_count, args.seed)
    val = fill_pool(generator, data.splits["val"], args.val_count, args.seed + 1)
    for variant in args.variants:
        train_and_score(variant, train, val, args.steps, args.seed, args.vgg)


if __name__ == "__main__":
    main()
