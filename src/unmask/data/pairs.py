"""Identity pairs for reference-guided training: a masked photo of a person plus a different photo of them.

The target is an aligned crop with a synthetic face mask made on the fly; the reference is another crop of the
same identity (same source set and ``identity`` column, a different source photo) warped onto the target with
the thin-plate spline of :mod:`unmask.face.reference`. The manifest's split is identity-disjoint, so test people
never appear in training.
"""

from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from unmask.data.crop_cache import decode_crop
from unmask.data.datamodule import FaceDataModule, sample_seed
from unmask.data.manifest import Manifest, face_from_landmarks, read_manifest
from unmask.errors import UnmaskError
from unmask.face import detect_faces
from unmask.face.reference import warp_reference
from unmask.occlusion import OcclusionMixture

FACE_MASK_WEIGHTS = {"surgical": 3.0, "n95": 1.0, "kn95": 1.0, "cloth": 1.5, "gas": 0.5}
PAIR_SETS = ["faces", "faces_hq"]  # the sets whose manifest rows carry an identity
DETECT_SIZE = 256  # masked crops are detected at this size, as the prepared crops were
LANDMARK_MODES = ("detect", "jitter")


def identity_pairs(manifest: Manifest) -> list[tuple[int, list[int]]]:
    """For every row that has a usable reference: ``(row, [rows of the same person from other source photos])``."""
    people: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, row in enumerate(manifest.rows):
        if row["identity"]:
            people[(row["source_set"], row["identity"])].append(index)
    pairs = []
    for rows in people.values():
        for index in rows:
            source = manifest.rows[index]["source_file"]
            others = [other for other in rows if manifest.rows[other]["source_file"] != source]
            if others:
                pairs.append((index, others))
    return pairs


def load_crop(manifest: Manifest, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row ``index``'s crop as RGB uint8 (size, size, 3) and its (68, 2) landmarks scaled to ``size``."""
    image, scale = decode_crop(manifest.image_path(index), size)
    return image, manifest.landmarks[index].astype(np.float64) * scale


def target_landmarks(masked: np.ndarray, stored: np.ndarray, mode: str) -> tuple[np.ndarray, bool]:
    """Landmarks of a masked crop (S, S, 3) and whether they were detected.

    ``detect``: found by :func:`detect_faces` on the masked crop, as the pipeline finds them on a masked photo (the
    points under the mask are FaceMesh's guesses); the stored ones when no face is found. Any other mode (the
    evaluation's ``stored``, the dataset's ``jitter``): the stored landmarks of the clean photo.
    """
    if mode == "detect":
        size = masked.shape[0]
        faces = detect_faces(cv2.resize(masked, (DETECT_SIZE, DETECT_SIZE), interpolation=cv2.INTER_LINEAR))
        if faces:
            return faces[0].landmarks * (size / DETECT_SIZE), True
    return stored, False


class ReferencePairs(Dataset):
    """Masked targets with a warped reference of the same person.

    Item: ``(image (3,S,S), mask (1,S,S) 1 = hole, reference (3,S,S), validity (1,S,S))``, floats in [0, 1];
    ``image`` is the clean target, ``reference`` the other photo warped onto it and colour-matched on the visible
    skin. The warp uses the target's landmarks as the pipeline would see them: with ``landmarks="detect"`` detected
    on the masked crop (see :func:`target_landmarks`); with ``"jitter"``, or when no face is found, the stored ones
    plus Gaussian noise of ``landmark_jitter`` x S px. With ``base_seed=None`` every call draws a new reference,
    mask and jitter (training); otherwise they are fixed per index (validation, test).
    """

    def __init__(self, manifest: Manifest, size: int, weights: dict[str, float] | None = None,
                 base_seed: int | None = None, landmark_jitter: float = 0.01, landmarks: str = "detect") -> None:
        if landmarks not in LANDMARK_MODES:
            raise UnmaskError(f"landmarks must be one of {', '.join(LANDMARK_MODES)}, got {landmarks!r}")
        self.manifest = manifest
        self.pairs = identity_pairs(manifest)
        self.size = size
        self.mixture = OcclusionMixture(weights or FACE_MASK_WEIGHTS)
        self.base_seed = base_seed
        self.landmark_jitter = landmark_jitter
        self.landmarks = landmarks

    def __len__(self) -> int:
        return len(self.pairs)

    def _rng(self, index: int) -> np.random.Generator:
        if self.base_seed is None:
            return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        return np.random.default_rng(sample_seed(self.base_seed, index))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = self._rng(index)
        target_row, references = self.pairs[index]
        image, landmarks = load_crop(self.manifest, target_row, self.size)
        reference, reference_landmarks = load_crop(self.manifest, references[int(rng.integers(len(references)))],
                                                   self.size)
        masked, mask, _ = self.mixture(image, face_from_landmarks(landmarks), rng)
        seen, found = target_landmarks(masked, landmarks, self.landmarks)
        if not found:
            seen = landmarks + rng.normal(0.0, self.landmark_jitter * self.size, landmarks.shape)
        warped = warp_reference(reference, reference_landmarks, image * (1 - mask[..., None]), seen, mask)
        return (
            torch.from_numpy(image).permute(2, 0, 1).float().div(255.0),
            torch.from_numpy(mask.astype(np.float32))[None],
            torch.from_numpy(warped.image).permute(2, 0, 1).float().div(255.0),
            torch.from_numpy(warped.validity)[None],
        )


class PairDataModule(FaceDataModule):
    """Lightning DataModule of :class:`ReferencePairs` over a folder written by ``unmask prepare`` (the loaders are
    :class:`FaceDataModule`'s)."""

    def __init__(self, data_dir: str, size: int = 128, batch_size: int = 8, num_workers: int = 2,
                 weights: dict[str, float] | None = None, sets: list[str] | None = None,
                 landmark_jitter: float = 0.01, landmarks: str = "detect", seed: int = 0) -> None:
        super(FaceDataModule, self).__init__()  # skips FaceDataModule.__init__: its arguments do not apply
        self.save_hyperparameters()
        self.splits: dict[str, ReferencePairs] = {}

    def setup(self, stage: str | None = None) -> None:
        """Read the manifest and build one pair dataset per split."""
        hp = self.hparams
        manifest = read_manifest(hp.data_dir)
        for split in ("train", "val", "test"):
            self.splits[split] = ReferencePairs(
                manifest.select(split=split, sets=hp.sets or PAIR_SETS), hp.size, hp.weights,
                base_seed=None if split == "train" else hp.seed, landmark_jitter=hp.landmark_jitter,
                landmarks=hp.landmarks,
            )
        if not len(self.splits["train"]):
            raise UnmaskError(f"{hp.data_dir}: no identity with two source photos in the train split of "
                              f"{', '.join(hp.sets or PAIR_SETS)}")
