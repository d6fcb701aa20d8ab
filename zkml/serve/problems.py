"""Every error of the HTTP API in one shape: RFC 9457 problem details (``application/problem+json``).

The body has ``type`` (``urn:zkml:problem:<kind>``), ``title`` (the status's phrase),
``status``, ``detail`` (one line, the CLI's wording where there is one) and ``kind``
(what the failures metric counts). A :class:`~zkml.errors.ZkmlError` gets its status
from its class: bad input or config 422, a chain that failed or refused 502, the rest 500.
Malformed JSON is 400, a body that is not JSON 415, other validation errors 422.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from zkml.errors import AttestationError, ChainError, ConfigError, InputDataError, ZkmlError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from zkml.serve.metrics import ServeMetrics

MEDIA_TYPE = "application/problem+json"
# Kinds of the plain HTTPExceptions FastAPI and the routes raise, by status.
_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 409: "conflict", 502: "chain_error"}


def status_for(exc: ZkmlError) -> int:
    """The HTTP status a library error answers with, by its class."""
    if isinstance(exc, InputDataError | ConfigError | AttestationError):
        return 422
    if isinstance(exc, ChainError):
        return 502
    return 500


def problem(status: int, detail: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json response."""
    from fastapi.responses import JSONResponse

    body = {"type": f"urn:zkml:problem:{kind}", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, "kind": kind}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _validation(request: Request, exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    content_type = request.headers.get("content-type", "")
    if request.method in ("POST", "PUT", "PATCH") and content_type and "json" not in content_type:
        return 415, f"the body is {content_type.split(';')[0]}; send JSON (Content-Type: application/json)", "unsupported_media_type"
    if any(error.get("type") == "json_invalid" for error in errors):
        where = next(e for e in errors if e.get("type") == "json_invalid")
        return 400, f"the body is not valid JSON ({where.get('ctx', {}).get('error', 'parse error')})", "malformed_json"
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', 'invalid')}" for e in errors]
    return 422, "; ".join(parts), "invalid_request"


def install(app: FastAPI, metrics: ServeMetrics) -> None:
    """Answer every error of ``app`` with problem+json (and count it in the failures metric by kind)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(ZkmlError)
    async def zkml_error(request: Request, exc: ZkmlError) -> JSONResponse:
        kind = type(exc).__name__
        metrics.failure(kind)
        return problem(status_for(exc), str(exc), kind)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail, kind = _validation(request, exc)
        metrics.failure(kind)
        return problem(status, detail, kind)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = getattr(exc, "kind", None) or _KINDS.get(exc.status_code, f"http_{exc.status_code}")
        return problem(exc.status_code, str(exc.detail), kind, headers=dict(exc.headers) if exc.headers else None)


__all__ = ["MEDIA_TYPE", "install", "problem", "status_for"]
