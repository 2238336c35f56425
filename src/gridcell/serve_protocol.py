"""The HTTP protocol `gridcell serve` runs: uvicorn's httptools protocol with deadlines for the request head and
body.

uvicorn closes a kept-alive connection that stays idle after a response, but not one that opens and then
sends its request head slowly, or never finishes it (slowloris): a thousand of those hold a thousand sockets
for as long as the peer likes. Here the head (request line and headers) must be complete within
`HEAD_TIMEOUT_S` of the connection opening or the previous response ending, and the body within
`BODY_TIMEOUT_S` of the head; otherwise the connection is closed (the handler sees the client disconnect and
nothing is stored).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0


class HeadTimeoutProtocol(HttpToolsProtocol):
    head_timeout_s = HEAD_TIMEOUT_S
    body_timeout_s = BODY_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._arm(self.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm_head(self) -> None:
        self._disarm()
        self._arm(self.head_timeout_s)

    def _arm(self, seconds: float) -> None:
        self._timer: Any = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol(head_timeout_s: float, body_timeout_s: float = BODY_TIMEOUT_S) -> type[HeadTimeoutProtocol]:
    """The protocol class with these deadlines (uvicorn takes a class)."""
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,),
                {"head_timeout_s": head_timeout_s, "body_timeout_s": body_timeout_s})
