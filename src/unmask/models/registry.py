"""One registry for every inpainting model, learned or classical: ``create_model(name, **cfg)``, ``list_models()``."""

from __future__ import annotations

from collections.abc import Callable

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
