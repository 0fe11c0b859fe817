"""How uvicorn serves the app: HTTP/1.1 through h11 with a deadline on every request's headers.

uvicorn times out idle keep-alive connections, but any byte restarts that clock and nothing bounds the time to
send a request's headers, so a client trickling a header line every few seconds holds its connection forever.
The protocol here closes a connection whose next request's headers are not complete ``read_timeout`` seconds
after it opened or after its last response. Bodies are timed by :class:`unmask.server.limits.BodyDeadline`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEADER_BYTES = 16 * 1024  # h11's limit on a request line and headers (its default, stated here)


class HeaderDeadlineProtocol(H11Protocol):
    """h11 protocol that drops a connection whose request headers take longer than ``header_timeout`` seconds."""

    header_timeout = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._await_headers()

    def on_response_complete(self) -> None:
        """Start the clock for the next request's headers on this connection."""
        finished = self.cycle
        super().on_response_complete()
        self._await_headers(finished)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock (its handle would keep this connection's buffers alive until it rang)."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def _await_headers(self, finished: Any = None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.header_timeout, self._close_if_no_request, finished)

    def _close_if_no_request(self, finished: Any) -> None:
        self._deadline = None
        if self.cycle is finished and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app: FastAPI, read_timeout: float, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app``: h11 with the header deadline; ``options`` as ``uvicorn.Config``'s."""
    protocol = type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": read_timeout})
    return uvicorn.Config(app, http=protocol, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                          timeout_keep_alive=max(1, min(5, int(read_timeout))), **options)
