"""Occlusion detection quality: IoU on synthetic masks and bars, real pairs, false positives, real masked photos.

    python benchmarks/detection.py --data prepared/all256 [--limit 200] [--shared ../shared/data]
        [--method auto|learned|kmeans] [--margin M]

Synthetic kinds are drawn on test-split crops (faces the detector never tuned on) and detected from scratch
(faces re-detected on the occluded crop). Prints one table; every number is a mean over the images named.
The found masks are measured as the detector outlines them (``--margin 0``, the default here): the growth
``find_occlusions`` adds by default for real photos is measured by benchmarks/detection_real.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from tqdm import tqdm

from unmask.data.manifest import face_from_landmarks, read_manifest
from unmask.face.occluder_net import segmenter_shipped
from unmask.face.segment import find_occlusions
from unmask.io import list_images, load_image
from unmask.occlusion import occlude

KINDS = ("surgical", "n95", "kn95", "cloth", "gas", "bar")


def iou(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two binary masks (1.0 when both are empty)."""
    first, second = first > 0, second > 0
    union = (first | second).sum()
    return 1.0 if union == 0 else float((first & second).sum() / union)


def pair_truth(masked: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Where a pasted-mask photo differs from its clean twin: thresholded, closed and hole-filled."""
    differs = (np.abs(masked.astype(int) - clean.astype(int)).max(2) > 20).astype(np.uint8)
    differs = cv2.morphologyEx(differs, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    differs = cv2.morphologyEx(differs, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    return ndimage.binary_fill_holes(differs)


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder written by `unmask prepare`")
    parser.add_argument("--shared", default="../shared/data", help="the shared data folder")
    parser.add_argument("--limit", type=int, default=200, help="test crops per synthetic kind")
    parser.add_argument("--method", default="auto", choices=["auto", "learned", "kmeans"],
                        help="detector (auto: learned when its weights are installed)")
    parser.add_argument("--margin", type=float, default=0.0,
                        help="grow the found mask by this many eye distances (find_occlusions' margin)")
    args = parser.parse_args()
    method = args.method if args.method != "auto" else ("learned" if segmenter_shipped() else "kmeans")
    manifest = read_manifest(args.data).select(split="test", exclude_sets=["masked", "paired_prajnasb/with_mask"])
    picks = np.random.default_rng(0).permutation(len(manifest))[: args.limit]
    results: dict[str, list[float]] = {kind: [] for kind in KINDS}
    false_positive: list[float] = []
    for n, index in enumerate(tqdm(picks, desc="synthetic")):
        crop = load_image(manifest.image_path(int(index)))
        face = face_from_landmarks(manifest.landmarks[int(index)])
        clean_mask, clean_faces = find_occlusions(crop, method=method, margin=args.margin)
        if clean_faces:
            x0, y0, x1, y1 = clean_faces[0].box
            false_positive.append(clean_mask.sum() / max(1.0, (x1 - x0) * (y1 - y0)))
        for kind in KINDS:
            occluded, truth = occlude(crop, kind, np.random.default_rng([n, KINDS.index(kind)]), face=face)
            found, _ = find_occlusions(occluded, method=method, margin=args.margin)
            results[kind].append(iou(found, truth))
    shared = Path(args.shared)
    pairs = []
    for path in tqdm(list_images([shared / "paired_prajnasb" / "with_mask"]), desc="real pairs"):
        masked = load_image(path)
        truth = pair_truth(masked, load_image(shared / "paired_prajnasb" / "without_mask" / path.name))
        pairs.append(iou(find_occlusions(masked, method=method, margin=args.margin)[0], truth))
    real = list_images([shared / "masked"])
    found_share = []
    for path in tqdm(real, desc="real masked"):
        mask, faces = find_occlusions(load_image(path), method=method, margin=args.margin)
        found_share.append(bool(faces) and mask.any())
    print(f"\ndetector: {method}\n{'measurement':44s} {'value':>8s}  n")
    for kind in KINDS:
        print(f"{'IoU synthetic ' + kind:44s} {np.mean(results[kind]):8.3f}  {len(results[kind])}")
    print(f"{'IoU real pasted masks (paired_prajnasb)':44s} {np.mean(pairs):8.3f}  {len(pairs)}")
    print(f"{'false-positive area / face box (clean)':44s} {np.mean(false_positive):8.2%}  {len(false_positive)}")
    print(f"{'clean faces with any false positive':44s} {np.mean(np.array(false_positive) > 0):8.2%}")
    print(f"{'real masked photos: face + mask found':44s} {np.mean(found_share):8.2%}  {len(found_share)}")


if __name__ == "__main__":
    main()
