"""ASGI middleware that bounds every request body in size and in time.

A body over its path's cap gets 413: before a byte of it is read when Content-Length declares it, else as soon
as the count passes the cap. A client that stops sending, or sends slower than a minimum rate, gets 408. Both
close the connection, so a client cannot hold memory or server places by being large or slow. The errors are
raised from ``receive``, so the app's error handlers answer them. Request headers are timed by
:mod:`unmask.server.http`.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = {"Connection": "close"}


def size(count: int) -> str:
    """A byte count for messages: ``2.0 MB`` or ``64 kB``."""
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count / 1024:.0f} kB"


class BodyLimits:
    """Bodies of at most ``upload_bytes`` on ``upload_paths`` and ``other_bytes`` elsewhere; each body piece within
    ``read_timeout`` s, the whole body by ``start + read_timeout + received / min_rate`` (``min_rate`` bytes/s)."""

    def __init__(self, app: ASGIApp, upload_paths: frozenset[str], upload_bytes: int, other_bytes: int,
                 read_timeout: float, min_rate: int) -> None:
        self.app, self.upload_paths = app, upload_paths
        self.upload_bytes, self.other_bytes = upload_bytes, other_bytes
        self.read_timeout, self.min_rate = read_timeout, min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.upload_bytes if scope["path"] in self.upload_paths else self.other_bytes
        too_large = HTTPException(413, f"the request body is over the server's limit of {size(cap)}; send a "
                                       f"smaller one", CLOSE)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        start, received, complete = time.monotonic(), 0, False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body: waiting for a disconnect is not timed
                return await receive()
            if declared.isdigit() and int(declared) > cap:  # refused before a byte of the body is read
                raise too_large
            wait = min(self.read_timeout, start + self.read_timeout + received / self.min_rate - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0.0))
            except TimeoutError:
                raise HTTPException(408, f"the request body arrived too slowly (under {size(self.min_rate)}/s or "
                                         f"a pause over {self.read_timeout:g} s); send it again", CLOSE) from None
            received += len(message.get("body", b""))
            if received > cap:
                raise too_large
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, limited_receive, send)
