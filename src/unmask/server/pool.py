"""A bounded pool of pipeline worker processes: admit a request or tell the client when to come back."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import threading
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from unmask.server.tasks import JOBS_MODULE, init_worker, run_job


class WorkerCrashed(Exception):
    """A worker process died (killed, out of memory); the pool has been restarted."""


class WorkerPool:
    """``workers`` processes behind a queue of ``queue`` places; ``admit()`` is False when all are taken.

    Admission covers a request from the end of its body to its last byte out (``gate.UploadGate``), so the
    number of uploads held in memory and of jobs waiting for a worker are both bounded by ``capacity``. Workers
    are forked from a fork server that has imported the pipeline once, so a crashed pool restarts in well under a
    second.
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
                context.set_forkserver_preload([JOBS_MODULE])  # imported once, so every worker starts warm
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=init_worker,
                                                     initargs=(self.threads, os.getpid()))
            return self._executor

    def warm(self, *args: Any) -> None:
        """Start every worker now instead of on the first request (blocks while the fork server first starts).

        ``args`` go to ``jobs.warm_up``.
        """
        executor = self._executor_now()
        for _ in range(self.workers):
            executor.submit(run_job, "warm_up", *args)

    async def run(self, job: str, *args: Any) -> Any:
        """Run ``unmask.server.jobs.<job>(*args)`` in a worker and return its result; its exceptions raise here.

        Cancelling the call drops the job if no worker has started it yet; a started job runs on, unread.
        """
        executor = self._executor_now()
        # submit() may wait for a worker to be forked (seconds while the fork server first imports the pipeline),
        # so it runs in a thread and the event loop keeps answering.
        submitted = asyncio.ensure_future(asyncio.to_thread(executor.submit, run_job, job, *args))
        try:
            try:
                future = await asyncio.shield(submitted)
            except asyncio.CancelledError:  # the client left while the job was handed over: drop it once it is
                submitted.add_done_callback(lambda task: task.cancelled() or task.exception() or task.result().cancel())
                raise
            # Cancelling this await (the client left) cancels the job if it still waits for a worker.
            result, seconds = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise WorkerCrashed("a pipeline worker stopped unexpectedly; it has been restarted, try again") from None
        self._durations.append(seconds)
        return result

    def close(self) -> None:
        """Stop the worker processes once their current job is done; queued jobs are dropped."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
