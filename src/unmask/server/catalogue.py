"""What this installation can run: the registry's models the pipeline accepts, and reference support.

Asked in the serving process at request time; the pipeline is imported on first use only.
"""

from __future__ import annotations

import inspect
from functools import cache

from fastapi import HTTPException

from unmask.errors import UnmaskError
from unmask.server.schemas import ModelInfo


@cache
def model_catalogue() -> tuple[ModelInfo, ...]:
    """Every registered model and whether the pipeline accepts it here (learned ones need shipped weights)."""
    from unmask.models import list_models
    from unmask.pipeline import Unmasker, default_model

    default = default_model()
    catalogue = []
    for name in list_models():
        try:
            learned = any(True for _ in Unmasker(name).model.parameters())
            catalogue.append(ModelInfo(name=name, kind="learned" if learned else "classical", available=True,
                                       default=name == default))
        except UnmaskError as error:
            catalogue.append(ModelInfo(name=name, kind="learned", available=False, default=False, reason=str(error)))
    return tuple(catalogue)


def resolve_model(name: str | None) -> str:
    """The model a request asked for (the default when none), refused with 400 when it cannot run here."""
    catalogue = {info.name: info for info in model_catalogue()}
    if not name:
        return next(info.name for info in catalogue.values() if info.default)
    if name not in catalogue:
        raise HTTPException(400, f"unknown model {name!r}; available: "
                                 f"{', '.join(n for n, info in catalogue.items() if info.available)}")
    if not catalogue[name].available:
        raise HTTPException(400, catalogue[name].reason or f"model {name!r} cannot be used")
    return name


def supports_reference() -> bool:
    """Whether this version's ``Unmasker.__call__`` takes a ``reference`` photo (looked up on every call)."""
    from unmask.pipeline import Unmasker

    return "reference" in inspect.signature(Unmasker.__call__).parameters
