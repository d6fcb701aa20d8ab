"""What the routes depend on: the service (from ``app.state``), tokens with a scope, and counted refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request

from zkml.serve.schemas import Problem
from zkml.serve.service import Service
from zkml.serve.tokens import Token, lookup_token


def get_service(request: Request) -> Service:
    """The service the app was built over (``create_app`` puts it in ``app.state``)."""
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring that these statuses answer an RFC 9457 problem."""
    return {status: {"model": Problem, "description": "application/problem+json"} for status in statuses}


def refuse(service: Service, status: int, detail: str, kind: str, headers: dict[str, str] | None = None) -> HTTPException:
    """An HTTPException to raise, counted in the failures metric by ``kind`` (the problem+json handler reports it)."""
    service.metrics.failure(kind)
    error = HTTPException(status_code=status, detail=detail, headers=headers)
    error.kind = kind  # type: ignore[attr-defined]
    return error


def token_with(scope: str) -> Callable[..., Token]:
    """A dependency that yields the caller's token, refusing a missing or unknown one (401) or one without ``scope`` (403)."""

    def check(service: ServiceDep, authorization: Annotated[str | None, Header()] = None) -> Token:
        if not authorization or not authorization.startswith("Bearer "):
            detail = "an API token is required: send `Authorization: Bearer <token>` (make one with `zkml serve token`)"
            raise refuse(service, 401, detail, "unauthorized", {"WWW-Authenticate": "Bearer"})
        token = lookup_token(service.store, authorization.removeprefix("Bearer ").strip())
        if token is None:
            raise refuse(service, 401, "unknown or revoked API token", "unauthorized", {"WWW-Authenticate": "Bearer"})
        if scope not in token.scopes:
            raise refuse(service, 403, f"this token lacks the {scope!r} scope", "forbidden")
        return token

    return check


ProveToken = Annotated[Token, Depends(token_with("prove"))]
