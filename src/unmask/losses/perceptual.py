"""VGG16 perceptual and style losses with Keras/Caffe ImageNet weights (see shared/weights/README.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn as nn

from unmask.nets.vgg import RELU_INDICES, build_vgg16_features

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
DEFAULT_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


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


def _weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None) -> torch.Tensor:
    """Sum of ``weights[name] * terms[name]`` (weight 1 for every term when ``weights`` is None)."""
    return torch.stack(
        [term * (1.0 if weights is None else weights[name]) for name, term in terms.items()]
    ).sum()


def perceptual_loss(
    pred_features: Mapping[str, torch.Tensor],
    target_features: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Sum over layers of the mean L1 distance between features; target features are detached. Scalar."""
    return _weighted_sum(
        {
            name: (pred_features[name] - target.detach()).abs().mean()
            for name, target in target_features.items()
        },
        layer_weights,
    )


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by C*H*W: (B, C, H, W) -> (B, C, C)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def style_loss(
    pred_features: Mapping[str, torch.Tensor],
    target_features: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Sum over layers of the mean L1 distance between Gram matrices; target features are detached. Scalar."""
    return _weighted_sum(
        {
            name: (gram_matrix(pred_features[name]) - gram_matrix(target.detach())).abs().mean()
            for name, target in target_features.items()
        },
        layer_weights,
    )
