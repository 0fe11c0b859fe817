"""unmask: find what covers a face in a photo and paint a believable (invented, not recovered) face back.

Public surface: ``Unmasker`` (the end-to-end pipeline), ``create_model`` and ``list_models`` (the model
registry). They are imported on first use, so ``import unmask`` stays light.
"""

from typing import Any

from unmask._version import __version__ as __version__

__all__ = ["Unmasker", "create_model", "list_models"]


def __getattr__(name: str) -> Any:
    """Lazily import the public objects."""
    if name == "Unmasker":
        from unmask.pipeline import Unmasker

        return Unmasker
    if name in ("create_model", "list_models"):
        from unmask import models

        return getattr(models, name)
    raise AttributeError(f"module 'unmask' has no attribute {name!r}")
