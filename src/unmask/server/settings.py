"""Server settings: where to listen is the CLI's business; these are the limits and paths the app enforces."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from unmask.errors import UnmaskError

DEFAULT_STUDY_DB = "unmask-study.sqlite"
BACKENDS = ("torch", "onnxruntime")  # as ``unmask.models.loading.BACKENDS``; this module must not import torch
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # Host headers accepted by default (no DNS rebinding)


@dataclass(frozen=True)
class Settings:
    """Limits of one app instance.

    max_upload_bytes: whole request body cap of the upload endpoints (image + mask + reference).  max_body_bytes:
    body cap of every other endpoint (the study's JSON).  max_pixels: width x height cap of an uploaded photo.
    workers: pipeline processes.  queue: requests that may wait for a worker beyond those running; more are
    answered 503 with Retry-After.  threads: torch/OpenCV threads per worker (0 = share the cores).  study_db:
    SQLite file of the realism study served at /study.  backend: where the networks run, ``torch`` or
    ``onnxruntime`` (shipped weights exported once into the cache).  read_timeout: seconds a client may take to
    send a request's headers, and to send each piece of its body.  min_upload_rate: bytes per second a body must
    average once ``read_timeout`` has passed (slower ones get 408).  allowed_hosts: Host header names served
    (others get 400; ``*`` allows any).  study_trial_ttl: seconds a served study trial may wait for its answer.
    study_ip_rate, study_participant_rate: study requests per minute from one address and answers per minute from
    one participant (more get 429).
    """

    max_upload_bytes: int = 25 * 1024 * 1024
    max_body_bytes: int = 64 * 1024
    max_pixels: int = 40_000_000
    workers: int = 1
    queue: int = 4
    threads: int = 0
    study_db: Path = Path(DEFAULT_STUDY_DB)
    backend: str = "torch"
    read_timeout: float = 10.0
    min_upload_rate: int = 32 * 1024
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    study_trial_ttl: float = 1800.0
    study_ip_rate: int = 240
    study_participant_rate: int = 60

    def __post_init__(self) -> None:
        if self.workers < 1 or self.queue < 0 or self.threads < 0:
            raise UnmaskError(f"need workers >= 1, queue >= 0 and threads >= 0, got {self.workers}, {self.queue}, "
                              f"{self.threads}")
        if self.max_upload_bytes < 1 or self.max_body_bytes < 1 or self.max_pixels < 1:
            raise UnmaskError("the upload size, body size and pixel caps must be positive")
        if self.backend not in BACKENDS:
            raise UnmaskError(f"unknown backend {self.backend!r}; use {' or '.join(BACKENDS)}")
        if self.read_timeout <= 0 or self.min_upload_rate < 1 or self.study_trial_ttl <= 0:
            raise UnmaskError("the read timeout, minimum upload rate and study trial lifetime must be positive")
        if self.study_ip_rate < 1 or self.study_participant_rate < 1:
            raise UnmaskError("the study rate limits must be at least 1 per minute")
        if not self.allowed_hosts:
            raise UnmaskError("allow at least one Host name (or '*' for any)")

    def worker_threads(self) -> int:
        """Threads each worker may use: the setting, or the cores shared out between the workers."""
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)
