"""Load test of ``unmask serve`` on loopback: N simultaneous clients post a photo to /api/v1/remove.

Starts the server as a subprocess, warms it with one request, fires the clients at once (a barrier), samples the
resident memory of the server's whole process tree (server, fork server, workers) every 20 ms, and prints the
status counts, latencies and memory. Every request goes to 127.0.0.1 only, and the run stops by itself.

    python benchmarks/server_load.py --clients 50 --workers 1 --queue 4 --side 2048
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
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
from unmask.server.local import process_tree_rss


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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "unmask.cli", "serve", "--port", str(port), "--workers", str(args.workers),
               "--queue", str(args.queue), "--max-upload-mb", "200", "--max-pixels", str(args.side ** 2 + 1),
               "--study-db", str(folder / "none.sqlite"), "--log-level", "warning"]
    server = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
            return server, url
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start within 120 s")


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
            for round_index in range(args.rounds):
                _burst(args, url, files, server.pid, round_index)
        finally:
            server.terminate()
            server.wait(30)


def _burst(args: argparse.Namespace, url: str, files: dict, server_pid: int, round_index: int) -> None:
    baseline = process_tree_rss(server_pid)
    peak = [baseline]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process_tree_rss(server_pid))
            time.sleep(0.02)

    barrier = threading.Barrier(args.clients)

    def client(_: int) -> tuple[int, float, str]:
        barrier.wait()
        started = time.perf_counter()
        try:
            response = httpx.post(f"{url}/api/v1/remove", files=files, timeout=600)
            return response.status_code, time.perf_counter() - started, response.headers.get("retry-after", "")
        except httpx.HTTPError as error:
            return -1, time.perf_counter() - started, type(error).__name__

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(client, range(args.clients)))
    wall = time.perf_counter() - started
    done.set()
    watcher.join()
    statuses: dict[int, int] = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    ok = [seconds for status, seconds, _ in results if status == 200]
    busy = [seconds for status, seconds, _ in results if status == 503]
    retry = sorted({int(value) for status, _, value in results if status == 503 and value.isdigit()})
    server_errors = sum(count for status, count in statuses.items() if status >= 500 and status != 503)
    print(f"round {round_index + 1}: statuses {dict(sorted(statuses.items()))} in {wall:.2f} s; "
          f"5xx other than 503: {server_errors}; transport errors: {statuses.get(-1, 0)}")
    print(f"  200 latency {_percentiles(ok)}; 503 latency {_percentiles(busy)}; Retry-After values {retry}")
    print(f"  server tree RSS: before {baseline / 2**20:.0f} MiB, peak {peak[0] / 2**20:.0f} MiB "
          f"(+{(peak[0] - baseline) / 2**20:.0f} MiB), after {process_tree_rss(server_pid) / 2**20:.0f} MiB",
          flush=True)


if __name__ == "__main__":
    main()
