"""Inpainting models; importing this package registers every model with the registry. ``load(spec)`` turns a name,
a weights file, an ONNX graph or a training run into a ready model with its card (:mod:`unmask.models.loading`)."""

import unmask.models.reference_guided  # noqa: F401  (registers the model(image, mask, reference, validity) one)
from unmask.models import classical, deepfill, dmfn, hog_guided, mean_face, pconv  # noqa: F401  (registers every model)
from unmask.models.loading import ModelCard, load
from unmask.models.registry import create_model, list_models, register_model

__all__ = ["ModelCard", "create_model", "list_models", "load", "register_model"]
