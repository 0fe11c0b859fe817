"""The pipeline's import path of :func:`unmask.models.load` (``load_model``), kept until the pipeline imports it."""

from unmask.models.loading import load as load_model

__all__ = ["load_model"]
