"""Command line of the server and the study: ``unmask serve`` and ``unmask study create | invite | report``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _hosts(args: argparse.Namespace) -> tuple[str, ...]:
    """Host names served: the local ones (or those given with --allowed-host) plus a specific listening address."""
    from unmask.server.settings import LOCAL_HOSTS

    hosts = tuple(args.allowed_host or LOCAL_HOSTS)
    listening = f"[{args.host}]" if ":" in args.host else args.host
    return hosts if args.host in ("0.0.0.0", "::") or listening in hosts else (*hosts, listening)


def run_serve(args: argparse.Namespace) -> int:
    """Serve the web page and REST API with uvicorn until interrupted."""
    import uvicorn

    from unmask.server.app import create_app
    from unmask.server.http import uvicorn_config
    from unmask.server.settings import Settings

    settings = Settings(max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=args.max_pixels,
                        workers=args.workers, queue=args.queue, study_db=Path(args.study_db).resolve(),
                        backend=args.backend, allowed_hosts=_hosts(args), read_timeout=args.read_timeout)
    print(f"unmask: serving on http://{args.host}:{args.port}/ (study: {settings.study_db}; host names: "
          f"{', '.join(settings.allowed_hosts)})", flush=True)
    config = uvicorn_config(create_app(settings), settings.read_timeout, host=args.host, port=args.port,
                            log_level=args.log_level)
    uvicorn.Server(config).run()
    return 0


def run_study_create(args: argparse.Namespace) -> int:
    """Build a realism study file from real and unmasked photos."""
    from unmask.study.builder import build_study

    counts = build_study(args.db, args.images, name=args.name, tasks=args.tasks.split(","), max_side=args.max_side,
                         seed=args.seed)
    print(f"study {args.db}: " + ", ".join(f"{key}={value}" for key, value in counts.items()))
    print(f"invite participants with `unmask study invite --db {args.db} --count N`")
    return 0


def run_study_invite(args: argparse.Namespace) -> int:
    """Print one secret study link per new participant."""
    from unmask.study.store import StudyStore

    for token in StudyStore(args.db).invite(args.count):
        print(f"{args.url.rstrip('/')}/study?p={token}")
    return 0


def run_study_report(args: argparse.Namespace) -> int:
    """Print mean rating and picked-as-real share per method with 95% CIs; write the histogram PNG."""
    from unmask.study.report import format_rejections, format_report, pair_rows, plot_report, rating_rows
    from unmask.study.store import StudyStore

    store = StudyStore(args.db)
    answers = store.answers()
    ratings, pairs = rating_rows(answers), pair_rows(answers)
    print(format_report(ratings, pairs))
    print(format_rejections(len(answers), store.rejections()))
    picture = args.output or str(Path(args.db).with_suffix("")) + "-report.png"
    print(f"histogram: {plot_report(answers, ratings, pairs, picture)}")
    return 0


def _tasks(text: str) -> str:
    if not text or not set(text.split(",")) <= {"rate", "pair"}:
        raise argparse.ArgumentTypeError(f"expected rate, pair or rate,pair, got {text!r}")
    return text


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 10000, got {text[:20]!r}")
    return int(text)


def add_server_parsers(commands: argparse._SubParsersAction) -> None:
    """The ``serve`` and ``study create|invite|report`` sub-commands."""
    from unmask.server.settings import BACKENDS, DEFAULT_STUDY_DB, LOCAL_HOSTS, Settings

    defaults = Settings()
    srv = commands.add_parser("serve", help="serve the web page and REST API (localhost by default)")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--workers", type=int, default=defaults.workers, help="pipeline worker processes")
    srv.add_argument("--queue", type=int, default=defaults.queue, help="requests waiting beyond those: then 503")
    srv.add_argument("--max-upload-mb", type=float, default=defaults.max_upload_bytes / 1024 / 1024)
    srv.add_argument("--max-pixels", type=int, default=defaults.max_pixels, help="pixel cap of an uploaded photo")
    srv.add_argument("--backend", choices=BACKENDS, default=defaults.backend,
                     help="run the networks in PyTorch or ONNX Runtime (shipped weights exported once, cached)")
    srv.add_argument("--study-db", default=DEFAULT_STUDY_DB, help=f"study file served at /study ({DEFAULT_STUDY_DB})")
    srv.add_argument("--allowed-host", action="append", metavar="NAME",
                     help=f"a Host name to serve, repeatable; '*' for any (default {', '.join(LOCAL_HOSTS)} and the "
                          f"--host address)")
    srv.add_argument("--read-timeout", type=float, default=defaults.read_timeout,
                     help="seconds a client may take for its headers and for each piece of its body")
    srv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    srv.set_defaults(handler=run_serve)

    study = commands.add_parser("study", help="realism study: create one from photos, invite people, report")
    actions = study.add_subparsers(dest="study_command", required=True)
    make = actions.add_parser("create", help="build a study file from real and unmasked photos (labels from metadata)")
    make.add_argument("images", nargs="+", help="image files or folders; unmask's outputs are recognised as such")
    make.add_argument("--db", default=DEFAULT_STUDY_DB, help=f"study file to create (default {DEFAULT_STUDY_DB})")
    make.add_argument("--name", default="realism study")
    make.add_argument("--tasks", type=_tasks, default="rate,pair", help="rate (1-10), pair (which is real) or both")
    make.add_argument("--max-side", type=int, default=1024, help="longer side of the shown images in pixels")
    make.add_argument("--seed", type=int, default=0, help="seed for pairing photos that have no namesake")
    make.set_defaults(handler=run_study_create)
    invite = actions.add_parser("invite", help="print one secret link per new participant (only they can answer)")
    invite.add_argument("--db", default=DEFAULT_STUDY_DB)
    invite.add_argument("--count", type=_count, default=1, help="how many participants to invite (default 1)")
    invite.add_argument("--url", default="http://127.0.0.1:8000", help="the server's address as participants see it")
    invite.set_defaults(handler=run_study_invite)
    report = actions.add_parser("report", help="mean score per method with 95%% CIs and a histogram picture")
    report.add_argument("--db", default=DEFAULT_STUDY_DB)
    report.add_argument("-o", "--output", default=None, help="histogram PNG (default <db>-report.png)")
    report.set_defaults(handler=run_study_report)
