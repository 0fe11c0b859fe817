"""Inpainting models; importing this package registers every model with the registry."""

import unmask.models.reference_guided  # noqa: F401  (registers the model(image, mask, reference, validity) one)
from unmask.models import classical, deepfill, dmfn, hog_guided, pconv  # noqa: F401  (registers every model)
from unmask.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
