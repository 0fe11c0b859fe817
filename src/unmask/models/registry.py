"""One registry for every inpainting model, learned or classical: ``create_model(name, **cfg)``, ``list_models()``."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from unmask.errors import UnmaskError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a builder function under ``name``."""

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        _BUILDERS[name] = builder
        return builder

    return decorator


def create_model(name: str, **cfg) -> nn.Module:
    """Build the model registered as ``name``; every model answers ``model(image, mask) -> image``.

    Images are (B, 3, H, W) float RGB in [0, 1]; masks are (B, 1, H, W) float with 1 = hole.
    """
    if name not in _BUILDERS:
        raise UnmaskError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _BUILDERS[name](**cfg)


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_BUILDERS)


def check_size(model: str, image: torch.Tensor, multiple: int, smallest: int = 1) -> None:
    """Raise UnmaskError when H or W of ``image`` (..., H, W) is not a multiple of ``multiple`` or is below
    ``smallest``; skipped while tracing. The one size check of every model and backend."""
    if torch.jit.is_tracing():
        return
    height, width = image.shape[-2:]
    if height % multiple or width % multiple or min(height, width) < smallest:
        least = f" and at least {smallest}" if smallest > 1 else ""
        raise UnmaskError(f"{model} needs H and W divisible by {multiple}{least}, got {height}x{width}; pad the input")
