"""ASGI middleware in front of the upload endpoints: admission to the worker pool and the request-body cap.

Both answer before the body is read: a full pool gets 503 with Retry-After, a declared Content-Length over the
cap gets 413; a body that grows past the cap while streaming (no or a false Content-Length) stops with 413 too.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unmask.server.pool import WorkerPool


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


async def send_error(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON error response ``{"detail": ...}``."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(key.lower().encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class UploadGate:
    """Guard ``paths``: at most ``pool.capacity`` requests inside at once, bodies of at most ``max_bytes``."""

    def __init__(self, app: ASGIApp, pool: WorkerPool, max_bytes: int, paths: frozenset[str]) -> None:
        self.app, self.pool, self.max_bytes, self.paths = app, pool, max_bytes, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(send, 413, f"the upload is {_megabytes(int(declared))}, over the server's limit of "
                                        f"{_megabytes(self.max_bytes)}; send a smaller photo")
            return
        if not self.pool.admit():
            seconds = self.pool.retry_after()
            await send_error(send, 503, f"the server is busy ({self.pool.capacity} requests in progress); "
                                        f"retry in {seconds} s", {"Retry-After": str(seconds)})
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, f"the upload is over the server's limit of {_megabytes(self.max_bytes)}; "
                                         f"send a smaller photo")
            return message

        try:
            await self.app(scope, counted_receive, send)
        finally:
            self.pool.release()
