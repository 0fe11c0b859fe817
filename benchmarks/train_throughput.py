"""Training throughput (images/s) of the GAN step for each training config, on random tensors.

    python benchmarks/train_throughput.py [--configs configs/train/deepfill_cpu.yaml ...] [--steps 5]

Measures the full manual-optimisation step (G forward/backward/step, D step every d_every batches) on the
machine it runs on (CUDA when available), batch size and image size from each config.
"""

from __future__ import annotations

import argparse
import time

import torch

from unmask.losses import hinge_d_loss
from unmask.train.module import InpaintingGAN
from unmask.train.run import load_config


def images_per_second(config: dict, steps: int, device: torch.device) -> float:
    """Time ``steps`` GAN steps after one warm-up step; returns images per second."""
    module = InpaintingGAN(**config["model"]).to(device)
    opt_g, opt_d = module.configure_optimizers()
    size, batch = int(config["data"]["size"]), int(config["data"]["batch_size"])
    image = torch.rand(batch, 3, size, size, device=device)
    mask = torch.zeros(batch, 1, size, size, device=device)
    mask[..., size // 2:, size // 4: 3 * size // 4] = 1
    d_every = int(module.optim["d_every"])

    def step(index: int) -> None:
        loss, _, composite = module.generator_loss(image, mask)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        if index % d_every == 0:
            loss_d = hinge_d_loss(module.discriminator(image, mask), module.discriminator(composite.detach(), mask))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()

    step(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for index in range(1, steps + 1):
        step(index)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    """Print one line per config."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+",
                        default=["configs/train/deepfill_cpu.yaml", "configs/train/deepfill_gpu.yaml"])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    for path in args.configs:
        config = load_config(path)
        rate = images_per_second(config, args.steps, device)
        data = config["data"]
        print(f"{path:40s} size {data['size']:4d} batch {data['batch_size']:3d}  {rate:7.2f} images/s")


if __name__ == "__main__":
    main()
