"""Every seed recipe's loss terms at initialisation, and the seconds one G + D step takes, on real training faces.

    python benchmarks/recipe_terms.py --data prepared/all256 --faces 8 --steps 2

Builds each ``configs/train/<recipe>_cpu.yaml`` module (its widths and size; the VGG terms from ``--vgg``, which the
CPU configs themselves leave out; ``--vgg ''`` drops them), draws ``--faces`` training faces
with the DataModule's occlusions (seed 0), prints each generator-loss term raw and weighted, then times ``--steps``
plain-PyTorch G + D steps on that batch (Adam; no Lightning overhead).
"""

from __future__ import annotations

import argparse
import time

import torch

from unmask.data.datamodule import FaceDataModule
from unmask.train.run import build_module, load_config

WEIGHT_OF = {"l1": "l1", "tv": "tv", "perceptual": "perceptual", "style": "style", "self_guided": "feature",
             "vgg_fm": "feature", "align": "align", "d_fm": "eta", "adv": "adv", "hog_l1": "hog_l1",
             "hog_adv": "hog_adv"}


def main() -> None:
    """Print the table for pconv, dmfn and hog."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="prepared/all256")
    parser.add_argument("--faces", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--recipes", default="pconv,dmfn,hog")
    parser.add_argument("--vgg", default="../shared/weights/vgg16_imagenet_keras/vgg16_features_fp16.pth")
    args = parser.parse_args()
    for recipe in args.recipes.split(","):
        config = load_config(f"configs/train/{recipe}_cpu.yaml", {"data.data_dir": args.data})
        config["model"]["vgg_path"] = args.vgg or None
        torch.manual_seed(0)
        data = FaceDataModule(**{**config["data"], "num_workers": 0})
        data.setup()
        items = [data.splits["train"][i] for i in range(args.faces)]
        image, mask = torch.stack([item[0] for item in items]), torch.stack([item[1] for item in items])
        module = build_module(config["model"])
        with torch.no_grad():
            total, terms, _ = module.generator_loss(image, mask)
        print(f"{recipe}: {args.faces} faces at {config['data']['size']}², hole {mask.mean().item():.1%}, "
              f"total {total.item():.4g}")
        for name, value in terms.items():
            weight = 1.0 if recipe == "pconv" and name == "l1" else module.weights.get(WEIGHT_OF[name], 1.0)
            print(f"  {name:12s} raw {value.item():10.4g}   weighted {weight * value.item():10.4g}")
        optimizers = module.configure_optimizers()
        seconds = []
        for _ in range(args.steps):
            start = time.perf_counter()
            loss, _, fakes = module.generator_loss(image, mask)
            optimizers[0].zero_grad()
            loss.backward()
            optimizers[0].step()
            if module.discriminator is not None:
                loss_d = module.discriminator_loss(image, mask, {k: v.detach() for k, v in fakes.items()})
                optimizers[1].zero_grad()
                loss_d.backward()
                optimizers[1].step()
            seconds.append(time.perf_counter() - start)
        print(f"  G+D step: {min(seconds):.2f} s (best of {args.steps}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
