"""``/``: the live page (HTML that polls the JSON API; not part of the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from zkml.serve.page import PAGE_HTML

router = APIRouter(tags=["page"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> str:
    return PAGE_HTML
