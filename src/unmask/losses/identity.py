"""Identity loss: how far a filled face's FaceNet embedding is from the true face's (training only)."""

from __future__ import annotations

import torch

from unmask.nets.identity import FaceNetIdentity


def identity_loss(facenet: FaceNetIdentity, output: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos`` between the FaceNet embeddings of ``output`` and ``truth`` (both (B, 3, S, S) RGB in [0, 1],
    aligned crops); gradients flow to ``output`` only. 0 = the same identity embedding, 2 = opposite."""
    target = facenet.embed(truth)
    return (1.0 - (facenet.embed_differentiable(output) * target).sum(1)).mean()
