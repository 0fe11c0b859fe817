"""Identity pairs for reference-guided training: a masked photo of a person plus a different photo of them.

The target is an aligned crop with a synthetic face mask made on the fly; the reference is another crop of the
same identity (same source set and ``identity`` column, a different source photo) warped onto the target with
the thin-plate spline of :mod:`unmask.face.reference`. The manifest's split is identity-disjoint, so test people
never appear in training.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from unmask.data.crop_cache import decode_crop
from unmask.data.datamodule import FaceDataModule, sample_seed
from unmask.data.manifest import Manifest, face_from_landmarks, read_manifest
from unmask.errors import UnmaskError
from unmask.face.reference import crop_landmarks, warp_reference
from unmask.io import image_to_tensor, mask_to_tensor, tensor_to_image
from unmask.models.pretrained import load_pretrained, starting_weights
from unmask.models.registry import create_model
from unmask.occlusion import OcclusionMixture

FACE_MASK_WEIGHTS = {"surgical": 3.0, "n95": 1.0, "kn95": 1.0, "cloth": 1.5, "gas": 0.5}
PAIR_SETS = ["faces", "faces_hq"]  # the sets whose manifest rows carry an identity
LANDMARK_MODES = ("fill", "detect", "jitter")


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


def target_landmarks(masked: np.ndarray, stored: np.ndarray, mode: str,
                     fill: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Landmarks of a masked crop (S, S, 3) and whether they were detected.

    ``fill``: found on ``fill``, the masked crop filled without the reference, as the pipeline does (see
    :func:`unmask.face.reference.crop_landmarks`); ``detect``: found on the masked crop itself (the points under the
    mask are FaceMesh's guesses). The stored ones when no face is found, and for any other mode (the evaluation's
    ``stored``, the dataset's ``jitter``): the stored landmarks of the clean photo.
    """
    if mode in ("fill", "detect"):
        if mode == "fill" and fill is None:
            raise UnmaskError("target_landmarks(mode='fill') needs the fill of the masked crop")
        found = crop_landmarks(fill if mode == "fill" else masked)
        if found is not None:
            return found, True
    return stored, False


def load_filler(spec: dict) -> nn.Module:
    """The no-reference model of ``spec``, frozen, in eval mode: ``{shipped: NAME}`` for a model shipped with unmask
    (its recorded kwargs and verified weights), or ``name``, ``kwargs`` and ``weights`` (a ``.safetensors`` file, for
    a learned model)."""
    if "shipped" in spec:
        return load_pretrained(spec["shipped"])
    model = create_model(spec["name"], **spec.get("kwargs", {}))
    if spec.get("weights"):
        model.load_state_dict(starting_weights(spec["weights"], "the fill model"))
    return model.requires_grad_(False).eval()


def fill_crop(model: nn.Module, masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``model``'s fill of a masked crop: (S, S, 3) uint8 RGB, (S, S) 1 = hole -> (S, S, 3) uint8 RGB."""
    with torch.inference_mode():
        return tensor_to_image(model(image_to_tensor(masked), mask_to_tensor(mask)))


class ReferencePairs(Dataset):
    """Masked targets with a warped reference of the same person.

    Item: ``(image (3,S,S), mask (1,S,S) 1 = hole, reference (3,S,S), validity (1,S,S))``, floats in [0, 1];
    ``image`` is the clean target, ``reference`` the other photo warped onto it and colour-matched on the visible
    skin. The warp uses the target's landmarks as the pipeline would see them: with ``landmarks="fill"`` found on
    the fill of ``fill_model`` (a :func:`load_filler` spec, the frozen prior of the reference-guided model), with
    ``"detect"`` on the masked crop (see :func:`target_landmarks`); with ``"jitter"``, or when no face is found, the
    stored ones plus Gaussian noise of ``landmark_jitter`` x S px. With ``base_seed=None`` every call draws a new
    reference, mask and jitter (training); otherwise they are fixed per index (validation, test).
    """

    def __init__(self, manifest: Manifest, size: int, weights: dict[str, float] | None = None,
                 base_seed: int | None = None, landmark_jitter: float = 0.01, landmarks: str = "detect",
                 fill_model: dict | None = None) -> None:
        if landmarks not in LANDMARK_MODES:
            raise UnmaskError(f"landmarks must be one of {', '.join(LANDMARK_MODES)}, got {landmarks!r}")
        if landmarks == "fill" and fill_model is None:
            raise UnmaskError("landmarks: fill needs a fill model (a reference-guided generator with a prior and "
                              "model.prior_from)")
        self.manifest = manifest
        self.pairs = identity_pairs(manifest)
        self.size = size
        self.mixture = OcclusionMixture(weights or FACE_MASK_WEIGHTS)
        self.base_seed = base_seed
        self.landmark_jitter = landmark_jitter
        self.landmarks = landmarks
        self.fill_model = fill_model
        self._filler: nn.Module | None = None  # built on first use, in the loader process

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
        fill = None
        if self.landmarks == "fill":
            if self._filler is None:
                self._filler = load_filler(self.fill_model)
            fill = fill_crop(self._filler, masked, mask)
        seen, found = target_landmarks(masked, landmarks, self.landmarks, fill)
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
                 landmark_jitter: float = 0.01, landmarks: str = "detect", fill_model: dict | None = None,
                 seed: int = 0) -> None:
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
                landmarks=hp.landmarks, fill_model=hp.fill_model,
            )
        if not len(self.splits["train"]):
            raise UnmaskError(f"{hp.data_dir}: no identity with two source photos in the train split of "
                              f"{', '.join(hp.sets or PAIR_SETS)}")
