"""What passes between the app and its worker processes, kept free of heavy imports.

The app submits jobs of :mod:`unmask.server.jobs` by name through :func:`run_job`, so the serving process never
imports torch or the pipeline to hand work out; the workers have them preloaded by the fork server.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from dataclasses import dataclass

from unmask.errors import UnmaskError

JOBS_MODULE = "unmask.server.jobs"
NO_REFERENCE = "reference-guided unmasking is not available in this version; send the photo without a reference"


class UploadError(UnmaskError):
    """An upload the server cannot use: not an image, a mask of the wrong size, an unsupported part (400)."""


@dataclass
class RemoveResult:
    """A finished removal: the encoded photo and facts for the response headers."""

    data: bytes
    media_type: str
    suffix: str
    faces: int
    region: str
    notes: list[str]


def _exit_when_gone(server_pid: int, every: float = 1.0) -> None:
    """Stop this worker once the serving process is gone (killed ones leave their workers otherwise)."""
    while True:
        time.sleep(every)
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            os._exit(0)


def init_worker(threads: int, server_pid: int) -> None:
    """Run once in each worker process: share the cores out, and exit when the server process dies."""
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    threading.Thread(target=_exit_when_gone, args=(server_pid,), daemon=True, name="unmask-lifeline").start()


def run_job(name: str, *args: object) -> tuple[object, float]:
    """Run ``jobs.<name>(*args)`` in a worker; returns its result and the seconds it took (queueing not counted)."""
    job = getattr(importlib.import_module(JOBS_MODULE), name)
    start = time.perf_counter()
    return job(*args), time.perf_counter() - start
