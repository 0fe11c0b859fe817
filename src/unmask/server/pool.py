"""A bounded pool of pipeline worker processes: admit a request or tell the client when to come back."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from unmask.server.jobs import init_worker, timed_call

JOBS_MODULE = "unmask.server.jobs"  # imported once by the fork server, so each worker starts warm


class WorkerCrashed(Exception):
    """A worker process died (killed, out of memory); the pool has been restarted."""


class WorkerPool:
    """``workers`` processes behind a queue of ``queue`` places; ``admit()`` is False when all are taken.

    Admission covers a request from its first byte to its last, so the number of uploads held in memory and
    of jobs waiting for a worker are both bounded by ``capacity``. Workers are forked from a fork server that
    has imported the pipeline once, so a crashed pool restarts in well under a second.
    """

    def __init__(self, workers: int, queue: int, threads: int) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.threads = threads
        self.admitted = 0
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._durations: deque[float] = deque([1.0], maxlen=32)

    def admit(self) -> bool:
        """Take a place for one request, or return False when the pool and its queue are full."""
        with self._lock:
            if self.admitted >= self.capacity:
                return False
            self.admitted += 1
            return True

    def release(self) -> None:
        """Give back the place taken by ``admit``."""
        with self._lock:
            self.admitted -= 1

    def retry_after(self) -> int:
        """Seconds after which a refused client may find a free place: the queue's expected drain time.

        Uses the mean worker time of the last jobs (1 s before the first one).
        """
        mean = sum(self._durations) / len(self._durations)
        return max(1, math.ceil(mean * self.capacity / self.workers))

    def _executor_now(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([JOBS_MODULE])
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=init_worker,
                                                     initargs=(self.threads,))
            return self._executor

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` in a worker and return its result; its exceptions are raised here."""
        executor = self._executor_now()
        try:
            result, seconds = await asyncio.wrap_future(executor.submit(timed_call, function, *args))
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise WorkerCrashed("a pipeline worker stopped unexpectedly; it has been restarted, try again") from None
        self._durations.append(seconds)
        return result

    def close(self) -> None:
        """Stop the worker processes."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
