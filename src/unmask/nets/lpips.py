"""LPIPS (Zhang et al. 2018, version 0.1) with AlexNet or VGG16 trunks, from one safetensors file.

The file holds torchvision's ``features.*`` convolutions and the v0.1 linear heads ``lin0..lin4.model.1.weight``
(``../shared/weights/lpips/lpips_alexnet.safetensors`` or ``lpips_vgg16_fp16.safetensors``); the trunk is told
apart by the first convolution's kernel (11x11: AlexNet, 3x3: VGG16). Tensors only, never a pickle.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

from unmask.errors import UnmaskError
from unmask.nets.vgg import RELU_INDICES, build_vgg16_features

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
ALEX_TAPS = (1, 4, 7, 9, 11)  # the ReLU after each of AlexNet's five convolutions
VGG_TAPS = tuple(RELU_INDICES[name] for name in ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"))


def build_alexnet_features() -> nn.Sequential:
    """torchvision's ``alexnet().features`` (five convolutions, ReLUs and three max-pools)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
    )


def _unit_normalise(features: torch.Tensor) -> torch.Tensor:
    """Divide each position's channel vector by its norm (LPIPS ``normalize_tensor``, eps 1e-10)."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)


class LPIPS(nn.Module):
    """Frozen LPIPS distance: ``forward(pred, target)`` with (B, 3, H, W) RGB in [0, 1] -> (B,), 0 = identical.

    ``net`` says which trunk the file holds ("alex" or "vgg"). Gradients flow to the inputs, so the VGG
    variant serves as a perceptual loss on the real ImageNet VGG16 as well as a metric.
    """

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        path = Path(weights_path)
        if not path.is_file():
            raise UnmaskError(f"{path}: LPIPS weights file not found (see shared/weights/README.md)")
        state = {key: value.float() for key, value in load_file(str(path)).items()}
        first = state.get("features.0.weight")
        if first is None or first.shape[-1] not in (3, 11):
            raise UnmaskError(f"{path}: not an LPIPS file (no AlexNet or VGG16 features.0.weight)")
        self.net = "alex" if first.shape[-1] == 11 else "vgg"
        trunk, taps = (build_alexnet_features(), ALEX_TAPS) if self.net == "alex" else (build_vgg16_features(),
                                                                                          VGG_TAPS)
        self.trunk = trunk[: taps[-1] + 1]
        self.taps = taps
        self.trunk.load_state_dict({key[len("features."):]: value for key, value in state.items()
                                    if key.startswith("features.")})
        self.heads = nn.ModuleList()
        for index in range(len(taps)):
            head = state[f"lin{index}.model.1.weight"]
            conv = nn.Conv2d(head.shape[1], 1, 1, bias=False)
            conv.weight.data.copy_(head)
            self.heads.append(conv)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    def features(self, image: torch.Tensor, depth: int | None = None) -> list[torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> the five unit-normalised tapped activations, or the first ``depth`` of them
        (the trunk runs only as far as they need)."""
        taps = self.taps[:depth]
        x = (image * 2.0 - 1.0 - self.shift) / self.scale
        out = []
        for index, layer in enumerate(self.trunk[: taps[-1] + 1]):
            x = layer(x)
            if index in taps:
                out.append(_unit_normalise(x))
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image: (B, 3, H, W) x2 in [0, 1] -> (B,)."""
        total = torch.zeros(pred.shape[0], device=pred.device, dtype=torch.float32)
        for head, a, b in zip(self.heads, self.features(pred), self.features(target), strict=True):
            total = total + head((a - b).square()).float().mean(dim=(1, 2, 3))
        return total

    def train(self, mode: bool = True) -> LPIPS:
        """Always stays in eval mode (a frozen metric)."""
        return super().train(False)


def lpips_distance(metric: LPIPS, pred: torch.Tensor, target: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """LPIPS per image, after resizing both (B, 3, H, W) inputs to ``size``² with antialiasing when given -> (B,)."""
    if size is not None and pred.shape[-2:] != (size, size):
        pred = F.interpolate(pred, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        target = F.interpolate(target, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return metric(pred, target)
