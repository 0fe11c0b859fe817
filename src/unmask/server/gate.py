"""ASGI middleware in front of the upload endpoints: admission to the worker pool, and cancellation when the
client goes away.

A request takes a place in the pool only once its whole body has arrived (the body cap and the read deadline
bound what happens before), so slow clients cannot hold the places. A full pool is answered 503 with Retry-After
before the body is read, and again if it filled up while the body arrived. When the client disconnects while its
request is admitted, the request is cancelled: its job is dropped from the queue (or its result discarded if a
worker already runs it) and its place is given back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unmask.server.pool import WorkerPool


async def send_error(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON error response ``{"detail": ...}``."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(key.lower().encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class UploadGate:
    """Guard ``paths``: at most ``pool.capacity`` requests admitted at once, each from its last body byte on."""

    def __init__(self, app: ASGIApp, pool: WorkerPool, paths: frozenset[str]) -> None:
        self.app, self.pool, self.paths = app, pool, paths

    def _busy(self) -> tuple[str, dict[str, str]]:
        seconds = self.pool.retry_after()
        return (f"the server is busy ({self.pool.capacity} requests in progress); retry in {seconds} s",
                {"Retry-After": str(seconds)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if self.pool.admitted >= self.pool.capacity:
            await send_error(send, 503, *self._busy())
            return
        admitted = asyncio.Event()

        async def admitting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False) and not admitted.is_set():
                if not self.pool.admit():
                    raise HTTPException(503, *self._busy())
                admitted.set()
            return message

        request = asyncio.ensure_future(self.app(scope, admitting_receive, send))
        gone = asyncio.ensure_future(_disconnected(receive, admitted))
        try:
            done, _ = await asyncio.wait({request, gone}, return_when=asyncio.FIRST_COMPLETED)
            if request in done:
                request.result()  # the app's own exceptions go on up
            else:  # the client left: stop its job
                request.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await request
        finally:
            request.cancel()
            gone.cancel()
            if admitted.is_set():
                self.pool.release()


async def _disconnected(receive: Receive, body_received: asyncio.Event) -> None:
    """Return when the client disconnects after sending its whole body (the app reads no more by then)."""
    await body_received.wait()
    while (await receive())["type"] != "http.disconnect":
        pass
