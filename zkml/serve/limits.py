"""Refuse oversized request bodies before anything reads them.

An ASGI middleware: a declared ``Content-Length`` above the limit is answered
413 at once (the body is never received); a body without one (chunked) is
buffered as it streams and cut off with 413 as soon as it passes the limit, so
neither the JSON parser nor the handler ever sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def _refuse(send: Send, limit: int) -> None:
    # RFC 9457 problem details, as every other error of the API (zkml.serve.problems).
    problem = {
        "type": "urn:zkml:problem:body_too_large", "title": "Content Too Large", "status": 413,
        "detail": f"request body larger than {limit} bytes", "kind": "body_too_large",
    }  # fmt: skip
    body = json.dumps(problem).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/problem+json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Wraps an ASGI app; ``on_refused`` is called for each refusal (metrics)."""

    def __init__(self, app: ASGIApp, limit: int, on_refused: Callable[[], None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            self._refused()
            await _refuse(send, self.limit)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): buffer up to the limit before the app sees any of it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                self._refused()
                await _refuse(send, self.limit)
                return
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    def _refused(self) -> None:
        if self.on_refused is not None:
            self.on_refused()
