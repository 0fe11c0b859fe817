"""The learned occlusion detector: the shipped ``OcclusionSegmenter`` run on an aligned face crop.

Weights live in ``assets/weights/detector/segmenter.safetensors`` (fp16) with their record and sha256 beside them;
they are trained by ``unmask train --config configs/train/segmenter_cpu.yaml`` and shipped with
``scripts/ship_weights.py RUN --name segmenter``.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import torch
import yaml
from safetensors.torch import load_file
from scipy import ndimage

from unmask.errors import UnmaskError
from unmask.models.pretrained import WEIGHTS_DIR, sha256_of
from unmask.models.segmenter import OcclusionSegmenter

DETECTOR_DIR = WEIGHTS_DIR / "detector"
SEGMENTER_NAME = "segmenter"
MIN_AREA = 0.01  # of the crop: smaller findings are noise, the face counts as unoccluded


def segmenter_shipped() -> bool:
    """Whether trained segmenter weights are installed."""
    return (DETECTOR_DIR / f"{SEGMENTER_NAME}.yaml").is_file()


def _record() -> dict:
    record_path = DETECTOR_DIR / f"{SEGMENTER_NAME}.yaml"
    if not record_path.is_file():
        raise UnmaskError("no trained occlusion segmenter is installed; use the k-means detector")
    return yaml.safe_load(record_path.read_text())


def segmenter_threshold() -> float:
    """The logit threshold recorded with the shipped weights (chosen by benchmarks/segmenter_threshold.py)."""
    return float(_record().get("threshold", 0.0))


@cache
def load_segmenter() -> tuple[OcclusionSegmenter, int]:
    """The shipped segmenter (eval mode, float32, sha256 verified) and its input size."""
    record = _record()
    weights = DETECTOR_DIR / record["file"]
    if sha256_of(weights) != record["sha256"]:
        raise UnmaskError(f"{weights}: sha256 does not match the recorded one; reinstall unmask")
    model = OcclusionSegmenter(**record.get("kwargs", {}))
    model.load_state_dict({key: value.float() for key, value in load_file(str(weights)).items()})
    return model.eval().requires_grad_(False), int(record["size"])


def segmenter_logits(crop: np.ndarray) -> np.ndarray:
    """Occluder logits of the shipped segmenter for an aligned crop (S, S, 3) uint8 RGB, resized to float32 (S, S)."""
    model, size = load_segmenter()
    side = crop.shape[0]
    small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    tensor = torch.from_numpy(small.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))[None]
    with torch.inference_mode():
        logits = model(tensor)[0, 0].numpy()
    return cv2.resize(logits, (side, side), interpolation=cv2.INTER_LINEAR)


def occluder_from_logits(logits: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Pixels above ``threshold`` (default: the shipped record's), components under MIN_AREA dropped, holes
    filled; bool (S, S)."""
    threshold = segmenter_threshold() if threshold is None else threshold
    found = (logits > threshold).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=8)
    keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA * found.size) + 1
    return ndimage.binary_fill_holes(np.isin(labels, keep))


def learned_occlusion_in_crop(crop: np.ndarray) -> np.ndarray:
    """Occluder (face mask or eye bar) in an aligned crop (S, S, 3) uint8 RGB; returns bool (S, S)."""
    return occluder_from_logits(segmenter_logits(crop))
