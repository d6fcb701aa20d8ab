"""Refuse oversized and absurdly nested request bodies before anything parses them.

An ASGI middleware: a declared ``Content-Length`` above the limit is answered
413 at once (the body is never received); a body is buffered as it streams and
cut off with 413 as soon as it passes the limit, so neither the JSON parser nor
the handler ever sees it. A body nested deeper than :data:`MAX_JSON_DEPTH` is
answered 400 without parsing: the JSON parser recurses once per level, and how
deep it may go is the process's recursion limit, which any imported library may
raise (py_ecc sets 100,000, where a 200 kB body of brackets overflows the C
stack and kills the process).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


# Far deeper than any input the API takes (a batch of rows is 3 levels), far shallower than a parser's stack.
MAX_JSON_DEPTH = 64


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether ``body``'s brackets nest deeper than ``limit``.

    Brackets inside strings count too: an over-estimate, which only refuses bodies with
    many unbalanced brackets in strings, which no input of this API has.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case, at C speed: too few brackets to nest that deep
    import numpy as np

    data = np.frombuffer(body, dtype=np.uint8)
    opens = (data == ord("[")) | (data == ord("{"))
    closes = (data == ord("]")) | (data == ord("}"))
    return int(np.cumsum(opens.astype(np.int32) - closes.astype(np.int32)).max()) > limit


async def _refuse(send: Send, status: int, title: str, detail: str, kind: str) -> None:
    # RFC 9457 problem details, as every other error of the API (zkml.serve.problems).
    problem = {"type": f"urn:zkml:problem:{kind}", "title": title, "status": status, "detail": detail, "kind": kind}
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(problem).encode()})


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, "Content Too Large", f"request body larger than {limit} bytes", "body_too_large")


class BodyLimit:
    """Wraps an ASGI app; ``on_refused`` is called with the problem's kind for each refusal (metrics)."""

    def __init__(self, app: ASGIApp, limit: int, on_refused: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            self._refused("body_too_large")
            await _too_large(send, self.limit)
            return
        # Buffer up to the limit (a declared length may lie) before the app sees any of it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                self._refused("body_too_large")
                await _too_large(send, self.limit)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if nested_deeper_than(body, MAX_JSON_DEPTH):
            self._refused("malformed_json")
            detail = f"the body nests deeper than {MAX_JSON_DEPTH} levels; no input of this API needs more than 3"
            await _refuse(send, 400, "Bad Request", detail, "malformed_json")
            return
        replay = [{"type": "http.request", "body": body, "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    def _refused(self, kind: str) -> None:
        if self.on_refused is not None:
            self.on_refused(kind)
