"""Server settings: where to listen is the CLI's business; these are the limits and paths the app enforces."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from unmask.errors import UnmaskError

DEFAULT_STUDY_DB = "unmask-study.sqlite"
BACKENDS = ("torch", "onnxruntime")  # as ``unmask.models.backends.BACKENDS``; this module must not import torch


@dataclass(frozen=True)
class Settings:
    """Limits of one app instance.

    max_upload_bytes: whole request body cap (image + mask + reference).  max_pixels: width x height cap of an
    uploaded photo.  workers: pipeline processes.  queue: requests that may wait for a worker beyond those
    running; more are answered 503 with Retry-After.  threads: torch/OpenCV threads per worker (0 = share the
    cores).  study_db: SQLite file of the realism study served at /study.  backend: where the networks run,
    ``torch`` or ``onnxruntime`` (shipped weights exported once into the cache).
    """

    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000
    workers: int = 1
    queue: int = 4
    threads: int = 0
    study_db: Path = Path(DEFAULT_STUDY_DB)
    backend: str = "torch"

    def __post_init__(self) -> None:
        if self.workers < 1 or self.queue < 0 or self.threads < 0:
            raise UnmaskError(f"need workers >= 1, queue >= 0 and threads >= 0, got {self.workers}, {self.queue}, "
                              f"{self.threads}")
        if self.max_upload_bytes < 1 or self.max_pixels < 1:
            raise UnmaskError("the upload size and pixel caps must be positive")
        if self.backend not in BACKENDS:
            raise UnmaskError(f"unknown backend {self.backend!r}; use {' or '.join(BACKENDS)}")

    def worker_threads(self) -> int:
        """Threads each worker may use: the setting, or the cores shared out between the workers."""
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)
