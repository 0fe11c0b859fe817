"""Inference speed on this machine, side by side in one run.

    python benchmarks/inference.py [--configs cpu,gpu] [--repeats 5] [--threads N] [--profile | --ops | --models A,B]

Prints, per DeepFill architecture config, the per-face latency at 128² and 256² of PyTorch (eager, inference mode),
PyTorch channels-last (what ``unmask remove`` runs), ONNX Runtime (full graph optimisation) and ONNX Runtime with
int8 dynamic quantisation of the convolutions, next to Telea; then the whole pipeline (detect, find the mask, align,
inpaint, paste back) on a 1024² and a 4000x3000 photo with a synthetic surgical mask, for Telea, DeepFill in both
backends and the default model when it is another one. The ``cpu`` config (``configs/train/deepfill_cpu_wider.yaml``,
cnum 64) runs the shipped weights when they are installed: trained weights matter for speed (a sharp attention
softmax yields subnormal floats, see ``ContextualAttention``); the ``gpu`` config (cnum 48) has random weights.
``--profile`` prints GFLOP per face instead (no timing); ``--ops`` the default model's time per operator on one
thread; ``--models`` only compares the named models (shipped weights, as ``unmask remove --model`` runs them:
PyTorch channels-last) at 128² and 256², with their parameter count and weight file size, and their whole
pipeline on the two photos. The load average is printed: other processes on a shared machine slow every figure.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from onnxruntime.quantization import QuantType, quantize_dynamic
from skimage import data

from unmask.face import detect_faces
from unmask.models import create_model, load
from unmask.models.onnx_backend import OnnxInpainter
from unmask.models.onnx_export import export_onnx
from unmask.models.pretrained import WEIGHTS_DIR, card, shipped_models
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker, default_model

CONFIGS = {"cpu": "configs/train/deepfill_cpu_wider.yaml", "gpu": "configs/train/deepfill_gpu.yaml"}


def median_seconds(function, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def face_batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One random (1, 3, size, size) face with a lower-face hole (1, 1, size, size)."""
    image = torch.rand(1, 3, size, size)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 2: size * 7 // 8, size // 4: size * 3 // 4] = 1
    return image, mask


def face_milliseconds(model, repeats: int) -> list[float]:
    """Median milliseconds of ``model(image, mask)`` on one face at 128² and at 256² (inference mode)."""
    cells = []
    for size in (128, 256):
        image, mask = face_batch(size)
        with torch.inference_mode():
            cells.append(1000 * median_seconds(lambda i=image, k=mask: model(i, k), repeats))
    return cells


def generator_kwargs(config: str) -> dict:
    """The generator's kwargs in a training config."""
    return yaml.safe_load(Path(config).read_text())["model"]["generator"]["kwargs"]


def config_source(name: str) -> tuple[str, torch.nn.Module]:
    """Label and model of a config: the shipped weights for ``cpu`` when installed, else random weights."""
    kwargs = generator_kwargs(CONFIGS[name])
    if name == "cpu" and "deepfill" in shipped_models() and card("deepfill")["kwargs"] == kwargs:
        return f"deepfill shipped (cnum {kwargs['cnum']})", load("deepfill")
    return f"deepfill {name} (cnum {kwargs['cnum']}, random)", load("deepfill", kwargs=kwargs)


def latency_table(configs: list[str], repeats: int, folder: Path) -> dict[str, Path]:
    """Print per-face milliseconds; returns the exported ONNX file of each config."""
    print(f"{'model':46s} {'128² ms':>9s} {'256² ms':>9s}")
    exported = {}
    for name in configs:
        label, source = config_source(name)
        model = copy.deepcopy(source).eval().to(memory_format=torch.contiguous_format)
        exported[name] = export_onnx(source, folder / f"deepfill_{name}.onnx")
        channels_last = copy.deepcopy(model).to(memory_format=torch.channels_last)
        int8 = folder / f"deepfill_{name}_int8.onnx"
        quantize_dynamic(str(exported[name]), str(int8), weight_type=QuantType.QUInt8, op_types_to_quantize=["Conv"])
        rows = {"PyTorch": model, "PyTorch channels-last": channels_last, "ONNX Runtime": OnnxInpainter(exported[name]),
                "ONNX Runtime int8": OnnxInpainter(int8)}
        for backend, runner in rows.items():
            cells = face_milliseconds(runner, repeats)
            print(f"{label + ' ' + backend:46s} {cells[0]:9.1f} {cells[1]:9.1f}")
    cells = face_milliseconds(create_model("telea"), repeats)
    print(f"{'telea':46s} {cells[0]:9.1f} {cells[1]:9.1f}")
    return exported


def model_table(names: list[str], repeats: int) -> None:
    """Print per-face milliseconds at 128² and 256², parameters and weight file size of each named model."""
    print(f"{'model':12s} {'params':>10s} {'file MB':>8s} {'128² ms':>9s} {'256² ms':>9s}")
    for name in names:
        model = load(name)
        params = sum(parameter.numel() for parameter in model.parameters())
        size_mb = (WEIGHTS_DIR / card(name)["file"]).stat().st_size / 1e6 if name in shipped_models() else 0.0
        cells = face_milliseconds(model, repeats)
        print(f"{name:12s} {params:10,d} {size_mb:8.2f} {cells[0]:9.1f} {cells[1]:9.1f}")


def flop_profile(configs: list[str]) -> None:
    """Print GFLOP per face and the share of convolutions vs contextual-attention matrix products (no timing)."""
    from torch.utils.flop_counter import FlopCounterMode

    print(f"{'model':34s} {'size':>5s} {'GFLOP':>7s} {'conv':>6s} {'bmm':>6s} {'params':>9s}")
    for name in configs:
        kwargs = generator_kwargs(CONFIGS[name])
        model = create_model("deepfill", **kwargs).eval()
        for size in (128, 256):
            with FlopCounterMode(display=False) as counter, torch.inference_mode():
                model(*face_batch(size))
            ops = {str(op): flops / 1e9 for op, flops in counter.get_flop_counts()["Global"].items()}
            print(f"{'deepfill ' + name + ' (cnum ' + str(kwargs['cnum']) + ')':34s} {size:5d} "
                  f"{counter.get_total_flops() / 1e9:7.2f} {ops.get('aten.convolution', 0):6.2f} "
                  f"{ops.get('aten.bmm', 0):6.2f} {sum(p.numel() for p in model.parameters()):9,d}")


def op_profile(repeats: int) -> None:
    """Print where one thread's time goes in the default model's forward pass on a 256² face (torch.profiler)."""
    from torch.profiler import profile

    torch.set_num_threads(1)
    model = load(default_model())
    image, mask = face_batch(256)
    with torch.inference_mode():
        model(image, mask)
        with profile() as profiler:
            for _ in range(repeats):
                model(image, mask)
    rows = sorted(profiler.key_averages(), key=lambda row: -row.self_cpu_time_total)
    total = sum(row.self_cpu_time_total for row in rows)
    print(f"{default_model()} at 256², 1 thread: {total / 1000 / repeats:.1f} ms per face")
    print(f"{'op':28s} {'ms':>7s} {'share':>6s}")
    for row in rows[:8]:
        print(f"{row.key:28s} {row.self_cpu_time_total / 1000 / repeats:7.1f} {row.self_cpu_time_total / total:6.1%}")


def pipeline_times(models: dict[str, tuple[str, str]], repeats: int) -> None:
    """Print the whole pipeline's seconds on a 1024² and a 4000x3000 photo for each (model, backend)."""
    astronaut = data.astronaut()
    for width, height in ((1024, 1024), (4000, 3000)):
        photo = cv2.resize(astronaut, (height, height), interpolation=cv2.INTER_CUBIC)
        photo = cv2.copyMakeBorder(photo, 0, 0, (width - height) // 2, (width - height) // 2, cv2.BORDER_REFLECT)
        occluded, _ = occlude(photo, "surgical", np.random.default_rng(0), face=detect_faces(photo)[0])
        for label, (model, backend) in models.items():
            unmasker = Unmasker(model, backend=backend)
            seconds = median_seconds(lambda u=unmasker, o=occluded: u(o), repeats)
            print(f"pipeline {width}x{height}, {label}: {seconds:.3f} s")


def main() -> None:
    """Print the latency table and the pipeline times."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="cpu,gpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch and ONNX Runtime threads (default: all)")
    parser.add_argument("--profile", action="store_true", help="only print the FLOP profile (no timing)")
    parser.add_argument("--ops", action="store_true", help="only print the default model's time per op, 1 thread")
    parser.add_argument("--models", default=None, help="only compare these models, e.g. deepfill,pconv,dmfn,hog,telea")
    args = parser.parse_args()
    if args.profile:
        flop_profile(args.configs.split(","))
        return
    if args.ops:
        op_profile(args.repeats)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.models:
        model_table(args.models.split(","), args.repeats)
        pipeline_times({name: (name, "torch") for name in args.models.split(",")}, args.repeats)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    with tempfile.TemporaryDirectory() as folder:
        exported = latency_table(args.configs.split(","), args.repeats, Path(folder))
        models = {"telea": ("telea", "torch")}
        if "cpu" in exported:
            label = config_source("cpu")[0]
            models[f"{label} PyTorch channels-last"] = ("deepfill", "torch")
            models[f"{label} ONNX Runtime"] = (str(exported["cpu"]), "onnxruntime")
        if default_model() not in ("deepfill", "telea"):
            models[f"{default_model()} (the default) PyTorch channels-last"] = (default_model(), "torch")
        pipeline_times(models, args.repeats)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
