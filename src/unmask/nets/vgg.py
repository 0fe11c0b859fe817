"""VGG16's convolutional trunk in torchvision's ``vgg16().features`` layout, and a frozen feature extractor on it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn

VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                    512, 512, 512, "M")


def _relu_indices() -> dict[str, int]:
    """Index of every ReLU (``relu{block}_{conv}``) in :func:`build_vgg16_features`."""
    indices, index, block, conv = {}, 0, 1, 1
    for v in VGG16_CFG:
        if v == "M":
            index += 1
            block, conv = block + 1, 1
        else:
            indices[f"relu{block}_{conv}"] = index + 1
            index += 2
            conv += 1
    return indices


RELU_INDICES = _relu_indices()
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
DEFAULT_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def build_vgg16_features() -> nn.Sequential:
    """The 13 conv layers of VGG16 in torchvision ``vgg16().features`` layout (``0.weight``...``28.bias``)."""
    layers: list[nn.Module] = []
    channels = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.ReLU()]
            channels = int(v)
    return nn.Sequential(*layers)


class VGG16Features(nn.Module):
    """Frozen VGG16 feature extractor returning the named ReLU activations.

    Loads a state dict in torchvision layout from ``weights_path`` (fp16 is cast to float32) and applies Caffe
    preprocessing (RGB -> BGR, 0..255, mean subtracted, no std). Input (B, 3, H, W) RGB in [0, 1];
    output ``{name: (B, C_l, H_l, W_l)}`` for ``layers`` (any of ``relu1_1`` ... ``relu5_3``).
    """

    def __init__(self, weights_path: str | Path, layers: Sequence[str] = DEFAULT_LAYERS) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in RELU_INDICES]
        if unknown or not layers:
            raise ValueError(f"unknown VGG16 layers {unknown}; choose from {list(RELU_INDICES)}")
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"VGG16 weights not found at {path}; see shared/weights/README.md")
        features = build_vgg16_features()
        state = torch.load(path, map_location="cpu", weights_only=True)
        features.load_state_dict({k: v.float() for k, v in state.items()})
        self.layers = tuple(layers)
        self.features = features[: max(RELU_INDICES[name] for name in layers) + 1]
        self.features.eval().requires_grad_(False)
        self.register_buffer("mean_bgr", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, H, W) RGB in [0, 1] -> ``{layer name: activation}``."""
        x = image.flip(1) * 255.0 - self.mean_bgr
        wanted = {RELU_INDICES[name]: name for name in self.layers}
        out = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                out[wanted[index]] = x
        return out
