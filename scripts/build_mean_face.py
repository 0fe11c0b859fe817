"""Build src/unmask/assets/mean_face.png and mean_face_basis.safetensors: the average of landmark-aligned training faces
and the principal components of those faces inside the face oval (the ``mean_face`` fill).

Usage: python scripts/build_mean_face.py [PREPARED] [--limit N] [--components K]
Each aligned training crop of a prepared folder (``unmask prepare``; train split only, so test faces stay unseen)
is warped piecewise-affinely from its own 68 landmarks onto their mean, so that eyes, nose, lips and jaw of every
face land on the same pixels, and the warped crops are averaged. An average of thousands of faces is nobody's face,
but it keeps sharp, well-placed lips, nostrils and shading, which a per-pixel average of unaligned faces blurs away.
The same warped crops, reduced to ``BASIS_SIZE``² and weighted by the face oval, give a PCA basis (a morphable
model of appearance): K components (fp16, unit length) with their variances and the variance they leave unexplained.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
from safetensors.numpy import save_file
from scipy.spatial import Delaunay
from tqdm import tqdm

from unmask.models.mean_face import BASIS_SIZE, face_oval

ASSETS = Path(__file__).resolve().parents[1] / "src" / "unmask" / "assets"
OUTPUT = ASSETS / "mean_face.png"
BASIS = ASSETS / "mean_face_basis.safetensors"


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


def principal_components(faces: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, float]:
    """PCA of ``faces`` (N, D): the ``count`` leading unit-length components (count, D), their variances (count,),
    and the mean variance per dimension of what they leave out (through the N × N Gram matrix, as N < D)."""
    centred = faces - faces.mean(0)
    values, vectors = np.linalg.eigh(centred @ centred.T / len(faces))
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    components = vectors[:, :count].T @ centred
    components /= np.linalg.norm(components, axis=1, keepdims=True)
    return components, values[:count], float(values[count:].sum() / faces.shape[1])


def main() -> None:
    """Average up to --limit landmark-aligned training crops, write the 8-bit RGB PNG and the PCA basis of the same
    crops; print both sha256 digests."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", nargs="?", default="prepared/hq256", type=Path)
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("--components", type=int, default=48)
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    parser.add_argument("--basis", type=Path, default=BASIS)
    args = parser.parse_args()
    rows = list(csv.DictReader(open(args.prepared / "manifest.csv", newline="")))
    landmarks = np.load(args.prepared / "landmarks.npy")
    train = [index for index, row in enumerate(rows) if row["split"] == "train"][: args.limit]
    first = cv2.imread(str(args.prepared / rows[train[0]]["path"]))
    size = first.shape[0]
    frame = _frame(size)
    target = np.concatenate([landmarks[train].mean(0), frame])
    triangles = Delaunay(target).simplices
    total, count, small = np.zeros((size, size, 3), np.float64), 0, []
    for index in tqdm(train, desc="faces"):
        crop = cv2.imread(str(args.prepared / rows[index]["path"]))
        if crop is None or crop.shape[:2] != (size, size):
            continue
        warped = warp_piecewise(crop.astype(np.float32), np.concatenate([landmarks[index], frame]), target,
                                triangles)
        total += warped
        count += 1
        reduced = cv2.resize(warped, (BASIS_SIZE, BASIS_SIZE), interpolation=cv2.INTER_AREA)[..., ::-1]  # RGB
        small.append((reduced * face_oval(BASIS_SIZE)[..., None]).ravel())
    mean = np.clip(total / count + 0.5, 0, 255).astype(np.uint8)
    cv2.imwrite(str(args.output), mean)
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"{args.output}: mean of {count} training faces at {size}², sha256 {digest}")
    components, variances, residual = principal_components(np.asarray(small, np.float64), args.components)
    save_file({"components": components.reshape(-1, BASIS_SIZE, BASIS_SIZE, 3).astype(np.float16),
               "variances": variances.astype(np.float32), "residual": np.float32([residual])}, str(args.basis))
    digest = hashlib.sha256(args.basis.read_bytes()).hexdigest()
    share = variances.sum() / (variances.sum() + residual * components.shape[1])
    print(f"{args.basis}: {len(variances)} components at {BASIS_SIZE}² ({share:.1%} of the variance), sha256 {digest}")


if __name__ == "__main__":
    main()
