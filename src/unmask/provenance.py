"""Provenance of edited photos: the metadata ``unmask`` writes into every output, and reading it back."""

from __future__ import annotations

import os
from typing import BinaryIO

import numpy as np
from PIL import Image

MODEL_KEY = "unmask_model"
IMAGE_DESCRIPTION = 0x010E  # EXIF tag where JPEG/WebP/TIFF outputs carry the metadata


def provenance_metadata(model: str, mask: np.ndarray) -> dict[str, str]:
    """Metadata for a photo whose pixels under ``mask`` (H, W), non-zero = synthesized, were painted by ``model``."""
    ys, xs = np.asarray(mask).nonzero()
    region = f"{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}" if len(xs) else "none"
    return {"unmask": f"edited by unmask: the face region inside the box {region} (x0,y0,x1,y1) was "
                      f"synthesized by the {model} model and is not the real face",
            MODEL_KEY: model, "unmask_region": region}


def edited_by(source: str | os.PathLike | BinaryIO) -> str | None:
    """The model named in an image file's unmask metadata (PNG text or EXIF description), None for other files."""
    return metadata_value(source, MODEL_KEY)


def metadata_value(source: str | os.PathLike | BinaryIO, name: str) -> str | None:
    """The value of one key of the metadata ``save_image`` writes (PNG text or EXIF description), else None."""
    with Image.open(source) as image:
        if name in image.info:
            return str(image.info[name])
        description = str(image.getexif().get(IMAGE_DESCRIPTION, ""))
    for item in description.split("; "):
        key, _, value = item.partition("=")
        if key == name and value:
            return value
    return None
