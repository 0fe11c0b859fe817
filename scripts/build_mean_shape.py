"""Build src/unmask/assets/mean_landmarks68.npy: the mean 68-point iBUG shape in the TEMPLATE_5 unit frame.

Usage: python scripts/build_mean_shape.py [FOLDER] [--limit N]
Runs detect_faces (YuNet + FaceMesh) on real photos, keeps faces whose mesh fitted, maps their landmarks into
the canonical aligned frame (template_matrix(keypoints, 1)) and averages them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from unmask.face.align import template_matrix, warp_points
from unmask.face.detect import detect_faces
from unmask.io import list_images, load_image

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "unmask" / "assets" / "mean_landmarks68.npy"


def main() -> None:
    """Average the aligned landmarks of up to --limit faces and write the (68, 2) float32 array."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", nargs="?", default=Path(__file__).resolve().parents[2] / "shared/data/faces_hq"
    )
    parser.add_argument("--limit", type=int, default=500)
    args = parser.parse_args()
    shapes = []
    for path in list_images([args.folder])[: args.limit]:
        faces = detect_faces(load_image(path), max_faces=1)
        if faces and faces[0].mesh is not None:
            shapes.append(warp_points(faces[0].landmarks, template_matrix(faces[0].keypoints, 1)))
    if not shapes:
        raise SystemExit(f"no faces with a fitted mesh in {args.folder}")
    stack = np.stack(shapes)
    mean = stack.mean(0).astype(np.float32)
    np.save(OUTPUT, mean)
    print(f"{len(shapes)} faces -> {OUTPUT}")
    print(
        f"chin y {mean[8, 1]:.3f} (95th pct {np.percentile(stack[:, 8, 1], 95):.3f}), "
        f"jaw x {mean[0, 0]:.3f}..{mean[16, 0]:.3f}, brow y {mean[17:27, 1].min():.3f}"
    )


if __name__ == "__main__":
    main()
