"""How visible the border of a fill is: Laplacian energy on the hole's outline, the result's over the true photo's.

Test-split faces enlarged to ``--photo-size`` get a synthetic occluder (the same ones as ``unmask evaluate`` in
photo mode); the mask is given to ``Unmasker`` and the energy of the grey Laplacian on the one-pixel band around the
hole's outline is compared with the true photo's, once as shipped and once with the seam removal of
:func:`unmask.seam.remove_seam` switched off. 1.0 = the outline is as smooth as the real face; a step between fill
and photo (a line drawn around the hole) raises it. The energy inside the hole (more than 6 px in) is printed too:
it must not change. The whole pipeline's time per photo is printed for both.

    python benchmarks/seam.py --data prepared/hq256 --limit 20 [--model pconv_texture] [--kind surgical]
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext
from unittest import mock

import cv2
import numpy as np

from unmask.eval.harness import load_eval_set, occlusion_rng, resize_sample
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker


def _energy(image: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute grey Laplacian over ``where``."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[where].mean())


def main() -> None:
    """Print the median outline and inside ratios with and without seam removal."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder written by `unmask prepare`, with a test split")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--model", default=None, help="model name (default: the shipped default)")
    parser.add_argument("--kind", default="surgical", help="occluder kind")
    parser.add_argument("--photo-size", type=int, default=512)
    args = parser.parse_args()
    unmasker = Unmasker(args.model, grain=False)  # grain adds energy inside the hole: judge the seam alone
    ratios: dict[str, list[tuple[float, float]]] = {"seam removed (shipped)": [], "seam kept": []}
    seconds: dict[str, float] = dict.fromkeys(ratios, 0.0)
    for index, sample in enumerate(load_eval_set(args.data, split="test", limit=args.limit)):
        photo, face = resize_sample(np.asarray(sample[0]), sample[1], args.photo_size)
        occluded, hole = occlude(photo, args.kind, occlusion_rng(0, index, args.kind), face=face)
        if not hole.any():
            continue
        given = np.where(hole[..., None] > 0, occluded, photo)
        outline = cv2.morphologyEx(hole.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        inner = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3) > 6
        for label, patch in (("seam removed (shipped)", nullcontext()),
                             ("seam kept", mock.patch("unmask.pipeline.remove_seam", lambda fill, *_, **__: fill))):
            started = time.perf_counter()
            with patch:
                result = np.asarray(unmasker(given, mask=hole).image)
            seconds[label] += time.perf_counter() - started
            ratios[label].append((_energy(result, outline) / _energy(photo, outline),
                                  _energy(result, inner) / _energy(photo, inner)))
    print(f"{unmasker.model_name}, {args.kind}, {len(ratios['seam kept'])} photos at {args.photo_size}²: "
          "Laplacian energy, result / truth (median)")
    for label, values in ratios.items():
        outline_ratio, inner_ratio = np.median(np.array(values), axis=0)
        print(f"  {label:24s} outline {outline_ratio:.2f}   inside {inner_ratio:.2f}   "
              f"{1000 * seconds[label] / len(values):.0f} ms per photo")


if __name__ == "__main__":
    main()
