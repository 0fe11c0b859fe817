"""Memory of huge photos: `unmask remove` on a 118-megapixel JPEG, and a 6300 x 6300 JPEG posted to `unmask serve`.

Both photos are the astronaut scaled up (its face stays large, so the pipeline works on a reduced copy and pastes the
result back at full size). Prints the peak resident memory of the CLI process, and of the server's process tree
(server, fork server, worker) before, at its peak and after the upload, with the time each took and the size of
the result. Everything runs on 127.0.0.1 and stops by itself.

    python benchmarks/large_photo.py [--side 10860] [--upload-side 6300]
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import httpx
from PIL import Image
from skimage import data

from unmask.server.local import process_tree_rss, start_server_process

MIB = 2 ** 20


def _jpeg(side: int, path: Path) -> Path:
    """The astronaut scaled to side x side, saved as a JPEG (quality 80)."""
    Image.fromarray(cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)).save(path, quality=80)
    return path


def cli_run(photo: Path, out: Path) -> None:
    """`unmask remove` on one photo in a child process; prints its peak resident memory and time."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "unmask.cli", "remove", str(photo), "-o", str(out)], check=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the largest child so far: this one
    with Image.open(out / photo.name) as result:
        size = result.size
    print(f"CLI remove {photo.stat().st_size / 1e6:.1f} MB JPEG of {size[0]}x{size[1]} "
          f"({size[0] * size[1] / 1e6:.0f} MP): peak RSS {peak / MIB:.0f} MiB, {seconds:.1f} s, result {size[0]}x"
          f"{size[1]}", flush=True)


def server_run(photo: Path, folder: Path) -> None:
    """Post ``photo`` to a fresh `unmask serve`; prints the server tree's memory before, at peak and after."""
    server, url = start_server_process(["--max-upload-mb", "50", "--study-db", str(folder / "none.sqlite"),
                                        "--log-level", "warning"])
    try:
        small = io.BytesIO()
        Image.fromarray(data.astronaut()).save(small, format="JPEG")
        httpx.post(f"{url}/api/v1/remove", files={"image": ("warm.jpg", small.getvalue())}, timeout=300)
        before, peak, done = process_tree_rss(server.pid), [0], threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], process_tree_rss(server.pid))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.perf_counter()
        response = httpx.post(f"{url}/api/v1/remove", files={"image": (photo.name, photo.read_bytes())}, timeout=600)
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
        size = Image.open(io.BytesIO(response.content)).size if response.status_code == 200 else None
        print(f"server upload {photo.stat().st_size / 1e6:.1f} MB JPEG: {response.status_code} in {seconds:.1f} s, "
              f"result {size}; server tree RSS before {before / MIB:.0f} MiB, peak {peak[0] / MIB:.0f} MiB "
              f"(+{(peak[0] - before) / MIB:.0f}), after {process_tree_rss(server.pid) / MIB:.0f} MiB", flush=True)
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    """Make the two photos, run both measurements and print their numbers."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=10860, help="side of the CLI photo (10860: 118 MP)")
    parser.add_argument("--upload-side", type=int, default=6300, help="side of the uploaded photo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        cli_run(_jpeg(args.side, folder / "huge.jpg"), folder / "out")
        server_run(_jpeg(args.upload_side, folder / "upload.jpg"), folder)


if __name__ == "__main__":
    main()
