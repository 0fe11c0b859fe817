"""Pick the learned detector's logit threshold on validation photos (never the test split).

    python benchmarks/segmenter_threshold.py --data prepared/all256 [--limit 150]

For each threshold prints: the share of real masked photos of the validation split where a mask is found, the
false-positive area on clean validation crops (share of the face box), and the IoU on synthetic surgical masks and
eye bars drawn on those crops. The shipped record's ``threshold`` is the value chosen from this table.
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from unmask.data.manifest import face_from_landmarks, read_manifest
from unmask.face import AlignedFace, align_face, detect_faces
from unmask.face.align import unwarp
from unmask.face.occluder_net import occluder_from_logits, segmenter_logits
from unmask.face.segment import WORK_SIZE
from unmask.io import load_image
from unmask.occlusion import occlude

THRESHOLDS = (1.0, 0.0, -1.0, -2.0, -3.0)


def photo_logits(photo: np.ndarray) -> list[tuple[np.ndarray, AlignedFace]]:
    """Segmenter logits (WORK_SIZE²) and the aligned face, for every face found in an RGB photo."""
    aligned_faces = [align_face(photo, face, size=WORK_SIZE) for face in detect_faces(photo)]
    return [(segmenter_logits(aligned.image), aligned) for aligned in aligned_faces]


def iou(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two binary masks."""
    union = ((first > 0) | (second > 0)).sum()
    return float(((first > 0) & (second > 0)).sum() / max(union, 1))


def main() -> None:
    """Print the threshold table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder written by `unmask prepare`")
    parser.add_argument("--limit", type=int, default=150, help="photos per measurement")
    args = parser.parse_args()
    manifest = read_manifest(args.data)
    masked = manifest.select(split="val", sets=["masked"])
    clean = manifest.select(split="val", exclude_sets=["masked", "paired_prajnasb/with_mask"])
    rng = np.random.default_rng(0)
    sources = sorted({row["source_file"] for row in masked.rows})
    sources = [sources[i] for i in rng.permutation(len(sources))[: args.limit]]
    stats: dict[float, dict[str, list[float]]] = {t: {"found": [], "fp": [], "surgical": [], "bar": []}
                                                  for t in THRESHOLDS}
    for source in tqdm(sources, desc="real masked (val)"):
        faces = photo_logits(load_image(source))
        for t in THRESHOLDS:
            stats[t]["found"].append(any(occluder_from_logits(logits, t).any() for logits, _ in faces))
    for index in tqdm(rng.permutation(len(clean))[: args.limit], desc="clean + synthetic (val)"):
        crop = load_image(clean.image_path(int(index)))
        face = face_from_landmarks(clean.landmarks[int(index)])
        clean_faces = photo_logits(crop)
        if clean_faces:
            logits, aligned = clean_faces[0]
            x0, y0, x1, y1 = detect_faces(crop)[0].box
            for t in THRESHOLDS:
                back, _ = unwarp(occluder_from_logits(logits, t).astype(np.float32), aligned)
                stats[t]["fp"].append(float((back > 0.5).sum() / max(1.0, (x1 - x0) * (y1 - y0))))
        for kind in ("surgical", "bar"):
            occluded, truth = occlude(crop, kind, np.random.default_rng(int(index)), face=face)
            results = photo_logits(occluded)
            for t in THRESHOLDS:
                union = np.zeros(crop.shape[:2], bool)
                for logits, aligned in results:
                    back, _ = unwarp(occluder_from_logits(logits, t).astype(np.float32), aligned)
                    union |= back > 0.5
                stats[t][kind].append(iou(union, truth))
    print(f"\n{'threshold':>9s} {'masked found':>13s} {'clean FP area':>14s} {'IoU surgical':>13s} {'IoU bar':>8s}")
    for t in THRESHOLDS:
        s = stats[t]
        print(f"{t:9.1f} {np.mean(s['found']):13.1%} {np.mean(s['fp']):14.2%} {np.mean(s['surgical']):13.3f}"
              f" {np.mean(s['bar']):8.3f}")


if __name__ == "__main__":
    main()
