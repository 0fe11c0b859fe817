"""Build src/unmask/assets/mean_face.png: the average of landmark-aligned training faces (the ``mean_face`` fill).

Usage: python scripts/build_mean_face.py [PREPARED] [--limit N]
Each aligned training crop of a prepared folder (``unmask prepare``; train split only, so test faces stay unseen)
is warped piecewise-affinely from its own 68 landmarks onto their mean, so that eyes, nose, lips and jaw of every
face land on the same pixels, and the warped crops are averaged. An average of thousands of faces is nobody's face,
but it keeps sharp, well-placed lips, nostrils and shading, which a per-pixel average of unaligned faces blurs away.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import Delaunay
from tqdm import tqdm

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "unmask" / "assets" / "mean_face.png"


def _frame(size: int) -> np.ndarray:
    """Eight points on the crop's border (corners and edge midpoints), so the warp covers the whole crop."""
    last, half = size - 1, (size - 1) / 2
    return np.array([[0, 0], [half, 0], [last, 0], [last, half], [last, last], [half, last], [0, last], [0, half]],
                    np.float32)


def warp_piecewise(image: np.ndarray, source: np.ndarray, target: np.ndarray,
                   triangles: np.ndarray) -> np.ndarray:
    """``image`` (float32) warped so that each triangle of ``source`` points lands on the one of ``target``."""
    out = np.zeros_like(image)
    for triangle in triangles:
        src, dst = source[triangle].astype(np.float32), target[triangle].astype(np.float32)
        x, y, width, height = cv2.boundingRect(dst)
        if width == 0 or height == 0:
            continue
        matrix = cv2.getAffineTransform(src, dst - np.float32([x, y]))
        patch = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        inside = np.zeros((height, width), np.uint8)
        cv2.fillConvexPoly(inside, np.int32(np.round(dst - [x, y])), 1)
        region = out[y:y + height, x:x + width]
        keep = inside[:region.shape[0], :region.shape[1]] > 0
        region[keep] = patch[:region.shape[0], :region.shape[1]][keep]
    return out


def main() -> None:
    """Average up to --limit landmark-aligned training crops and write the 8-bit RGB PNG; print its sha256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", nargs="?", default="prepared/hq256", type=Path)
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    rows = list(csv.DictReader(open(args.prepared / "manifest.csv", newline="")))
    landmarks = np.load(args.prepared / "landmarks.npy")
    train = [index for index, row in enumerate(rows) if row["split"] == "train"][: args.limit]
    first = cv2.imread(str(args.prepared / rows[train[0]]["path"]))
    size = first.shape[0]
    frame = _frame(size)
    target = np.concatenate([landmarks[train].mean(0), frame])
    triangles = Delaunay(target).simplices
    total, count = np.zeros((size, size, 3), np.float64), 0
    for index in tqdm(train, desc="faces"):
        crop = cv2.imread(str(args.prepared / rows[index]["path"]))
        if crop is None or crop.shape[:2] != (size, size):
            continue
        total += warp_piecewise(crop.astype(np.float32), np.concatenate([landmarks[index], frame]), target,
                                triangles)
        count += 1
    mean = np.clip(total / count + 0.5, 0, 255).astype(np.uint8)
    cv2.imwrite(str(args.output), mean)
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"{args.output}: mean of {count} training faces at {size}², sha256 {digest}")


if __name__ == "__main__":
    main()
