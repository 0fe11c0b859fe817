"""How far the pipeline's alignment of a masked face lands from the alignment of the same face unmasked.

Held-out faces are enlarged to a ``--size``² photo and get a synthetic occluder (as in photo-mode evaluation); the
face is detected on the clean and on the masked photo, and the similarity between the two 256² aligned crops is
measured (the move that takes the clean crop onto the masked one):

    python benchmarks/alignment_error.py --data prepared/hq256 --limit 60

Prints per kind: the spread of the log scale, of the rotation and of the centre's shift (in 256² crop pixels),
the median |scale - 1|, and how far a point of the mouth moves (median and 90th percentile, crop pixels). These
set the spread of the training jitter (``unmask.data.augment.AlignmentJitter``).
"""

from __future__ import annotations

import argparse

import numpy as np

from unmask.eval.harness import load_eval_set, occlusion_rng, resize_sample
from unmask.face import detect_faces
from unmask.face.align import invert_matrix, template_matrix
from unmask.occlusion import occlude

CROP = 256
MOUTH = np.array([[100.0, 190.0], [156.0, 190.0], [128.0, 210.0], [128.0, 170.0]])  # mouth corners, lips, in the crop


def crop_move(clean: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """The (2, 3) similarity from the crop aligned on ``clean`` keypoints to the crop aligned on ``masked`` ones."""
    to_photo = np.vstack([invert_matrix(template_matrix(clean, CROP)), [0.0, 0.0, 1.0]])
    return (np.vstack([template_matrix(masked, CROP), [0.0, 0.0, 1.0]]) @ to_photo)[:2]


def main() -> None:
    """Measure and print one line per kind."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a folder written by `unmask prepare` (its test split)")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--size", type=int, default=512, help="photo side")
    parser.add_argument("--kinds", nargs="+", default=["surgical", "n95", "cloth"])
    args = parser.parse_args()
    samples = load_eval_set(args.data, "test", limit=args.limit)
    moves: dict[str, list[np.ndarray]] = {kind: [] for kind in args.kinds}
    for index, sample in enumerate(samples):
        photo, face = resize_sample(sample.image, sample.face, args.size)
        clean = detect_faces(photo, max_faces=1)  # once per photo, shared by every kind
        if not clean:
            continue
        for kind in args.kinds:
            masked, _ = occlude(photo, kind, occlusion_rng(0, index, kind), face=face)
            found = detect_faces(masked, max_faces=1)
            if found:
                moves[kind].append(crop_move(clean[0].keypoints, found[0].keypoints))
    for kind in args.kinds:
        move = np.array(moves[kind])
        scale = np.sqrt(np.abs(np.linalg.det(move[:, :, :2])))
        rotation = np.degrees(np.arctan2(move[:, 1, 0], move[:, 0, 0]))
        shift = move[:, :, :2] @ np.array([CROP / 2, CROP / 2]) + move[:, :, 2] - CROP / 2
        mouth = np.abs(np.einsum("nij,pj->npi", move[:, :, :2], MOUTH) + move[:, None, :, 2] - MOUTH).sum(-1).mean(1)
        print(f"{kind}: {len(move)} faces; log-scale s.d. {np.log(scale).std():.3f}, median |scale - 1| "
              f"{np.median(np.abs(scale - 1)):.3f}; rotation s.d. {rotation.std():.1f}°; shift s.d. "
              f"{shift[:, 0].std():.1f} px across, {shift[:, 1].std():.1f} px down; mouth moved median "
              f"{np.median(mouth):.1f} px, 90th percentile {np.percentile(mouth, 90):.1f} px")


if __name__ == "__main__":
    main()
