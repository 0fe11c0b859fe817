"""Measure the reference checks of ``Unmasker`` on validation pairs, to set their thresholds.

    python scripts/calibrate_reference.py --data prepared/hq256 --split val --limit 150 \
        --facenet ../shared/weights/facenet_tf/facenet_graph_to_torch.py

For each identity pair of the split (a masked photo, another photo of the same person) and for the same masked
photo with a photo of another person of the split as its reference, it prints the percentiles of what the
pipeline's checks measure: the FaceNet similarity between the aligned reference and the masked face filled without
it (``pipeline.SAME_PERSON``), the yaw difference of the two faces (``reference.MAX_YAW_DIFFERENCE``), the share of
the reference's lower face found occluded (``reference.MAX_COVERED``) and the ring similarity of the kept warp
(``reference_blend.MIN_AGREEMENT``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

from unmask.cover import cut
from unmask.data.datamodule import sample_seed
from unmask.data.manifest import face_from_landmarks, read_manifest
from unmask.data.pairs import PAIR_SETS, identity_pairs, load_crop
from unmask.errors import UnmaskError
from unmask.face.align import warp_points
from unmask.face.reference import align_reference, covered_share, crop_landmarks, yaw_proxy
from unmask.face.reference_blend import best_warp
from unmask.io import image_to_tensor
from unmask.nets.identity import FaceNetIdentity
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker, reference_size

PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def measure(unmasker: Unmasker, facenet: FaceNetIdentity, masked: np.ndarray, hole: np.ndarray,
            reference: np.ndarray) -> dict[str, float]:
    """What the pipeline's reference checks measure for one masked photo and one reference photo."""
    job = unmasker.prepare(masked, hole)
    if not job.faces:
        raise UnmaskError("no face found in the masked photo")
    face = job.faces[0]
    size = reference_size(face, unmasker.size)
    target = cut(job.photo, job.hole, face, size)
    source = align_reference(reference, size, max_covered=1.0)
    landmarks = warp_points(face.landmarks - np.array(target.box[:2], np.float64), target.aligned.matrix)
    fill = unmasker.fill_at_model_size(target.aligned.image, target.hole)
    found = crop_landmarks(fill)
    _, agreement, _ = best_warp(source, target.aligned.image, landmarks if found is None else found, target.hole)
    similarity = float(facenet.similarity(image_to_tensor(source.image), image_to_tensor(fill))[0])
    return {"facenet": similarity, "yaw": abs(yaw_proxy(source.landmarks) - yaw_proxy(landmarks)),
            "covered": covered_share(source.landmarks, source.occlusion), "agreement": agreement}


def main() -> None:
    """Print the percentiles of each measure for same-person and other-person references."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--facenet", required=True, help="FaceNet graph runner script")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    manifest = read_manifest(args.data).select(split=args.split, sets=PAIR_SETS)
    pairs = identity_pairs(manifest)[:args.limit]
    unmasker, facenet = Unmasker(), FaceNetIdentity(args.facenet)
    rows: dict[str, list[dict[str, float]]] = {"same person": [], "other person": []}
    for index, (row, others) in enumerate(tqdm(pairs)):
        rng = np.random.default_rng(sample_seed(args.seed, index))
        image, landmarks = load_crop(manifest, row, 256)
        masked, hole = occlude(image, "surgical", rng, face=face_from_landmarks(landmarks))
        stranger = pairs[(index + len(pairs) // 2) % len(pairs)][0]
        if manifest.rows[stranger]["identity"] == manifest.rows[row]["identity"]:
            continue
        references = {"same person": load_crop(manifest, others[0], 256)[0],
                      "other person": load_crop(manifest, stranger, 256)[0]}
        for label, reference in references.items():
            try:
                rows[label].append(measure(unmasker, facenet, masked, hole, reference))
            except UnmaskError as error:  # a pair the pipeline refuses is reported, not measured
                print(f"pair {index} ({label}): {error}")
    for label, measured in rows.items():
        print(f"\n{label}: {len(measured)} pairs; percentiles {', '.join(map(str, PERCENTILES))}")
        for name in ("facenet", "yaw", "covered", "agreement"):
            values = np.percentile([m[name] for m in measured], PERCENTILES)
            print(f"  {name:10s} " + " ".join(f"{value:6.3f}" for value in values))


if __name__ == "__main__":
    main()
