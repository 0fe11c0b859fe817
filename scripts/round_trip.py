"""The bulk-correction round trip on real masked photos, as the README gives it: ``unmask detect --grow`` writes a
mask per photo, (the masks could be edited here), ``unmask remove --mask DIR`` fills exactly those masks; then a
contact sheet of before / mask / after for every photo.

    python scripts/round_trip.py --data ../shared/data/masked --per-source 6 --work /tmp/round_trip \
        --grow 6 -o docs/round_trip.jpg

Picks ``--per-source`` photos evenly spaced through each source (rmfd_*, chandrika_*, fm12k_*), links them into
``WORK/photos`` (the photos stay where they are), runs the two commands into ``WORK/masks`` and ``WORK/cleaned``
and writes the sheet: a photo with no face found gets a blank mask and after cell.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from unmask.cli import main as unmask
from unmask.io import load_image, save_image
from unmask.viz import image_grid

SOURCES = ("rmfd_", "chandrika_", "fm12k_")


def pick(data: Path, per_source: int) -> list[Path]:
    """``per_source`` photos of each source, evenly spaced through its sorted file names."""
    names = sorted(path for path in data.iterdir() if path.suffix.lower() == ".jpg")
    chosen = []
    for prefix in SOURCES:
        group = [path for path in names if path.name.startswith(prefix)]
        step = len(group) // per_source
        chosen += [group[index * step + step // 2] for index in range(per_source)]
    return chosen


def tinted(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo with the mask's pixels tinted red and its outline drawn."""
    out = photo.copy()
    hole = mask > 0
    out[hole] = (0.45 * out[hole] + 0.55 * np.array([255, 40, 40])).astype(np.uint8)
    contours, _ = cv2.findContours(hole.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), max(1, round(max(photo.shape[:2]) / 300)))
    return out


def square(image: np.ndarray) -> np.ndarray:
    """The image padded with white to a square (so the grid does not distort it)."""
    height, width = image.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    return cv2.copyMakeBorder(image, top, side - height - top, left, side - width - left, cv2.BORDER_CONSTANT,
                              value=(255, 255, 255))


def sheet(photos: list[Path], masks: Path, cleaned: Path, per_row: int, cell: int) -> np.ndarray:
    """Rows of ``per_row`` (before, mask, after) triplets."""
    triplets = []
    for path in photos:
        photo = load_image(path)
        mask_file, result_file = masks / f"{path.stem}.mask.png", cleaned / path.name
        mask = load_image(mask_file)[..., 0] if mask_file.is_file() else np.zeros(photo.shape[:2], np.uint8)
        after = load_image(result_file) if result_file.is_file() else np.full_like(photo, 255)
        triplets.append([square(photo), square(tinted(photo, mask)), square(after)])
    rows = [sum(triplets[start:start + per_row], []) for start in range(0, len(triplets), per_row)]
    return image_grid(rows, ["before", "mask found (grown)", "after"] * per_row, cell=cell)


def main() -> None:
    """Pick the photos, run detect and remove, write the sheet."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/masked"))
    parser.add_argument("--per-source", type=int, default=6)
    parser.add_argument("--work", type=Path, required=True, help="folder for the photo links, masks and results")
    parser.add_argument("--grow", type=int, default=6, help="px the found masks are grown by")
    parser.add_argument("--model", default=None)
    parser.add_argument("--per-row", type=int, default=3, help="(before, mask, after) triplets per row")
    parser.add_argument("--cell", type=int, default=180)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    photos_dir, masks, cleaned = args.work / "photos", args.work / "masks", args.work / "cleaned"
    photos_dir.mkdir(parents=True, exist_ok=True)
    photos = []
    for source in pick(args.data, args.per_source):
        link = photos_dir / source.name
        if not link.exists():
            link.symlink_to(source.resolve())
        photos.append(link)
    unmask(["detect", str(photos_dir), "-o", str(masks), "--grow", str(args.grow)])
    unmask(["remove", str(photos_dir), "--mask", str(masks), "-o", str(cleaned), "--save-mask"]
           + (["--model", args.model] if args.model else []))
    save_image(args.output, sheet(photos, masks, cleaned, args.per_row, args.cell))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
