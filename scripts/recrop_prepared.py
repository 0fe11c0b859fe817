"""Re-cut the aligned crops of a prepared folder in place, with the current border mode of ``align_face``.

The alignment depends only on the YuNet keypoints, so the faces are found again without FaceMesh (several times
faster than a new ``unmask prepare``) and each crop is re-warped with the same matrix: the stored landmarks stay
valid. A row is rewritten only when the new crop equals the old one wherever the photo covers it (the same face
under the same matrix); others are counted as mismatched and left as they were.

    python scripts/recrop_prepared.py prepared/all256
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from unmask.data.manifest import read_manifest
from unmask.errors import UnmaskError
from unmask.face import align_face, detect_faces
from unmask.io import load_image, save_image

MAX_MEAN_DIFFERENCE = 2.0  # grey levels, inside the photo: the re-cut crop must be the stored one there


def recrop(data_dir: Path) -> dict[str, int]:
    """Rewrite every crop of ``data_dir``; returns counts of rewritten, mismatched and unreadable rows."""
    manifest = read_manifest(data_dir)
    by_source: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(manifest.rows):
        by_source[row["source_file"]].append(index)
    counts = {"rewritten": 0, "mismatched": 0, "unreadable": 0}
    for source, indices in tqdm(by_source.items(), desc="recrop", unit="photo"):
        try:
            photo = load_image(source)
        except UnmaskError:
            counts["unreadable"] += len(indices)
            continue
        faces = detect_faces(photo, max_faces=8, mesh=False)
        for index in indices:
            face_index = int(manifest.rows[index]["face_index"])
            crop_path = manifest.image_path(index)
            old = load_image(crop_path)
            if face_index >= len(faces):
                counts["mismatched"] += 1
                continue
            aligned = align_face(photo, faces[face_index], size=old.shape[0])
            inside = cv2.warpAffine(np.ones(photo.shape[:2], np.float32), aligned.matrix, old.shape[1::-1]) > 0.999
            difference = np.abs(old.astype(np.float32) - aligned.image)[inside].mean() if inside.any() else np.inf
            if difference > MAX_MEAN_DIFFERENCE:
                counts["mismatched"] += 1
                continue
            save_image(crop_path, aligned.image)
            counts["rewritten"] += 1
    return counts


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder written by `unmask prepare`")
    print(recrop(parser.parse_args().data_dir))


if __name__ == "__main__":
    main()
