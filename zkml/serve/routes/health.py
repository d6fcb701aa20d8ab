"""The service itself: ``/healthz``, ``/v1/status`` and the Prometheus ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from zkml.serve.routes.deps import ServiceDep
from zkml.serve.schemas import Health, ServiceStatus

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, Any]:
    """The process answers (nothing else is checked: a load balancer's probe)."""
    return {"ok": True}


@router.get("/v1/status", response_model=ServiceStatus)
def status(service: ServiceDep) -> dict[str, Any]:
    """The service: backend, workers, queue bound, job counts by state, recent proofs per second."""
    return service.describe()


@router.get("/metrics", include_in_schema=False)
def metrics(service: ServiceDep) -> Response:
    """Prometheus text (not JSON, so not in the OpenAPI document)."""
    body, content_type = service.metrics.render()
    return Response(body, media_type=content_type)
