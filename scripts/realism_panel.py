"""The realism panel of a shipped round: fills judged by eye at the photo's own resolution, never resampled.

    python scripts/realism_panel.py --model pconv --data prepared/hq256 --masked ../shared/data/masked \
        -o docs/realism/pconv

Writes ``test_faces.jpg``: 16 test-split faces enlarged to 512² with a synthetic surgical mask, each as (input,
fill, truth) crops of 288² around the hole at 1:1 pixels, and ``real_masked.jpg``: 16 real masked photos (fixed
choice, seeded) as (input, result) at their own size with the mask found by the detector. ``--model`` takes a
shipped name, a classical one or a training run folder/checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from unmask.errors import UnmaskError
from unmask.eval.harness import load_eval_set, occlusion_rng, resize_sample
from unmask.eval.realism import hole_box
from unmask.eval.runs import resolve_model_specs
from unmask.io import list_images, load_image, save_image
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker
from unmask.viz import image_grid

CROP = 288
REAL_CELL = 256


def _crop(image: np.ndarray, box: tuple[int, int, int]) -> np.ndarray:
    """A CROP² window centred on ``box`` (top, left, side), shifted to lie inside the image."""
    top, left, side = box
    height, width = image.shape[:2]
    y = int(np.clip(top + side // 2 - CROP // 2, 0, height - CROP))
    x = int(np.clip(left + side // 2 - CROP // 2, 0, width - CROP))
    return image[y:y + CROP, x:x + CROP]


def panel_test_faces(unmasker: Unmasker, data: str, count: int, size: int, seed: int) -> np.ndarray:
    """(input, fill, truth) crops around the hole of ``count`` test faces, two faces per grid row."""
    cells = []
    for index, sample in enumerate(load_eval_set(data, split="test", limit=count)):
        photo, face = resize_sample(sample.image, sample.face, size)
        occluded, hole = occlude(photo, "surgical", occlusion_rng(seed, index, "surgical"), face=face)
        given = np.where(hole[..., None] > 0, occluded, photo)
        filled = np.asarray(unmasker(given, mask=hole).image)
        box = hole_box(hole)
        cells += [_crop(given, box), _crop(filled, box), _crop(photo, box)]
    rows = [cells[start:start + 6] for start in range(0, len(cells), 6)]
    return image_grid(rows, ["input", "fill", "truth"] * 2, cell=CROP, gap=2)


def _padded(image: np.ndarray) -> np.ndarray:
    """The photo at 1:1 on a white REAL_CELL² canvas (larger photos are scaled down to fit)."""
    height, width = image.shape[:2]
    if max(height, width) > REAL_CELL:
        raise UnmaskError(f"real photos are at most {REAL_CELL} px here; got {width}x{height}")
    canvas = np.full((REAL_CELL, REAL_CELL, 3), 255, np.uint8)
    top, left = (REAL_CELL - height) // 2, (REAL_CELL - width) // 2
    canvas[top:top + height, left:left + width] = image
    return canvas


def _size(path: Path) -> tuple[int, int]:
    """(width, height) read from the file's header."""
    with Image.open(path) as image:
        return image.size


def panel_real_masked(unmasker: Unmasker, masked: str, count: int, seed: int) -> np.ndarray:
    """(input, result) of ``count`` real masked photos of at least 180 px, chosen with ``seed``; four per row."""
    paths = [path for path in list_images([masked]) if min(_size(path)) >= 180]
    chosen = sorted(np.random.default_rng(seed).choice(len(paths), size=count, replace=False))
    cells = []
    for index in chosen:
        photo = load_image(paths[index])
        try:
            result = np.asarray(unmasker(photo).image)
        except UnmaskError:  # no face found: shown unchanged
            result = photo
        cells += [_padded(photo), _padded(result)]
    rows = [cells[start:start + 8] for start in range(0, len(cells), 8)]
    return image_grid(rows, ["photo", "result"] * 4, cell=REAL_CELL, gap=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="pconv", help="shipped or classical name, or a training run folder")
    parser.add_argument("--data", required=True, help="prepared folder with a test split")
    parser.add_argument("--masked", required=True, help="folder of real masked photos")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", type=int, default=512, help="side the test faces are enlarged to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", required=True, help="output folder")
    args = parser.parse_args()
    spec = resolve_model_specs([args.model])[0]
    unmasker = Unmasker(spec if isinstance(spec, str) else spec[1])
    out = Path(args.output)
    save_image(out / "test_faces.jpg", panel_test_faces(unmasker, args.data, args.count, args.size, args.seed))
    save_image(out / "real_masked.jpg", panel_real_masked(unmasker, args.masked, args.count, args.seed))
    print(f"wrote {out / 'test_faces.jpg'} and {out / 'real_masked.jpg'}")


if __name__ == "__main__":
    main()
