"""Load test of ``unmask serve`` on loopback: N simultaneous clients post a photo to /api/v1/remove.

Starts the server as a subprocess, warms it with one request, fires the clients at once (a barrier), samples the
resident memory of the server's whole process tree (server, fork server, workers) every 20 ms, and prints the
status counts, latencies and memory. Every request goes to 127.0.0.1 only, and the run stops by itself.

    python benchmarks/server_load.py --clients 50 --workers 1 --queue 4 --side 2048

``--mixed`` runs hostile clients beside the real ones for ``--seconds`` instead: ``--clients`` clients post the
photo again and again (waiting Retry-After on a 503), ``--slow`` clients send request headers or bodies a byte
every 2 s (reconnecting when dropped), ``--oversized`` clients send 200 MB bodies to the study endpoints. It
prints the status counts of each kind, p50/p95 latency of the real clients' answers and the server tree's memory
before, at its peak and after.

    python benchmarks/server_load.py --mixed --seconds 120 --clients 50 --slow 5 --oversized 2 --side 1024
"""

from __future__ import annotations

import argparse
import io
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image
from skimage import data

from unmask.face import detect_faces
from unmask.occlusion import occlude
from unmask.server.local import process_tree_rss, start_server_process

STUDY_PATHS = ("/api/v1/study/next", "/api/v1/study/answer")


def _photo(side: int) -> tuple[bytes, bytes]:
    """The astronaut with a synthetic surgical mask, resized to side x side: PNG bytes of photo and mask."""
    astronaut = data.astronaut()
    occluded, hole = occlude(astronaut, "surgical", np.random.default_rng(0), face=detect_faces(astronaut)[0])
    occluded = cv2.resize(occluded, (side, side), interpolation=cv2.INTER_CUBIC)
    hole = cv2.resize(hole.astype(np.uint8) * 255, (side, side), interpolation=cv2.INTER_NEAREST)
    encoded = []
    for array in (occluded, hole):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
        encoded.append(buffer.getvalue())
    return encoded[0], encoded[1]


def _start_server(args: argparse.Namespace, folder: Path) -> tuple[subprocess.Popen, str]:
    return start_server_process(["--workers", str(args.workers), "--queue", str(args.queue), "--max-upload-mb", "200",
                                 "--max-pixels", str(args.side ** 2 + 1), "--study-db", str(folder / "none.sqlite"),
                                 "--log-level", "warning"])


def _percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p90, top = np.percentile(values, [50, 90, 100])
    return f"p50 {p50:.2f} s, p90 {p90:.2f} s, max {top:.2f} s"


def main() -> None:
    """Run the load test and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--queue", type=int, default=4)
    parser.add_argument("--side", type=int, default=2048, help="photo side in pixels (upscaled astronaut)")
    parser.add_argument("--rounds", type=int, default=2, help="bursts, to see memory return between them")
    parser.add_argument("--mixed", action="store_true", help="real, slow and oversized clients for --seconds")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the mixed run")
    parser.add_argument("--slow", type=int, default=5, help="mixed run: clients sending a byte every 2 s")
    parser.add_argument("--oversized", type=int, default=2, help="mixed run: clients sending 200 MB study bodies")
    args = parser.parse_args()

    image, mask = _photo(args.side)
    print(f"photo {args.side}x{args.side}: {len(image) / 1e6:.1f} MB PNG (+ {len(mask) / 1e3:.0f} kB mask); "
          f"{args.clients} clients, {args.workers} worker(s), queue {args.queue}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} before the run", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        server, url = _start_server(args, Path(folder))
        try:
            files = {"image": ("photo.png", image), "mask": ("mask.png", mask)}
            started = time.perf_counter()
            warm = httpx.post(f"{url}/api/v1/remove", files=files, timeout=300)
            print(f"warm-up request: {warm.status_code} in {time.perf_counter() - started:.2f} s; "
                  f"server tree RSS {process_tree_rss(server.pid) / 2**20:.0f} MiB", flush=True)
            if args.mixed:
                _mixed(args, url, files, server.pid)
            for round_index in range(0 if args.mixed else args.rounds):
                _burst(args, url, files, server.pid, round_index)
        finally:
            server.terminate()
            server.wait(30)


class MemoryWatch:
    """Samples the resident memory of a process tree every 20 ms while in use: ``before``, ``peak``, ``after``."""

    def __init__(self, pid: int) -> None:
        self.pid, self.before = pid, process_tree_rss(pid)
        self.peak, self.after = self.before, self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, process_tree_rss(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.after = process_tree_rss(self.pid)

    def line(self) -> str:
        """``server tree RSS: before .. MiB, peak .. MiB (+..), after .. MiB``."""
        return (f"server tree RSS: before {self.before / 2**20:.0f} MiB, peak {self.peak / 2**20:.0f} MiB "
                f"(+{(self.peak - self.before) / 2**20:.0f} MiB), after {self.after / 2**20:.0f} MiB")


def _burst(args: argparse.Namespace, url: str, files: dict, server_pid: int, round_index: int) -> None:
    barrier = threading.Barrier(args.clients)

    def client(_: int) -> tuple[int, float, str]:
        barrier.wait()
        started = time.perf_counter()
        try:
            response = httpx.post(f"{url}/api/v1/remove", files=files, timeout=600)
            return response.status_code, time.perf_counter() - started, response.headers.get("retry-after", "")
        except httpx.HTTPError as error:
            return -1, time.perf_counter() - started, type(error).__name__

    started = time.perf_counter()
    with MemoryWatch(server_pid) as memory, ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(client, range(args.clients)))
    wall = time.perf_counter() - started
    statuses = _counts(status for status, _, _ in results)
    ok = [seconds for status, seconds, _ in results if status == 200]
    busy = [seconds for status, seconds, _ in results if status == 503]
    retry = sorted({int(value) for status, _, value in results if status == 503 and value.isdigit()})
    server_errors = sum(count for status, count in statuses.items() if isinstance(status, int) and status >= 500
                        and status != 503)
    print(f"round {round_index + 1}: statuses {statuses} in {wall:.2f} s; "
          f"5xx other than 503: {server_errors}; transport errors: {statuses.get(-1, 0)}")
    print(f"  200 latency {_percentiles(ok)}; 503 latency {_percentiles(busy)}; Retry-After values {retry}")
    print(f"  {memory.line()}", flush=True)


def _counts(items) -> dict:
    counts: dict = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return dict(sorted(counts.items(), key=str))


def _real_client(url: str, files: dict, deadline: float, results: list) -> None:
    """Post the photo until ``deadline``, waiting Retry-After on a 503; records (status, seconds)."""
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            response = httpx.post(f"{url}/api/v1/remove", files=files, timeout=600)
            status, wait = response.status_code, float(response.headers.get("retry-after", 0))
        except httpx.HTTPError:
            status, wait = -1, 1.0
        results.append((status, time.perf_counter() - started))
        if status != 200:
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))


def _slow_client(url: str, deadline: float, body: bool, results: list) -> None:
    """Send a request's headers (or, with ``body``, its body) a byte every 2 s until dropped, then reconnect;
    records (how the connection ended, seconds it was held)."""
    host, port = url.removeprefix("http://").split(":")
    opening = b"POST /api/v1/remove HTTP/1.1\r\nHost: localhost\r\n"
    if body:
        opening += b"Content-Length: 1000000\r\nContent-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n"
    while time.monotonic() < deadline:
        started, outcome = time.monotonic(), "held to the end"
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(opening)
            while time.monotonic() < deadline:
                if select.select([conn], [], [], 2.0)[0]:
                    reply = conn.recv(64)
                    outcome = reply.split(b" ")[1].decode() if reply.startswith(b"HTTP/") else "dropped"
                    break
                try:
                    conn.sendall(b"x" if body else b"X-Slow: 1\r\n")
                except OSError:
                    outcome = "dropped"
                    break
        results.append((outcome, time.monotonic() - started))


def _oversized_client(url: str, deadline: float, path: str, results: list) -> None:
    """Send 200 MB JSON bodies (chunked, 64 kB at a time) to ``path`` until ``deadline``; records each status."""
    host, port = url.removeprefix("http://").split(":")
    chunk = b"[" + b"1," * 32767 + b"1"
    piece = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    while time.monotonic() < deadline:
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         f"Transfer-Encoding: chunked\r\n\r\n".encode())
            try:
                for _ in range(200 * 16):
                    if select.select([conn], [], [], 0)[0]:
                        break
                    conn.sendall(piece)
                reply = conn.recv(64)
            except OSError:
                reply = b""
        results.append(reply.split(b" ")[1].decode() if reply.startswith(b"HTTP/") else "reset")


def _mixed(args: argparse.Namespace, url: str, files: dict, server_pid: int) -> None:
    """Real, slow and oversized clients together for ``args.seconds``; prints what each kind got and the memory."""
    deadline = time.monotonic() + args.seconds
    real: list = []
    slow: list = []
    oversized: list = []
    jobs = [(_real_client, (url, files, deadline, real)) for _ in range(args.clients)]
    jobs += [(_slow_client, (url, deadline, index % 2 == 1, slow)) for index in range(args.slow)]
    jobs += [(_oversized_client, (url, deadline, STUDY_PATHS[index % 2], oversized))
             for index in range(args.oversized)]
    with MemoryWatch(server_pid) as memory, ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(job, *job_args) for job, job_args in jobs]:
            future.result()
    ok = [seconds for status, seconds in real if status == 200]
    p50, p95 = np.percentile(ok, [50, 95]) if ok else (float("nan"), float("nan"))
    print(f"mixed run, {args.seconds:g} s: {args.clients} real clients, {args.slow} slow, {args.oversized} oversized")
    print(f"  real clients: statuses {_counts(status for status, _ in real)}; 200 latency p50 {p50:.2f} s, "
          f"p95 {p95:.2f} s")
    held = [seconds for _, seconds in slow]
    print(f"  slow clients: connections ended {_counts(outcome for outcome, _ in slow)}; held "
          f"{_percentiles(held)}")
    print(f"  oversized clients: statuses {_counts(oversized)}")
    print(f"  {memory.line()}", flush=True)


if __name__ == "__main__":
    main()
