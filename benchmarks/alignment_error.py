"""How far the pipeline's alignment of a face lands from the alignment its training crops were cut with.

Training crops are aligned by the keypoints of each face's landmarks (found on the clean face). Held-out faces are
enlarged to a ``--size``² photo and get a synthetic occluder (as in photo-mode evaluation; ``clean``: none); the
face is detected on that photo and the similarity between the 256² crop it gives and the training alignment is
measured (the move that takes the training crop onto the detected one), for three sets of keypoints: YuNet's own,
those of the FaceMesh landmarks, and those the pipeline aligns by (``unmask.face.keypoints.aligned_for_filling``:
the mesh's, with the nose tip and mouth corners under the hole taken from the mean face; YuNet's without a mesh):

    python benchmarks/alignment_error.py --data prepared/hq256 --limit 40 \
        --kinds clean surgical n95 kn95 cloth bar

Prints per kind and keypoint source: the spread of the log scale, of the rotation and of the centre's shift (in
256² crop pixels), how far a point of the mouth moves (median and 90th percentile, crop pixels) and how far the
crop's corners and centre move on average (mean and median, % of the crop's side). The spreads set the training
jitter (``unmask.data.augment.AlignmentJitter``).
"""

from __future__ import annotations

import argparse

import numpy as np

from unmask.eval.harness import load_eval_set, occlusion_rng, resize_sample
from unmask.face import detect_faces
from unmask.face.align import invert_matrix, template_matrix
from unmask.face.keypoints import aligned_for_filling
from unmask.face.types import keypoints_from_landmarks
from unmask.occlusion import occlude

CROP = 256
MOUTH = np.array([[100.0, 190.0], [156.0, 190.0], [128.0, 210.0], [128.0, 170.0]])  # mouth corners, lips, in the crop
FRAME = np.array([[0.0, 0.0], [CROP, 0.0], [0.0, CROP], [CROP, CROP], [CROP / 2, CROP / 2]])  # corners, centre
SOURCES = ("yunet", "mesh", "pipeline")


def crop_move(reference: np.ndarray, found: np.ndarray) -> np.ndarray:
    """The (2, 3) similarity from the crop aligned on ``reference`` keypoints to the crop aligned on ``found``."""
    to_photo = np.vstack([invert_matrix(template_matrix(reference, CROP)), [0.0, 0.0, 1.0]])
    return (np.vstack([template_matrix(found, CROP), [0.0, 0.0, 1.0]]) @ to_photo)[:2]


def _moved(move: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, P) distance each of ``points`` (P, 2) travels under each of the (N, 2, 3) moves."""
    return np.linalg.norm(np.einsum("nij,pj->npi", move[:, :, :2], points) + move[:, None, :, 2] - points, axis=-1)


def summary(move: np.ndarray) -> str:
    """One line of statistics for (N, 2, 3) moves."""
    scale = np.sqrt(np.abs(np.linalg.det(move[:, :, :2])))
    rotation = np.degrees(np.arctan2(move[:, 1, 0], move[:, 0, 0]))
    shift = move[:, :, :2] @ np.array([CROP / 2, CROP / 2]) + move[:, :, 2] - CROP / 2
    mouth = _moved(move, MOUTH).mean(1)
    frame = _moved(move, FRAME).mean(1) / CROP * 100
    return (f"log-scale s.d. {np.log(scale).std():.3f}; rotation s.d. {rotation.std():.1f}°; shift s.d. "
            f"{shift[:, 0].std():.1f} px across, {shift[:, 1].std():.1f} px down; mouth moved median "
            f"{np.median(mouth):.1f} px, 90th percentile {np.percentile(mouth, 90):.1f} px; crop moved mean "
            f"{frame.mean():.2f} %, median {np.median(frame):.2f} %")


def main() -> None:
    """Measure and print one line per kind and keypoint source."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a folder written by `unmask prepare` (its test split)")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--size", type=int, default=512, help="photo side")
    parser.add_argument("--kinds", nargs="+", default=["clean", "surgical", "n95", "kn95", "cloth", "bar"])
    args = parser.parse_args()
    samples = load_eval_set(args.data, "test", limit=args.limit)
    moves: dict[tuple[str, str], list[np.ndarray]] = {(kind, source): [] for kind in args.kinds for source in SOURCES}
    meshed = dict.fromkeys(args.kinds, 0)
    for index, sample in enumerate(samples):
        photo, face = resize_sample(sample.image, sample.face, args.size)
        for kind in args.kinds:
            shown, hole = ((photo, np.zeros(photo.shape[:2], np.uint8)) if kind == "clean"
                           else occlude(photo, kind, occlusion_rng(0, index, kind), face=face))
            found = detect_faces(shown, max_faces=1)
            if not found:
                continue
            meshed[kind] += found[0].mesh is not None
            mesh = keypoints_from_landmarks(found[0].landmarks) if found[0].mesh is not None else found[0].keypoints
            for source, keypoints in (("yunet", found[0].keypoints), ("mesh", mesh),
                                      ("pipeline", aligned_for_filling(found[0], hole).keypoints)):
                moves[(kind, source)].append(crop_move(face.keypoints, keypoints))
    for kind in args.kinds:
        for source in SOURCES:
            move = np.array(moves[(kind, source)])
            print(f"{kind}, {source}: {len(move)} faces ({meshed[kind]} with a mesh); {summary(move)}")


if __name__ == "__main__":
    main()
