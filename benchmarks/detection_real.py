"""Occlusion detection on real photos with hand-checked reference masks (benchmarks/data/real_masks).

    python benchmarks/detection_real.py [--shared ../shared/data] [--method auto|learned|kmeans]
        [--threshold T] [--margin M] [--no-second-pass] [--worst docs/detection_real_worst.jpg]
        [--sheet docs/detection_real_all.jpg] [--quiet]

For every photo listed in benchmarks/data/real_masks/photos.csv (read from ``<shared>/masked``; the photos are not
in the repository) the detector runs on the whole photo and its mask is compared with the reference:

- IoU of the found mask and the reference;
- left: the share of reference pixels not found (what the pipeline would leave visible);
- wrong: found pixels outside the reference, as a share of the reference area;
- stray: found pieces that touch no reference pixel (a fill where there is no mask);
- clean hit: unmasked faces marked in the CSV that got a fill (>= 10 found px outside the reference in their box);
- piece: the largest connected piece left unfound, as a share of the reference (>= 1 % and >= 12 px counts as a
  visible leftover in the summary; the committed picture grids are the judge).

Prints one line per photo, then the mean and median. ``--worst`` writes a grid of the 10 photos with the most left
(photo, reference, found: green = found and in the reference, red = left, blue = found outside the reference);
``--sheet`` writes the same three panels for every photo.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from unmask.face import segment
from unmask.face.segment import find_occlusions
from unmask.io import load_image

DATA = Path(__file__).parent / "data" / "real_masks"
VISIBLE_SHARE, VISIBLE_PIXELS = 0.01, 12  # a leftover piece this large (share of the reference, pixels) is visible
CLEAN_HIT_PIXELS = 10  # found pixels in an unmasked face's box that make it a false-positive fill


@dataclass
class PhotoScore:
    """One photo's comparison of the found mask with its reference."""

    name: str
    kind: str
    iou: float
    left: float  # share of reference pixels not found
    wrong: float  # found pixels outside the reference / reference pixels
    stray: int  # found pieces touching no reference pixel
    clean_hits: int  # unmasked faces with a found fill
    clean_faces: int
    piece: float  # largest unfound piece / reference pixels

    @property
    def visible_left(self) -> bool:
        """Whether the largest unfound piece is big enough to see."""
        return self.piece >= VISIBLE_SHARE


def read_rows(folder: Path = DATA) -> list[dict[str, str]]:
    """The rows of photos.csv: file, kind, clean_faces ("x0 y0 x1 y1;..."), notes."""
    with open(folder / "photos.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def clean_boxes(field: str) -> list[tuple[int, int, int, int]]:
    """Boxes of unmasked faces from the CSV field "x0 y0 x1 y1;x0 y0 x1 y1"."""
    return [tuple(int(v) for v in part.split()) for part in field.split(";") if part.strip()]


def score(name: str, kind: str, found: np.ndarray, reference: np.ndarray,
          boxes: list[tuple[int, int, int, int]]) -> PhotoScore:
    """Compare a found mask (H, W) with a reference mask (H, W), both non-zero = occluded."""
    found, reference = found > 0, reference > 0
    area = max(int(reference.sum()), 1)
    union = int((found | reference).sum())
    left = reference & ~found
    pieces, labels = cv2.connectedComponents(left.astype(np.uint8), connectivity=8)
    sizes = np.bincount(labels.ravel(), minlength=pieces)[1:]
    largest = int(sizes.max()) if len(sizes) else 0
    count, found_labels = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
    touching = np.unique(found_labels[reference & found])
    wrong = found & ~reference
    hits = sum(int(wrong[y0:y1, x0:x1].sum() >= CLEAN_HIT_PIXELS) for x0, y0, x1, y1 in boxes)
    return PhotoScore(
        name=name, kind=kind,
        iou=1.0 if union == 0 else float((found & reference).sum() / union),
        left=float(left.sum() / area) if reference.any() else 0.0,
        wrong=float(wrong.sum() / area),
        stray=int(count - 1 - len(touching[touching > 0])),
        clean_hits=hits, clean_faces=len(boxes),
        piece=largest / area if largest >= VISIBLE_PIXELS else 0.0,
    )


def clean_fills(folder: Path, count: int, options: dict) -> tuple[int, int]:
    """Run the detector on ``count`` unmasked photos of ``folder`` (a fixed random pick); returns how many got a
    fill of CLEAN_HIT_PIXELS or more and how many had a face found."""
    names = sorted(path.name for path in folder.glob("*.jpg"))
    picks = np.random.default_rng(0).permutation(len(names))[:count]
    filled = with_face = 0
    for index in picks:
        found, faces = find_occlusions(load_image(folder / names[index]), **options)
        with_face += bool(faces)
        filled += int(found.sum() >= CLEAN_HIT_PIXELS)
    return filled, with_face


def _panels(photo: np.ndarray, reference: np.ndarray, found: np.ndarray, side: int) -> np.ndarray:
    """Photo, reference overlay and found overlay side by side, each scaled to ``side`` px high (BGR)."""
    height, width = reference.shape
    size = (max(1, round(width * side / height)), side)
    image = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    ref = cv2.resize(reference.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    got = cv2.resize(found.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    shown_ref = image.copy()
    shown_ref[ref] = (0.45 * shown_ref[ref] + 0.55 * np.array([255, 255, 255])).astype(np.uint8)
    shown = image.copy()
    for where, colour in ((got & ref, (0, 200, 0)), (ref & ~got, (255, 0, 0)), (got & ~ref, (0, 80, 255))):
        shown[where] = (0.4 * shown[where] + 0.6 * np.array(colour)).astype(np.uint8)
    gap = np.full((side, 3, 3), 255, np.uint8)
    return np.concatenate([image, gap, shown_ref, gap, shown], axis=1)[..., ::-1]


def write_grid(path: Path, items: list[tuple[PhotoScore, np.ndarray, np.ndarray, np.ndarray]], side: int,
               width: int = 1800) -> None:
    """A JPEG of (score, photo, reference, found) items, each captioned with its name, IoU and share left, packed
    left to right into rows at most ``width`` px wide."""
    cells = []
    for result, photo, reference, found in items:
        panel = _panels(photo, reference, found, side)
        caption = np.full((16, panel.shape[1], 3), 255, np.uint8)
        text = f"{Path(result.name).stem[:28]}  IoU {result.iou:.2f}  left {result.left:.1%}"
        cv2.putText(caption, text, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        cells.append(cv2.copyMakeBorder(np.concatenate([caption, panel], axis=0), 0, 6, 0, 8,
                                        cv2.BORDER_CONSTANT, value=(255, 255, 255)))
    rows: list[list[np.ndarray]] = [[]]
    for cell in cells:
        if rows[-1] and sum(c.shape[1] for c in rows[-1]) + cell.shape[1] > width:
            rows.append([])
        rows[-1].append(cell)
    width = max(sum(c.shape[1] for c in row) for row in rows)
    lines = [cv2.copyMakeBorder(np.concatenate(row, axis=1), 0, 0, 0, width - sum(c.shape[1] for c in row),
                                cv2.BORDER_CONSTANT, value=(255, 255, 255)) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(lines, axis=0), [cv2.IMWRITE_JPEG_QUALITY, 85])


def main() -> None:
    """Detect on every reference photo, print the per-photo and summary table, write the grids."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default="../shared/data", help="the shared data folder (photos in masked/)")
    parser.add_argument("--method", default="auto", choices=["auto", "learned", "kmeans"])
    parser.add_argument("--threshold", type=float, default=None, help="segmenter logit threshold (default: shipped)")
    parser.add_argument("--margin", type=float, default=None,
                        help="grow margin in eye distances (default: the shipped one; 0 = no growth)")
    parser.add_argument("--no-second-pass", action="store_true", help="skip the small-face detection pass")
    parser.add_argument("--worst", type=Path, help="write a grid of the 10 photos with the most left here")
    parser.add_argument("--sheet", type=Path, help="write the panels of every photo here")
    parser.add_argument("--clean", type=int, default=200,
                        help="also run on this many unmasked photos of <shared>/faces (false-positive fills)")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")
    args = parser.parse_args()
    photos = Path(args.shared) / "masked"
    wanted = {"method": args.method, "threshold": args.threshold, "margin": args.margin,
              "second_pass": not args.no_second_pass}
    # only the options this version of find_occlusions takes, so an older checkout can be measured the same way
    accepted = inspect.signature(find_occlusions).parameters
    options = {key: value for key, value in wanted.items() if key in accepted}
    results, kept = [], []
    for row in read_rows():
        photo = load_image(photos / row["file"])
        reference = cv2.imread(str(DATA / (Path(row["file"]).stem + ".png")), cv2.IMREAD_GRAYSCALE)
        if reference is None or reference.shape != photo.shape[:2]:
            sys.exit(f"{row['file']}: reference mask missing or of another size")
        found, _ = find_occlusions(photo, **options)
        result = score(row["file"], row["kind"], found, reference, clean_boxes(row["clean_faces"]))
        results.append(result)
        kept.append((result, photo, reference, found))
        if not args.quiet:
            print(f"{row['file'][:40]:40s} {row['kind']:9s} IoU {result.iou:5.3f}  left {result.left:6.1%}  "
                  f"wrong {result.wrong:6.1%}  stray {result.stray}  piece {result.piece:5.1%}  "
                  f"clean hits {result.clean_hits}/{result.clean_faces}")
    masked = [r for r in results if r.kind != "none"]
    ious = np.array([r.iou for r in masked])
    left = np.array([r.left for r in masked])
    wrong = np.array([r.wrong for r in masked])
    print(f"\nphotos {len(results)} ({len(masked)} with a mask), {options}, "
          f"shipped margin {getattr(segment, 'GROW_MARGIN', None)}")
    print(f"{'IoU':38s} mean {ious.mean():.3f}  median {np.median(ious):.3f}")
    print(f"{'share of mask pixels left':38s} mean {left.mean():.1%}  median {np.median(left):.1%}")
    print(f"{'found outside the reference / mask':38s} mean {wrong.mean():.1%}  median {np.median(wrong):.1%}")
    print(f"{'photos with no visible piece left':38s} {sum(not r.visible_left for r in masked)} of {len(masked)}")
    print(f"{'photos with a stray found piece':38s} {sum(r.stray > 0 for r in results)} of {len(results)}")
    print(f"{'unmasked faces with a fill':38s} {sum(r.clean_hits for r in results)} of "
          f"{sum(r.clean_faces for r in results)}")
    if args.clean:
        filled, with_face = clean_fills(Path(args.shared) / "faces", args.clean, options)
        print(f"{'unmasked photos (faces/) with a fill':38s} {filled} of {args.clean} ({with_face} with a face found)")
    if args.worst:
        worst = sorted(kept, key=lambda item: -item[0].left)[:10]
        write_grid(args.worst, worst, side=192, width=1600)
    if args.sheet:
        write_grid(args.sheet, kept, side=160)


if __name__ == "__main__":
    main()
