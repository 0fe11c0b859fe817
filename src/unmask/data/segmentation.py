"""Training data for the learned occlusion detector: aligned faces wearing synthetic masks or bars, or nothing.

Each sample is a prepared crop, re-aligned with a random small similarity (detectors place the keypoints of a
masked face roughly, so the segmenter must not rely on an exact alignment), recoloured, then given a face mask or an
eye bar by the occlusion generators; some samples stay clean so that a bare face yields an empty mask.
"""

from __future__ import annotations

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from unmask.data.datamodule import OCCLUDED_SETS, sample_seed
from unmask.data.manifest import Manifest, face_from_landmarks, read_manifest
from unmask.data.mask_styles import draw_straps, restyle_mask
from unmask.face.align import warp_points
from unmask.occlusion import MASK_KINDS, OcclusionMixture

DETECTABLE_WEIGHTS = {"surgical": 3.0, "n95": 1.5, "kn95": 1.5, "cloth": 2.0, "gas": 1.0, "bar": 2.0}


def jitter_matrix(rng: np.random.Generator, size: int, scale: float, rotate: float, shift: float,
                  source_size: int) -> np.ndarray:
    """(2, 3) matrix from a ``source_size`` crop to a ``size`` crop with a random similarity about the centre.

    scale: max relative zoom change; rotate: max degrees; shift: max translation as a fraction of the crop.
    """
    zoom = (size / source_size) * (1 + rng.uniform(-scale, scale))
    angle = rng.uniform(-rotate, rotate)
    matrix = cv2.getRotationMatrix2D((source_size / 2, source_size / 2), angle, zoom)
    matrix[:, 2] += size / 2 - source_size / 2 + rng.uniform(-shift, shift, 2) * size
    return matrix


def recolour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast, gamma, colour cast and sometimes grey, on (H, W, 3) uint8."""
    x = image.astype(np.float32) / 255
    if rng.random() < 0.15:
        x = np.repeat(x.mean(2, keepdims=True), 3, axis=2)
    x = x ** rng.uniform(0.7, 1.4)
    x = (x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.12, 0.12)
    x = x * rng.uniform(0.9, 1.1, 3)
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def real_photo_damage(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Real-photo damage on (S, S, 3) uint8: one or more of a low-resolution round trip (smooth or blocky),
    JPEG compression, blur and sensor noise. Many real masked photos are small, upscaled or heavily compressed,
    unlike the clean crops the synthetic occluders are drawn on."""
    size = image.shape[0]
    x = image
    if rng.random() < 0.5:
        small = max(12, int(size * rng.uniform(0.15, 0.8)))
        x = cv2.resize(x, (small, small), interpolation=cv2.INTER_AREA)
        x = cv2.resize(x, (size, size), interpolation=cv2.INTER_NEAREST if rng.random() < 0.3 else cv2.INTER_LINEAR)
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.2:
        x = np.clip(x + rng.normal(0, rng.uniform(2, 8), x.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        _, data = cv2.imencode(".jpg", np.ascontiguousarray(x), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 85))])
        x = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return np.ascontiguousarray(x)


class OccluderCrops(Dataset):
    """Item: ``(occluded image (3,S,S) float [0,1], occluder mask (1,S,S) float 1 = occluder)``.

    clean_share: fraction of samples with no occluder. With ``base_seed`` every index is fixed (validation).
    weights: relative frequency of each occluder kind (default DETECTABLE_WEIGHTS). degrade: share of samples given
    real-photo damage after the occluder is drawn (see :func:`real_photo_damage`). restyle / straps: share of face
    masks repainted with a random print (:func:`~unmask.data.mask_styles.restyle_mask`, a ``skin_toned`` share of
    them near the skin's colour) / given ear loops or straps (:func:`~unmask.data.mask_styles.draw_straps`).
    """

    def __init__(self, manifest: Manifest, size: int, clean_share: float = 0.2, jitter: bool = True,
                 base_seed: int | None = None, weights: dict[str, float] | None = None, degrade: float = 0.0,
                 restyle: float = 0.0, straps: float = 0.0, skin_toned: float = 0.0) -> None:
        self.manifest = manifest
        self.size = size
        self.clean_share = clean_share
        self.jitter = jitter
        self.base_seed = base_seed
        self.mixture = OcclusionMixture(weights or DETECTABLE_WEIGHTS)
        self.degrade = degrade
        self.restyle = restyle
        self.straps = straps
        self.skin_toned = skin_toned

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        seed = int(torch.randint(0, 2**62, ()).item()) if self.base_seed is None else sample_seed(self.base_seed, index)
        rng = np.random.default_rng(seed)
        crop = np.ascontiguousarray(cv2.imread(str(self.manifest.image_path(index)), cv2.IMREAD_COLOR)[:, :, ::-1])
        if self.jitter:
            matrix = jitter_matrix(rng, self.size, 0.08, 8.0, 0.04, crop.shape[0])
        else:
            matrix = np.array([[self.size / crop.shape[0], 0, 0], [0, self.size / crop.shape[0], 0]])
        image = cv2.warpAffine(crop, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        image = recolour(image, rng)
        if rng.random() < self.clean_share:
            mask = np.zeros((self.size, self.size), np.uint8)
        else:
            face = face_from_landmarks(warp_points(self.manifest.landmarks[index], matrix))
            image, mask, kind = self.mixture(image, face, rng)
            if kind in MASK_KINDS and self.restyle and rng.random() < self.restyle:
                image = restyle_mask(image, mask, rng, self.skin_toned)
            if kind in MASK_KINDS and self.straps and rng.random() < self.straps:
                image, mask = draw_straps(image, mask, face, rng)
        if rng.random() < self.degrade:
            image = real_photo_damage(image, rng)
        image_tensor = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))
        return image_tensor, torch.from_numpy(mask.astype(np.float32))[None]


class OccluderDataModule(L.LightningDataModule):
    """Train/val splits of a prepared folder for the occlusion segmenter (faces already wearing masks left out).

    weights: relative frequency of each occluder kind in training (default DETECTABLE_WEIGHTS); degrade: share of
    training samples with real-photo damage; restyle / straps: share of training face masks repainted with a random
    print (``skin_toned`` of them near the skin's colour) / given ear loops or straps. Validation always uses
    DETECTABLE_WEIGHTS and clean crops, so runs with different training mixtures are scored alike.
    """

    def __init__(self, data_dir: str, size: int = 128, batch_size: int = 16, num_workers: int = 1,
                 clean_share: float = 0.2, seed: int = 0, weights: dict[str, float] | None = None,
                 degrade: float = 0.0, restyle: float = 0.0, straps: float = 0.0, skin_toned: float = 0.0) -> None:
        super().__init__()
        self.splits: dict[str, OccluderCrops] = {}
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        """Read the manifest and build the train (random) and val (fixed) datasets."""
        hp = self.hparams
        manifest = read_manifest(hp.data_dir)
        for split in ("train", "val"):
            self.splits[split] = OccluderCrops(
                manifest.select(split=split, exclude_sets=OCCLUDED_SETS), hp.size, hp.clean_share,
                jitter=True, base_seed=None if split == "train" else hp.seed,
                weights=hp.weights if split == "train" else None, degrade=hp.degrade if split == "train" else 0.0,
                restyle=hp.restyle if split == "train" else 0.0, straps=hp.straps if split == "train" else 0.0,
                skin_toned=hp.skin_toned,
            )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.splits[split], batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers, drop_last=shuffle,
                          persistent_workers=self.hparams.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches with fresh random occluders."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Batches with occluders fixed per sample."""
        return self._loader("val", shuffle=False)
