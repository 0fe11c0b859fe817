"""Hostile clients on loopback: slow headers and bodies, clients that leave, huge bodies, foreign Host headers, long
user input. Each test failed before the server bounded requests in size and time (issue 26)."""

import asyncio
import io
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from unmask.server.app import create_app
from unmask.server.local import process_tree_rss, serve_in_background
from unmask.server.settings import Settings

READ_TIMEOUT = 3.0


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo(astronaut):
    """The astronaut (PNG) and a hole over its mouth (PNG)."""
    hole = np.zeros(astronaut.shape[:2], np.uint8)
    hole[160:200, 200:260] = 255
    return _png(astronaut), _png(hole)


@pytest.fixture(scope="module")
def server(tmp_path_factory, photo):
    """A warm server on loopback (one worker, one queue place, a short read timeout) and its app."""
    settings = Settings(workers=1, queue=1, read_timeout=READ_TIMEOUT, min_upload_rate=64 * 1024,
                        max_upload_bytes=2 * 1024 * 1024, study_db=tmp_path_factory.mktemp("study") / "none.sqlite")
    app = create_app(settings)
    with serve_in_background(app) as url:
        assert _remove(url, photo).status_code == 200  # starts the worker
        yield url, app


def _remove(url: str, photo: tuple[bytes, bytes], **options) -> httpx.Response:
    files = {"image": ("a.png", photo[0]), "mask": ("m.png", photo[1])}
    return httpx.post(f"{url}/api/v1/remove", files=files, data={"model": "telea"}, timeout=120, **options)


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _raw_request(url: str, photo: tuple[bytes, bytes]) -> bytes:
    """The bytes of a complete ``POST /api/v1/remove`` (telea, with the mask)."""
    request = httpx.Request("POST", f"{url}/api/v1/remove", files={"image": ("a.png", photo[0]),
                                                                   "mask": ("m.png", photo[1])},
                            data={"model": "telea"})
    body = request.read()
    head = "".join(f"{key}: {value}\r\n" for key, value in request.headers.items())
    return f"POST /api/v1/remove HTTP/1.1\r\n{head}\r\n".encode() + body


def _reply(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or resets it)."""
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def _trickle(url: str, opening: bytes, drip: bytes, seconds: float = 20.0) -> tuple[bytes, float]:
    """Send ``opening`` then ``drip`` every 0.3 s until the server answers or closes: (what came back, when)."""
    start = time.monotonic()
    with _connect(url) as conn:
        conn.sendall(opening)
        while time.monotonic() - start < seconds:
            if select.select([conn], [], [], 0.3)[0]:
                return _reply(conn), time.monotonic() - start
            try:
                conn.sendall(drip)
            except (BrokenPipeError, ConnectionResetError):
                return b"", time.monotonic() - start
    return b"still open", seconds


def test_slow_headers_and_bodies_cannot_hold_the_api(server, photo):
    url, app = server
    slow_headers = b"POST /api/v1/remove HTTP/1.1\r\nHost: localhost\r\n"
    slow_body = (b"POST /api/v1/remove HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n"
                 b"Content-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n")
    with ThreadPoolExecutor(5) as executor:
        slow = [executor.submit(_trickle, url, slow_headers, b"X-Slow: 1\r\n") for _ in range(2)]
        slow += [executor.submit(_trickle, url, slow_body, b"x") for _ in range(3)]
        time.sleep(0.5)  # all five are connected and sending
        statuses = [_remove(url, photo).status_code for _ in range(3)]
        answers = [future.result() for future in slow]
    assert statuses == [200, 200, 200]  # the slow clients held no place in the pool
    for reply, seconds in answers[:2]:  # headers never completed: dropped without a reply
        assert reply == b"" and seconds < READ_TIMEOUT + 3
    for reply, seconds in answers[2:]:  # a body at 3 bytes/s: 408, well before it could finish
        assert reply.startswith(b"HTTP/1.1 408") and b"too slowly" in reply and seconds < READ_TIMEOUT + 3
    assert app.state.pool.admitted == 0


def test_a_client_that_leaves_frees_its_place_at_once(server, photo, astronaut):
    url, app = server
    pool = app.state.pool
    busy = _png(cv2.resize(astronaut, (1024, 1024)))

    async def ahead() -> None:  # seconds of work queued ahead of the client's job
        await asyncio.gather(*[pool.run("detect_job", busy) for _ in range(12)])

    background = threading.Thread(target=asyncio.run, args=(ahead(),))
    background.start()
    try:
        with _connect(url) as conn:
            conn.sendall(_raw_request(url, photo))
            deadline = time.monotonic() + 10
            while pool.admitted == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert pool.admitted == 1  # its body is in: admitted, its job queued behind the others
        left = time.monotonic()
        while pool.admitted and time.monotonic() - left < 5:
            time.sleep(0.01)
        freed = time.monotonic() - left
        assert background.is_alive()  # the worker is still busy: the place came back without the job running
        assert freed < 1.0, freed
    finally:
        background.join()
    assert _remove(url, photo).status_code == 200
    deadline = time.monotonic() + 5  # the place is given back just after the reply's last byte
    while pool.admitted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.admitted == 0


def _huge_body(url: str, path: str, declared: bool, size: int = 200 * 1024 * 1024) -> bytes:
    """Send a JSON body of ``size`` bytes (declared by Content-Length, or chunked) until the server answers."""
    framing = f"Content-Length: {size}" if declared else "Transfer-Encoding: chunked"
    chunk = b"[" + b"1," * 32767 + b"1"  # 64 kB of a JSON array
    piece = chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk)
    with _connect(url) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{framing}\r\n"
                     f"\r\n".encode())
        for _ in range(size // len(chunk)):
            if select.select([conn], [], [], 0)[0]:
                break
            try:
                conn.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        return _reply(conn)


def test_huge_study_bodies_get_413_and_cost_no_memory(server):
    url, _ = server
    baseline, peak, done = process_tree_rss(), [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process_tree_rss())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    jobs = [("/api/v1/study/next", True), ("/api/v1/study/answer", True), ("/api/v1/study/next", False),
            ("/api/v1/study/answer", False)]
    with ThreadPoolExecutor(4) as executor:
        replies = list(executor.map(lambda job: _huge_body(url, *job), jobs))
        for _ in range(150):  # and hundreds more: nothing of a refused connection stays behind
            executor.map(lambda job: _huge_body(url, *job), jobs)
    done.set()
    watcher.join()
    for reply in replies:
        assert reply.startswith(b"HTTP/1.1 413") and b"over the server's limit of 64 kB" in reply, reply[:200]
    assert peak[0] - baseline < 50 * 1024 * 1024, (baseline, peak[0])


def test_only_allowed_host_names_are_served(tmp_path):
    settings = Settings(study_db=tmp_path / "none.sqlite", allowed_hosts=("studies.example.org",))
    app = create_app(settings)
    with TestClient(app, base_url="http://studies.example.org") as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz", headers={"Host": "attacker.example"}).status_code == 400
    with TestClient(create_app(Settings(study_db=tmp_path / "none.sqlite"))) as client:  # local names by default
        assert client.get("/healthz").status_code == 400
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
            assert client.get("/healthz", headers={"Host": host}).status_code == 200, host


def test_user_input_is_quoted_short_and_no_server_path_is_named(server, photo, tmp_path):
    url, app = server
    name = "x" * 900_000
    response = httpx.post(f"{url}/api/v1/remove", files={"image": ("a.png", photo[0])}, data={"model": name},
                          timeout=60)
    assert response.status_code == 400 and len(response.content) < 1000
    assert "unknown model 'xxxx" in response.json()["detail"] and "900,000 characters" in response.json()["detail"]
    study = httpx.get(f"{url}/api/v1/study", timeout=10)
    assert study.status_code == 404
    for secret in (str(app.state.settings.study_db.parent), "none.sqlite", str(tmp_path.parent)):
        assert secret not in study.text
