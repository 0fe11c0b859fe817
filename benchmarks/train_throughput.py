"""Training throughput (images/s) of the GAN step for each training config, on random tensors.

    python benchmarks/train_throughput.py [--configs configs/train/deepfill_cpu.yaml ...] [--steps 5]
        [--precisions config 32 bf16]

Measures the full manual-optimisation step (G forward/backward/step, D step every d_every batches when the
adversarial weight is above 0) on the machine it runs on (CUDA when available), batch size and image size from each
config, in each precision asked for: ``config`` is the config's ``trainer.precision`` (as ``unmask train`` runs it:
float32 on a CPU and bf16 autocast on a GPU unless the config says otherwise), ``32`` float32, ``bf16`` bf16
autocast. The generator starts from random weights (``model.init_from`` is ignored: the speed does not depend on
them, and a config's starting file may since have been replaced by wider weights).
"""

from __future__ import annotations

import argparse
import time

import torch

from unmask.losses import hinge_d_loss
from unmask.train.recipes import DeepFillRecipe
from unmask.train.run import load_config, trainer_precision


def images_per_second(config: dict, steps: int, device: torch.device, bf16: bool) -> float:
    """Time ``steps`` GAN steps (under bf16 autocast when ``bf16``) after one warm-up step; returns images/s."""
    model = {key: value for key, value in config["model"].items() if key not in ("init_from", "init_widen")}
    module = DeepFillRecipe(**model).to(device)
    opt_g, opt_d = module.configure_optimizers()
    size, batch = int(config["data"]["size"]), int(config["data"]["batch_size"])
    image = torch.rand(batch, 3, size, size, device=device)
    mask = torch.zeros(batch, 1, size, size, device=device)
    mask[..., size // 2:, size // 4: 3 * size // 4] = 1
    d_every = int(module.optim["d_every"])
    adversarial = module.weights["adv"] > 0

    def step(index: int) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, _, composite = module.generator_loss(image, mask)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        if adversarial and index % d_every == 0:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss_d = hinge_d_loss(module.discriminator(image, mask),
                                      module.discriminator(composite.detach(), mask))
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
    parser.add_argument("--precisions", nargs="+", choices=["config", "32", "bf16"], default=["config"])
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    for path in args.configs:
        config = load_config(path)
        for precision in args.precisions:
            if precision == "config":
                precision = "bf16" if trainer_precision(config, device.type == "cuda").startswith("bf16") else "32"
            rate = images_per_second(config, args.steps, device, bf16=precision == "bf16")
            data = config["data"]
            print(f"{path:40s} size {data['size']:4d} batch {data['batch_size']:3d} {precision:>4s}  "
                  f"{rate:7.2f} images/s")


if __name__ == "__main__":
    main()
