"""Datasets over the prepared manifest with occlusions made on the fly, and the Lightning DataModule."""

from __future__ import annotations

import hashlib
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from unmask.data.augment import AlignmentJitter, degrade, grow_hole, jitter_alignment
from unmask.data.crop_cache import CropCache, decode_crop
from unmask.data.manifest import Manifest, face_from_landmarks, read_manifest
from unmask.occlusion import FACE_KINDS, OcclusionMixture

DEFAULT_WEIGHTS = {
    "surgical": 3.0, "n95": 1.0, "kn95": 1.0, "cloth": 1.5, "gas": 0.5, "bar": 2.0,
    "strokes": 1.0, "holes": 1.0, "thick": 0.5, "medium": 0.5, "thin": 0.5,
}
OCCLUDED_SETS = ["masked", "paired_prajnasb/with_mask"]  # photos that already wear a real mask: not targets


def sample_seed(base_seed: int, index: int) -> int:
    """A stable per-sample seed, so validation/test sample ``index`` always gets the same occlusion."""
    digest = hashlib.sha1(f"{base_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class OccludedFaces(Dataset):
    """Aligned face crops from a manifest, each paired with a synthetic occlusion.

    Item: ``(image (3,S,S) float [0,1], mask (1,S,S) float 1 = hole, kind str)``, where ``image`` is the clean
    crop (the target); the model input is ``image * (1 - mask)``. With ``base_seed=None`` every call draws a new
    occlusion (training); otherwise the occlusion is fixed per index (validation, test). With ``cache_crops`` the
    crops are decoded once into a memory-mapped array (``unmask.data.crop_cache``) instead of on every read. With
    ``flip`` half the items are mirrored left-right, the occlusion with them (it is drawn on the unmirrored face, so
    placement from the landmarks is unchanged). With ``jitter`` every crop is first moved by a random alignment
    error of that spread, its landmarks with it (:func:`unmask.data.augment.jitter_alignment`), and with
    ``degrade`` > 0 that fraction of the crops is made low-resolution (:func:`unmask.data.augment.degrade`); both
    change the target as well as the input. With ``grow`` > 0 that fraction of the face-mask and eye-bar holes is
    grown past the occluder's edge, as the detector grows what it finds (:func:`unmask.data.augment.grow_hole`).
    """

    def __init__(self, manifest: Manifest, size: int, weights: dict[str, float] | None = None,
                 base_seed: int | None = None, hole_folder: str | Path | None = None,
                 cache_crops: bool = False, flip: bool = False, jitter: AlignmentJitter | None = None,
                 degrade: float = 0.0, grow: float = 0.0) -> None:
        self.manifest = manifest
        self.size = size
        self.mixture = OcclusionMixture(weights or DEFAULT_WEIGHTS, hole_folder=hole_folder)
        self.base_seed = base_seed
        self.flip = flip
        self.jitter = jitter
        self.degrade = degrade
        self.grow = grow
        self.cache = CropCache(manifest, size) if cache_crops else None

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        if self.cache is not None:
            image, scale = self.cache[index]
        else:
            image, scale = decode_crop(self.manifest.image_path(index), self.size)
        landmarks = self.manifest.landmarks[index] * scale
        if self.base_seed is None:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        else:
            rng = np.random.default_rng(sample_seed(self.base_seed, index))
        if self.jitter is not None:
            image, landmarks = jitter_alignment(image, landmarks, self.jitter, rng)
        if self.degrade and rng.random() < self.degrade:
            image = degrade(image, rng)
        _, mask, kind = self.mixture(image, face_from_landmarks(landmarks), rng)
        if self.grow and kind in FACE_KINDS and rng.random() < self.grow:
            mask = grow_hole(mask, rng)
        if self.flip and rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        image_tensor = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))
        mask_tensor = torch.from_numpy(mask.astype(np.float32))[None]
        return image_tensor, mask_tensor, kind


class FaceDataModule(L.LightningDataModule):
    """Lightning DataModule over a folder written by ``unmask prepare``.

    Train/val/test come from the manifest's ``split`` column; photos already wearing a real mask are left out.
    ``cache_crops`` (default on) decodes the train and validation crops once into ``<data_dir>/cache`` (about 49 KB
    a crop at 128², 197 KB at 256²) and reads them memory-mapped from then on; training never reads the test split,
    so its crops are decoded from their files when asked for. ``flip`` (default on) mirrors half the training
    items left-right: round 1 of the PConv U-Net ran without it and its validation PSNR stopped rising after about
    five passes over the 8,355 training faces. ``jitter`` (a dict of :class:`AlignmentJitter`'s fields, ``{}`` for
    its defaults), ``degrade`` and ``grow`` apply to the training items only (see :class:`OccludedFaces`).
    """

    def __init__(self, data_dir: str, size: int = 128, batch_size: int = 16, num_workers: int = 2,
                 weights: dict[str, float] | None = None, exclude_sets: list[str] | None = None,
                 hole_folder: str | None = None, seed: int = 0, cache_crops: bool = True,
                 flip: bool = True, jitter: dict[str, float] | None = None, degrade: float = 0.0,
                 grow: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.splits: dict[str, OccludedFaces] = {}

    def setup(self, stage: str | None = None) -> None:
        """Read the manifest and build one dataset per split."""
        hp = self.hparams
        manifest = read_manifest(hp.data_dir)
        exclude = OCCLUDED_SETS if hp.exclude_sets is None else hp.exclude_sets
        augment = {"jitter": None if hp.jitter is None else AlignmentJitter(**hp.jitter), "degrade": hp.degrade,
                   "grow": hp.grow}
        for split in ("train", "val", "test"):
            self.splits[split] = OccludedFaces(
                manifest.select(split=split, exclude_sets=exclude), hp.size, hp.weights,
                base_seed=None if split == "train" else hp.seed, hole_folder=hp.hole_folder,
                cache_crops=hp.cache_crops and split != "test", flip=hp.flip and split == "train",
                **(augment if split == "train" else {}),
            )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.splits[split], batch_size=self.hparams.batch_size, shuffle=shuffle,
            num_workers=self.hparams.num_workers, drop_last=shuffle,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches with fresh random occlusions."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches with occlusions fixed per sample."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches with occlusions fixed per sample."""
        return self._loader("test", shuffle=False)
