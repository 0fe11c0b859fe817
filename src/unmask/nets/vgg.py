"""VGG16's convolutional trunk in torchvision's ``vgg16().features`` layout (weights are loaded by the callers)."""

from __future__ import annotations

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
