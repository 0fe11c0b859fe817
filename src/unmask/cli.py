"""Command line: ``unmask demo | remove | occlude | prepare | detect | train | evaluate | export | serve | study``.

Argument parsing only: each handler hands its work to the package. Handlers import what they run inside their body
(start-up time: ``unmask --help`` and argument errors must not wait seconds for torch, OpenCV or Lightning).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from unmask.errors import UnmaskError

# Seconds the first ``--backend onnxruntime`` run of a shipped model spends exporting it (``shipped_onnx``, timed on
# a busy 2-core CPU: pconv 54, hog 49, dmfn 41; deepfill 37 in issue 25); a model not listed is announced as 60.
ONNX_EXPORT_SECONDS = {"deepfill": 40, "pconv": 55, "dmfn": 40, "hog": 50}


def _ratio(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO-HI such as 0.1-0.2, got {text!r}") from None
    if not 0 <= low < high <= 1:
        raise argparse.ArgumentTypeError(f"need 0 <= LO < HI <= 1, got {text!r}")
    return low, high


def run_demo(args: argparse.Namespace) -> int:
    """Detect the astronaut's face, put a synthetic surgical mask on it, fill it, and save a picture."""
    from unmask.demo import demo

    for line in demo(Path(args.output)):
        print(line)
    return 0


def run_occlude(args: argparse.Namespace) -> int:
    """Write ``<name>.png`` (occluded) and ``<name>.mask.png`` (white = hole) for every input image."""
    from unmask.batch import occlude_folder
    from unmask.io import list_images

    inputs = list_images(args.inputs)
    out_dir = Path(args.output)
    failures = occlude_folder(inputs, out_dir, args.kind, args.seed, args.ratio, args.border)
    print(f"occluded {len(inputs) - failures} of {len(inputs)} images into {out_dir}")
    return 1 if failures else 0


def _mask_source(args: argparse.Namespace) -> Path | None:
    """``--mask``: None for ``auto``, else the mask file or folder."""
    return None if args.mask == "auto" else Path(args.mask)


def _announce_onnx_export(model: str | None, backend: str) -> float | None:
    """Say so before the first ONNX Runtime run of a shipped model exports it (the time it took is said after)."""
    import time

    from unmask.models.onnx_export import onnx_cache_path
    from unmask.models.pretrained import plain_models
    from unmask.pipeline import default_model

    model = model or default_model()
    if backend != "onnxruntime" or model not in plain_models() or onnx_cache_path(model).is_file():
        return None
    seconds = ONNX_EXPORT_SECONDS.get(model, 60)
    print(f"unmask: exporting {model} to ONNX (once, about {seconds} s; cached in {onnx_cache_path(model).parent}); "
          "on a CPU it then runs about as fast as PyTorch (docs/PERFORMANCE.md)", file=sys.stderr, flush=True)
    return time.monotonic()


def run_remove(args: argparse.Namespace) -> int:
    """Remove occlusions from every input; results go to ``OUTDIR/<name>.<ext>``; finished files are skipped."""
    import time

    from unmask.batch import remove_folder
    from unmask.io import list_images
    from unmask.pipeline import DEFAULT_GROW, Unmasker

    inputs = list_images(args.inputs)
    out_dir = Path(args.output)
    if args.grow is not None and args.grow < 0:
        raise UnmaskError(f"--grow must be at least 0, got {args.grow}")
    started = _announce_onnx_export(args.model, args.backend)
    unmasker = Unmasker(args.model, backend=args.backend, grow=DEFAULT_GROW if args.grow is None else args.grow,
                        grain=args.grain)
    if started is not None:
        print(f"unmask: exported in {time.monotonic() - started:.0f} s", file=sys.stderr)
    written, failures, run = remove_folder(inputs, out_dir, unmasker, _mask_source(args), args.save_mask,
                                           args.batch_size, args.workers, args.devices, grow=args.grow or 0,
                                           overwrite=args.overwrite, reference=args.reference)
    print(f"wrote {written} image(s) to {out_dir}{run.resume.summary()}" + (f"; {failures} failed" if failures else ""))
    return 1 if failures else 0


def run_export(args: argparse.Namespace) -> int:
    """Export a learned model to ONNX and check ONNX Runtime against PyTorch on real faces."""
    from unmask.export import PARITY_TOLERANCE, max_abs_difference, parity_batch
    from unmask.io import list_images, load_image
    from unmask.models import load
    from unmask.models.onnx_backend import OnnxInpainter
    from unmask.models.onnx_export import export_onnx

    if args.weights is not None:  # --model NAME --weights FILE.safetensors
        model = load(args.weights, model=args.model, kwargs=dict(args.arg or []), size=args.size, sha256=args.sha256)
    else:
        model = load(args.model, kwargs=dict(args.arg or []), size=args.size)
    card = model.card
    path = export_onnx(model, args.output)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {card.model} {card.kwargs or ''} at "
          f"{card.input_size}², weights {card.weights}")
    if args.no_check:
        return 0
    faces = [load_image(photo) for photo in list_images(args.check_images)] if args.check_images else None
    image, mask = parity_batch(card.input_size, faces)
    difference = max_abs_difference(model, OnnxInpainter(path), image, mask)
    verdict = "ok" if difference <= PARITY_TOLERANCE else "FAILED"
    print(f"parity on {len(image)} occluded real face crops: max |ONNX Runtime - PyTorch| = {difference:.2e} "
          f"(tolerance {PARITY_TOLERANCE:g}): {verdict}")
    return 0 if difference <= PARITY_TOLERANCE else 1


def _key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as YAML (numbers, booleans, strings)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE such as cnum=16, got {text!r}")
    return key, yaml.safe_load(value)


def run_prepare(args: argparse.Namespace) -> int:
    """Align every face of the source folders and write crops, ``manifest.csv`` and ``landmarks.npy``."""
    from unmask.data.prepare import prepare

    report = prepare(args.sources, args.output, size=args.size, min_score=args.min_score)
    Path(args.output, "prepare_report.json").write_text(json.dumps(report, indent=2))
    for name, counts in report.items():
        print(f"{name:32s} " + "  ".join(f"{key}={value}" for key, value in counts.items()))
    return 0


def run_detect(args: argparse.Namespace) -> int:
    """Write ``<name>.mask.png`` (white = occluded, union over all faces) for every input photo."""
    from unmask.detect_run import detect_folder
    from unmask.io import list_images

    out_dir = Path(args.output)
    written, failures, resume = detect_folder(list_images(args.inputs), out_dir, args.method, args.threshold,
                                              args.grow, args.overwrite)
    print(f"wrote {written} mask(s) to {out_dir}{resume.summary()}" + (f"; {failures} failed" if failures else ""))
    return 1 if failures else 0


def run_train(args: argparse.Namespace) -> int:
    """Train or resume one model from a YAML config."""
    from unmask.train.run import load_config, train

    config = load_config(args.config, {
        "trainer.max_steps": args.max_steps, "data.batch_size": args.batch_size, "data.data_dir": args.data,
        "trainer.devices": args.devices, "trainer.num_nodes": args.num_nodes, "run_dir": args.run_dir,
    })
    run_dir = train(config, resume=args.resume)
    print(f"run folder: {run_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``unmask`` argument parser with one sub-command per job."""
    from unmask.face.segment import DETECTION_METHODS
    from unmask.occlusion import KINDS
    from unmask.pipeline import DEFAULT_GROW, DEFAULT_MODEL, model_choices

    parser = argparse.ArgumentParser(prog="unmask", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole job on a built-in example photo (offline)")
    demo.add_argument("-o", "--output", default="unmask-demo", help="output folder (default: unmask-demo)")
    demo.set_defaults(handler=run_demo)

    occ = commands.add_parser("occlude", help="put synthetic occlusions on photos")
    occ.add_argument("inputs", nargs="+", help="image files or folders")
    occ.add_argument("-o", "--output", required=True, help="output folder")
    occ.add_argument("--kind", required=True, choices=KINDS)
    occ.add_argument("--ratio", type=_ratio, default=None, help="hole-ratio bucket LO-HI for holes, e.g. 0.1-0.2")
    occ.add_argument("--border", action=argparse.BooleanOptionalAction, default=None,
                     help="holes must (--border) or must not (--no-border) touch the image border")
    occ.add_argument("--seed", type=int, default=0)
    occ.set_defaults(handler=run_occlude)

    rem = commands.add_parser("remove", help="remove face masks / bars / a given hole and paint the face back")
    rem.add_argument("inputs", nargs="+", help="image files or folders")
    rem.add_argument("-o", "--output", required=True, help="output folder (inputs are never overwritten)")
    rem.add_argument("--mask", default="auto",
                     help="'auto' (find masks and eye bars), a mask image (one photo) or a folder of masks matched "
                          "by name: <stem>.mask.png as `unmask detect` writes, else <stem>.png; white = hole, other "
                          "sizes are resized with a warning")
    rem.add_argument("--model", default=None,
                     help=f"one of {', '.join(model_choices())}, or a .safetensors file (record beside it), an "
                          f"exported .onnx file or a training run folder (default: {DEFAULT_MODEL} when its weights "
                          "ship)")
    rem.add_argument("--grow", type=int, default=None, metavar="N",
                     help=f"grow the mask by N px along its border (default: {DEFAULT_GROW} for found masks, 0 for "
                          "given ones)")
    rem.add_argument("--no-grain", dest="grain", action="store_false",
                     help="leave out the photo's own fine grain that is otherwise added to the fill")
    rem.add_argument("--save-mask", action="store_true", help="also write <name>.mask.png of what was filled")
    rem.add_argument("--overwrite", action="store_true",
                     help="remake outputs an earlier run made with the same settings, and files unmask did not make "
                          "(outputs made with other settings are always remade)")
    rem.add_argument("--reference", default=None, metavar="PHOTO",
                     help="a second, unmasked photo of the same person: the largest face is filled from it "
                          "(reference_guided model; see docs/REFERENCE.md)")
    rem.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                     help="run the network in PyTorch or ONNX Runtime (exported once; on a CPU about as fast as "
                          "PyTorch); --model may also be an exported .onnx file")
    rem.add_argument("--batch-size", type=int, default=4, help="photos whose faces go through the model together")
    rem.add_argument("--workers", type=int, default=0, help="processes that read and align photos ahead (default 0)")
    rem.add_argument("--devices", type=int, default=None,
                     help="data-parallel over N GPUs (N CPU processes without one) with Lightning's trainer.predict")
    rem.set_defaults(handler=run_remove)

    exp = commands.add_parser("export", help="export a learned model to ONNX and check it against PyTorch")
    exp.add_argument("--model", required=True,
                     help="a learned model: registry name (shipped weights, else untrained), .safetensors file with "
                          "its record beside it, or a training run folder / checkpoint")
    exp.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    exp.add_argument("--weights", default=None, help=".safetensors weights for --model NAME (no record needed)")
    exp.add_argument("--sha256", default=None, help="expected sha256 of --weights")
    exp.add_argument("--arg", type=_key_value, action="append", metavar="KEY=VALUE",
                     help="builder argument, e.g. --arg cnum=16 --arg in_size=128 (repeatable)")
    exp.add_argument("--size", type=int, default=None, help="crop size recorded for the pipeline (default: in_size)")
    exp.add_argument("--check-images", nargs="+", default=None,
                     help="photos or folders whose faces are used for the parity check (default: the astronaut)")
    exp.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch parity check")
    exp.set_defaults(handler=run_export)

    prep = commands.add_parser("prepare", help="detect, align and split face photos for training/evaluation")
    prep.add_argument("sources", nargs="+", help="source folders (an index.csv with an identity column is used)")
    prep.add_argument("-o", "--output", required=True, help="output folder")
    prep.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256)")
    prep.add_argument("--min-score", type=float, default=0.6, help="face detector score threshold")
    prep.set_defaults(handler=run_prepare)

    det = commands.add_parser("detect", help="find face masks and eye bars; write one mask per photo")
    det.add_argument("inputs", nargs="+", help="image files or folders")
    det.add_argument("-o", "--output", required=True, help="output folder (not an input folder)")
    det.add_argument("--method", choices=("auto", *DETECTION_METHODS), default="auto",
                     help="learned segmenter or k-means colour clustering (default auto: learned when shipped)")
    det.add_argument("--threshold", type=float, default=None, metavar="T",
                     help="the learned segmenter's logit threshold: lower finds more (default: the shipped one)")
    det.add_argument("--grow", type=int, default=0, metavar="N", help="grow each mask by N px along its border")
    det.add_argument("--overwrite", action="store_true", help="remake masks an earlier run made the same way")
    det.set_defaults(handler=run_detect)

    tr = commands.add_parser("train", help="train an inpainting model from a YAML config (Lightning)")
    tr.add_argument("--config", required=True, help="e.g. configs/train/deepfill_cpu.yaml")
    tr.add_argument("--resume", default=None, help="'last' (the run's last checkpoint) or a checkpoint path")
    tr.add_argument("--devices", type=int, default=None, help="number of GPUs (DDP when more than one)")
    tr.add_argument("--num-nodes", type=int, default=None)
    tr.add_argument("--max-steps", type=int, default=None)
    tr.add_argument("--batch-size", type=int, default=None)
    tr.add_argument("--data", default=None, help="prepared data folder (overrides data.data_dir)")
    tr.add_argument("--run-dir", default=None, help="run folder (overrides run_dir)")
    tr.set_defaults(handler=run_train)

    from unmask.eval.cli import add_evaluate_parser
    from unmask.server.commands import add_server_parsers

    add_evaluate_parser(commands)
    add_server_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run one sub-command; user errors print one line and exit with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UnmaskError as error:
        print(f"unmask: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unmask: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
