"""The HTTP API (FastAPI; OpenAPI docs at ``/docs``), the live page at ``/`` and ``/metrics``.

Posting a job spends prover time, so it needs a token with the ``prove`` scope
(and ``publish`` to publish); reading needs none. The routes live in
:mod:`zkml.serve.routes`, one router per resource, each reaching the service
through a dependency that reads ``app.state.service``; this module only
assembles them, with the error handlers (every error is RFC 9457 problem+json,
:mod:`zkml.serve.problems`), the request counter and the body-size guard.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from zkml.serve.service import Service

if TYPE_CHECKING:
    from fastapi import FastAPI, Request, Response

    from zkml.serve.limits import BodyLimit

log = logging.getLogger(__name__)


def create_app(service: Service) -> BodyLimit:
    """The ASGI app over a started :class:`~zkml.serve.service.Service`."""
    from fastapi import FastAPI

    from zkml.serve.limits import BodyLimit
    from zkml.serve.problems import install as install_problems
    from zkml.serve.routes import routers

    app = FastAPI(title="zkml serve", version="1", description="Proof jobs on warm provers; verified predictions to the oracle.")
    app.state.service = service
    for router in routers():
        app.include_router(router)
    install_problems(app, service.metrics)
    _count_requests(app)
    return BodyLimit(app, service.config.max_body_bytes, on_refused=service.metrics.failure)


def _count_requests(app: FastAPI) -> None:
    """Count every answered request by its route's template (``/v1/jobs/{job_id}``), method and status."""
    import time

    @app.middleware("http")
    async def counted(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        request.app.state.service.metrics.request(route, request.method, response.status_code, time.perf_counter() - start)
        return response
