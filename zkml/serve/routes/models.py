"""``/v1/models``: the served models, their input shapes and where their predictions go."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from zkml.serve.routes.deps import ServiceDep
from zkml.serve.schemas import ModelOut

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelOut])
def models(service: ServiceDep) -> list[dict[str, Any]]:
    """The served models."""
    return [m.describe() for m in service.models.values()]
