"""How much of a given mask the pipeline leaves unfilled: clean photos get a synthetic surgical mask (MaskTheFace
template, on every face found), the mask is given to ``Unmasker`` and every hole pixel that comes back exactly as it
went in is counted.

    python benchmarks/paste_coverage.py --data ../shared/data/faces_hq --limit 100 [--model pconv]

Prints the photos with any unchanged hole pixel, the mean and worst unchanged share of the hole, the same for hole
pixels the result's mask leaves out (not pasted at all: an unchanged pixel that was pasted is a fill that happened
to equal the input), and the photos that failed (e.g. no face found).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from unmask.errors import UnmaskError
from unmask.face import detect_faces
from unmask.io import list_images, load_image
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker


def main() -> None:
    """Run the measurement and print one summary line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder of clean face photos")
    parser.add_argument("--limit", type=int, default=100, help="first N photos (sorted by name)")
    parser.add_argument("--model", default=None, help="model name (default: the shipped default)")
    args = parser.parse_args()
    unmasker = Unmasker(args.model)
    unfilled, unpasted, failed, skipped = [], [], [], 0
    started = time.perf_counter()
    for path in list_images([args.data])[: args.limit]:
        photo = load_image(path)
        faces = detect_faces(photo)
        if not faces:
            skipped += 1  # nowhere to put a mask
            continue
        hole = np.zeros(photo.shape[:2], np.uint8)
        rng = np.random.default_rng(len(unfilled) + len(failed))
        for face in faces:
            photo, mask = occlude(photo, "surgical", rng, face=face)
            hole |= mask
        try:
            result = unmasker(photo, mask=hole * 255)
        except UnmaskError as error:
            failed.append(f"{path.name}: {error}")
            continue
        same = (np.asarray(result.image) == photo).all(axis=2) & (hole > 0)
        unfilled.append(same.sum() / hole.sum())
        unpasted.append(((hole > 0) & (result.mask == 0)).sum() / hole.sum())
    share, left_out = np.array(unfilled), np.array(unpasted)
    print(f"{unmasker.model_name}: {len(share)} photos with a mask, {skipped} without a face to put one on, "
          f"{len(failed)} failed; {time.perf_counter() - started:.0f} s")
    print(f"photos with any unchanged hole pixel: {(share > 0).sum()} of {len(share)}; unchanged share of the hole: "
          f"mean {share.mean():.2%}, worst {share.max():.2%}")
    print(f"photos with any hole pixel not pasted: {(left_out > 0).sum()} of {len(left_out)}; not pasted share: "
          f"mean {left_out.mean():.2%}, worst {left_out.max():.2%}")
    for line in failed:
        print(f"failed: {line}")


if __name__ == "__main__":
    main()
