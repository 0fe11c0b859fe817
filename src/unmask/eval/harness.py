"""Bucketed evaluation: the same synthetic holes for every model, per-image metrics, tables, grids and plots.

``evaluate`` occludes each face once per occlusion kind with a generator seeded by (seed, image index, kind),
runs every model on that same input, composites the prediction into the ground truth outside the hole, and
scores it. Aggregates are means per (model, kind) and per (model, kind, hole-ratio bucket, border contact).
"""

from __future__ import annotations

import csv
import json
import math
import time
import warnings
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from unmask.errors import UnmaskError
from unmask.eval import metrics
from unmask.eval.buckets import BUCKET_LABELS, hole_bucket, hole_ratio, touches_border
from unmask.face.types import Face
from unmask.io import image_to_tensor, list_images, load_image, mask_to_tensor, save_image, tensor_to_image
from unmask.occlusion import FACE_KINDS
from unmask.occlusion import occlude as default_occlude
from unmask.viz import image_grid

METRICS = ("l1", "l1_hole", "psnr", "psnr_hole", "ssim", "ssim_hole", "gmsd", "gmsd_hole", "vgg_perceptual")
METRIC_TITLES = {
    "l1": "L1 %",
    "l1_hole": "L1 hole %",
    "psnr": "PSNR",
    "psnr_hole": "PSNR hole",
    "ssim": "SSIM",
    "ssim_hole": "SSIM hole",
    "gmsd": "GMSD",
    "gmsd_hole": "GMSD hole",
    "vgg_perceptual": "VGG perc.",
    "fd_vgg16": "FD-VGG16",
    "seconds": "s/img",
}
FEATURE_NETWORK = (
    "VGG16 conv features (Keras/Caffe ImageNet weights): vgg_perceptual = LPIPS-style (uncalibrated) over "
    "relu1_2..relu5_3; fd_vgg16 = Fréchet distance of pool5 global-average features (512-d), "
    "not Inception FID"
)

Occluder = Callable[..., tuple[np.ndarray, np.ndarray]]
ModelSpec = str | tuple[str, nn.Module]


class EvalSample(NamedTuple):
    """One face to evaluate: RGB uint8 (H, W, 3), its Face (68 landmarks) or None, and a name."""

    image: np.ndarray
    face: Face | None
    name: str = ""


class EvalSet(Sequence[EvalSample]):
    """A lazily loaded list of EvalSamples: image paths plus landmarks (or a face detector, or nothing)."""

    def __init__(
        self,
        paths: Sequence[Path],
        landmarks: np.ndarray | None = None,
        detector: Callable[[np.ndarray], list[Face]] | None = None,
    ) -> None:
        self.paths, self.landmarks, self.detector = list(paths), landmarks, detector

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> EvalSample:  # type: ignore[override]
        from unmask.data.manifest import face_from_landmarks

        if not -len(self) <= index < len(self):
            raise IndexError(index)
        image = load_image(self.paths[index])
        face = None
        if self.landmarks is not None:
            face = face_from_landmarks(self.landmarks[index])
        elif self.detector is not None:
            faces = self.detector(image)
            face = faces[0] if faces else None
        return EvalSample(image, face, self.paths[index].name)


def load_eval_set(data_dir: str | Path, split: str = "test", limit: int | None = None) -> EvalSet:
    """The faces to evaluate: a prepared folder (manifest.csv + landmarks.npy, rows of ``split``) or images.

    For a plain folder of images the landmarks come from ``unmask.face.detect_faces`` (largest face); if that
    cannot be imported, samples carry no Face and face-mask kinds are skipped, with a warning.
    """
    data_dir = Path(data_dir)
    if (data_dir / "manifest.csv").is_file():
        from unmask.data.datamodule import OCCLUDED_SETS
        from unmask.data.manifest import read_manifest

        manifest = read_manifest(data_dir).select(split=split, exclude_sets=OCCLUDED_SETS)
        if len(manifest) == 0:
            raise UnmaskError(f"{data_dir}: manifest.csv has no rows with split {split!r}")
        count = len(manifest) if limit is None else min(limit, len(manifest))
        paths = [manifest.image_path(index) for index in range(count)]
        return EvalSet(paths, landmarks=manifest.landmarks[:count])
    paths = list_images([data_dir])[:limit]
    if not paths:
        raise UnmaskError(f"{data_dir}: no images found")
    try:
        from unmask.face import detect_faces
    except ImportError as error:
        warnings.warn(f"no face detector ({error}); face-mask occlusions will be skipped", stacklevel=2)
        return EvalSet(paths)
    return EvalSet(paths, detector=lambda image: detect_faces(image, max_faces=1))


def occlusion_rng(seed: int, index: int, kind: str) -> np.random.Generator:
    """The generator for image ``index`` and occlusion ``kind``, independent of models and of kind order."""
    return np.random.default_rng([seed, index, zlib.crc32(kind.encode())])


def resize_sample(image: np.ndarray, face: Face | None, size: int | None) -> tuple[np.ndarray, Face | None]:
    """Resize RGB uint8 (H, W, 3) to (size, size) and scale the Face's coordinates; ``size=None`` keeps it."""
    height, width = image.shape[:2]
    if size is None or (height, width) == (size, size):
        return image, face
    interpolation = cv2.INTER_AREA if size < min(height, width) else cv2.INTER_CUBIC
    resized = cv2.resize(image, (size, size), interpolation=interpolation)
    if face is None:
        return resized, None
    scale = np.array([size / width, size / height], np.float32)
    return resized, Face(
        box=face.box * np.tile(scale, 2),
        score=face.score,
        keypoints=face.keypoints * scale,
        landmarks=face.landmarks * scale,
        mesh=None if face.mesh is None else face.mesh * scale,
    )


@dataclass
class EvalResults:
    """Everything ``evaluate`` measured.

    rows: one dict per (image, kind, model) with METRICS, hole_ratio, bucket, border and seconds.
    summary: means per (model, kind), with count and fd_vgg16. by_bucket: means per (model, kind, bucket,
    border). skipped: per kind, the images without a Face that a face-mask kind needed.
    """

    settings: dict
    rows: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)
    by_bucket: list[dict] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    feature_network: str | None = None


def _build_models(models: Sequence[ModelSpec]) -> list[tuple[str, nn.Module]]:
    """Specs are loaded (:func:`unmask.models.load`) and labelled by their card (a run as ``<run>@<step>``);
    (label, module) pairs are used as given."""
    from unmask.models import load

    built = []
    for spec in models:
        if isinstance(spec, str):
            model = load(spec)
            spec = (model.card.label, model)
        label, model = spec
        built.append((label, model.eval()))
    labels = [label for label, _ in built]
    if len(set(labels)) != len(labels):
        raise UnmaskError(f"model names must be unique, got {', '.join(labels)}")
    return built


def _mean(values: Iterable[float | None]) -> float | None:
    """Mean of the finite values, None when there are none."""
    finite = [value for value in values if value is not None and math.isfinite(value)]
    return float(np.mean(finite)) if finite else None


def _aggregate(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """Group rows by ``keys`` (first-seen order) and average METRICS and seconds -> one dict per group."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[key] for key in keys)].append(row)
    return [
        {
            **dict(zip(keys, group, strict=True)),
            "count": len(members),
            **{name: _mean(row[name] for row in members) for name in (*METRICS, "seconds")},
        }
        for group, members in groups.items()
    ]


def score(outputs: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> list[dict[str, float | None]]:
    """Weight-free metrics of outputs (M, 3, H, W) vs one truth (1, 3, H, W), whole image and hole only.

    mask: (1, 1, H, W). One dict per output with keys l1, l1_hole, psnr, psnr_hole, ssim, ssim_hole, gmsd,
    gmsd_hole; None where undefined (empty hole).
    """
    truth, mask = truth.expand_as(outputs), mask.expand(len(outputs), -1, -1, -1)
    ssim_values, gms_values = metrics.ssim_map(outputs, truth), metrics.gms_map(outputs, truth)
    columns = {
        "l1": metrics.l1_percent(outputs, truth),
        "l1_hole": metrics.l1_percent(outputs, truth, mask),
        "psnr": metrics.psnr(outputs, truth),
        "psnr_hole": metrics.psnr(outputs, truth, mask),
        "ssim": metrics.map_mean(ssim_values),
        "ssim_hole": metrics.map_mean(ssim_values, mask),
        "gmsd": metrics.gmsd_from_map(gms_values),
        "gmsd_hole": metrics.gmsd_from_map(gms_values, mask),
    }
    return [
        {name: value if math.isfinite(value) else None for name, value in zip(columns, values, strict=True)}
        for values in zip(*(column.tolist() for column in columns.values()), strict=True)
    ]


def evaluate(
    models: Sequence[ModelSpec],
    images: Iterable[EvalSample | tuple[np.ndarray, Face | None]],
    occlusions: Sequence[str],
    size: int | None = 256,
    limit: int | None = None,
    seed: int = 0,
    vgg_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    grid_rows: int = 4,
    occlude: Occluder | None = None,
    settings: dict | None = None,
    progress: bool = True,
) -> EvalResults:
    """Score ``models`` on ``images`` x ``occlusions`` and, if ``out_dir`` is given, write the reports there.

    models: registry names, or (label, module) pairs whose ``module(image (1,3,S,S), mask (1,1,S,S))`` returns
    (1,3,S,S). images: RGB uint8 (H, W, 3) with a Face or None, resized to ``size`` x ``size``. The first
    ``limit`` images are used. ``occlude(image, kind, rng, face=face) -> (occluded uint8, mask uint8 1=hole)``
    defaults to ``unmask.occlusion.occlude``; models see the occluder inside the hole and the ground truth
    outside it. ``vgg_path`` enables vgg_perceptual and fd_vgg16 (else None).
    Files: results.json, results.csv, results.md, grid_<kind>.png, metrics_by_bucket.png.
    """
    occlude = occlude or default_occlude
    built = _build_models(models)
    vgg = metrics.VGGFeatures(vgg_path) if vgg_path else None
    results = EvalResults(
        settings={
            "models": [label for label, _ in built],
            "occlusions": list(occlusions),
            "size": size,
            "limit": limit,
            "seed": seed,
            "vgg_path": str(vgg_path) if vgg_path else None,
            **(settings or {}),
        },
        skipped={kind: 0 for kind in occlusions},
        feature_network=FEATURE_NETWORK if vgg is not None else None,
    )
    pool_features: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    grids: dict[str, list[list[np.ndarray]]] = defaultdict(list)
    total = len(images) if isinstance(images, Sequence) else None
    if total is not None and limit is not None:
        total = min(total, limit)
    for index, sample in enumerate(
        tqdm(islice(images, limit), total=total, desc="evaluate", disable=not progress)
    ):
        image, face = resize_sample(np.asarray(sample[0]), sample[1], size)
        name = sample[2] if len(sample) > 2 else str(index)
        truth = image_to_tensor(image)
        if vgg is not None:
            truth_maps, truth_pool = vgg(truth)
        for kind in occlusions:
            if kind in FACE_KINDS and face is None:
                results.skipped[kind] += 1
                continue
            occluded, hole = occlude(image, kind, occlusion_rng(seed, index, kind), face=face)
            mask = mask_to_tensor(hole)
            # outside the hole the input is the ground truth: anti-aliased occluder edges are not the models' job
            model_input = torch.where(mask > 0.5, image_to_tensor(occluded), truth)
            ratio = hole_ratio(hole)
            grid_row = [tensor_to_image(model_input)] if len(grids[kind]) < grid_rows else None
            if vgg is not None:
                pool_features[("ground truth", kind)].append(truth_pool[0].numpy())
            outputs, timings = [], []
            for _, model in built:
                start = time.perf_counter()
                with torch.inference_mode():
                    prediction = model(model_input, mask)
                timings.append(time.perf_counter() - start)
                outputs.append(torch.where(mask > 0.5, prediction.float().clamp(0, 1), truth))
            batch = torch.cat(outputs)
            perceptual: list[float | None] = [None] * len(built)
            if vgg is not None:
                output_maps, output_pool = vgg(batch)
                expanded = [feature.expand(len(built), -1, -1, -1) for feature in truth_maps]
                perceptual = metrics.vgg_perceptual(output_maps, expanded).tolist()
                for (label, _), pooled in zip(built, output_pool.numpy(), strict=True):
                    pool_features[(label, kind)].append(pooled)
            for (label, _), seconds, values, distance in zip(
                built, timings, score(batch, truth, mask), perceptual, strict=True
            ):
                results.rows.append(
                    {
                        "model": label,
                        "kind": kind,
                        "index": index,
                        "name": name,
                        "hole_ratio": ratio,
                        "bucket": hole_bucket(ratio),
                        "border": touches_border(hole),
                        "seconds": seconds,
                        **values,
                        "vgg_perceptual": distance,
                    }
                )
            if grid_row is not None:
                grids[kind].append([*grid_row, *(tensor_to_image(output) for output in outputs), image])
    for kind, count in results.skipped.items():
        if count:
            warnings.warn(f"{kind}: skipped {count} image(s) without face landmarks", stacklevel=2)

    results.summary = _aggregate(results.rows, ("model", "kind"))
    for entry in results.summary:
        features = pool_features.get((entry["model"], entry["kind"]), [])
        truths = pool_features.get(("ground truth", entry["kind"]), [])
        entry["fd_vgg16"] = (
            metrics.frechet_distance(np.stack(features), np.stack(truths)) if len(features) > 1 else None
        )
    results.by_bucket = _aggregate(results.rows, ("model", "kind", "bucket", "border"))
    if out_dir is not None:
        write_reports(results, Path(out_dir), grids)
    return results


def _format(value: float | None, digits: int = 4) -> str:
    """A table cell: n/a for missing values."""
    return "n/a" if value is None else f"{value:.{digits}g}"


def _markdown(results: EvalResults) -> str:
    """results.md: settings, one table per kind (rows models, columns metrics), L1 in the hole by bucket."""
    columns = (*METRICS, "fd_vgg16", "seconds")
    lines = [
        "# Evaluation",
        "",
        "Settings: " + ", ".join(f"`{k}={v}`" for k, v in results.settings.items()),
        "",
    ]
    lines.append(f"Feature network: {results.feature_network or 'n/a (no --vgg weights given)'}.")
    lines += [
        f"PSNR is capped at {metrics.PSNR_CAP_DB:g} dB. Lower is better for L1, GMSD, VGG perc., FD; "
        "higher for PSNR, SSIM. Outputs are composited into the ground truth outside the hole. "
        "FD-VGG16 on fewer than ~1,000 images is biased upward (512-d covariances); compare models only.",
        "",
    ]
    for kind in results.settings["occlusions"]:
        entries = [entry for entry in results.summary if entry["kind"] == kind]
        lines += [f"## {kind}", ""]
        if not entries:
            lines += [f"No images (skipped {results.skipped.get(kind, 0)} without landmarks).", ""]
            continue
        lines.append("| model | n | " + " | ".join(METRIC_TITLES[name] for name in columns) + " |")
        lines.append("|---" * (len(columns) + 2) + "|")
        for entry in entries:
            cells = [_format(entry[name]) for name in columns]
            lines.append(f"| {entry['model']} | {entry['count']} | " + " | ".join(cells) + " |")
        buckets = [
            label
            for label in BUCKET_LABELS
            if any(row["kind"] == kind and row["bucket"] == label for row in results.rows)
        ]
        lines += ["", "L1 in the hole (%) by hole-ratio bucket (border and not pooled):", ""]
        lines.append("| model | " + " | ".join(buckets) + " |")
        lines.append("|---" * (len(buckets) + 1) + "|")
        for entry in entries:
            cells = [
                _format(
                    _mean(
                        row["l1_hole"]
                        for row in results.rows
                        if row["model"] == entry["model"] and row["kind"] == kind and row["bucket"] == label
                    )
                )
                for label in buckets
            ]
            lines.append(f"| {entry['model']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _plot_buckets(results: EvalResults, path: Path) -> None:
    """One panel per hole metric: the mean by hole-ratio bucket (all kinds pooled), one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [
        name
        for name in ("l1_hole", "psnr_hole", "ssim_hole", "gmsd_hole", "vgg_perceptual")
        if any(row[name] is not None for row in results.rows)
    ]
    buckets = [label for label in BUCKET_LABELS if any(row["bucket"] == label for row in results.rows)]
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        for label in results.settings["models"]:
            means = [
                _mean(row[name] for row in results.rows if row["model"] == label and row["bucket"] == bucket)
                for bucket in buckets
            ]
            axis.plot(
                buckets, [np.nan if value is None else value for value in means], marker="o", label=label
            )
        axis.set_title(METRIC_TITLES[name])
        axis.set_xlabel("hole ratio")
        axis.tick_params(axis="x", labelrotation=45)
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_reports(results: EvalResults, out_dir: Path, grids: dict[str, list[list[np.ndarray]]]) -> None:
    """Write results.json, results.csv, results.md, grid_<kind>.png and metrics_by_bucket.png into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "settings": results.settings,
        "feature_network": results.feature_network,
        "psnr_cap_db": metrics.PSNR_CAP_DB,
        "skipped": results.skipped,
        "summary": results.summary,
        "by_bucket": results.by_bucket,
        "per_image": results.rows,
    }
    (out_dir / "results.json").write_text(json.dumps(document, indent=1, allow_nan=False, default=str))
    with open(out_dir / "results.csv", "w", newline="", encoding="utf-8") as handle:
        fields = ["model", "kind", "index", "name", "hole_ratio", "bucket", "border", *METRICS, "seconds"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(results.rows)
    (out_dir / "results.md").write_text(_markdown(results), encoding="utf-8")
    titles = ["input", *results.settings["models"], "ground truth"]
    for kind, rows in grids.items():
        save_image(out_dir / f"grid_{kind}.png", image_grid(rows, titles, cell=rows[0][0].shape[0], gap=2))
    if results.rows:
        _plot_buckets(results, out_dir / "metrics_by_bucket.png")
