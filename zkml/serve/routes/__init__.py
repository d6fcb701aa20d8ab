"""The API's routers, one per resource; :func:`zkml.serve.app.create_app` assembles them.

Each route gets the running :class:`~zkml.serve.service.Service` through a FastAPI
dependency (:func:`~zkml.serve.routes.deps.get_service`, which reads
``app.state.service``), never by closing over it, so a router is a plain module
and a test can hand an app any service. Imported only when an app is built:
FastAPI stays out of ``zkml --help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Every router of the API, in the order ``/docs`` lists them."""
    from zkml.serve.routes import health, jobs, models, page, predictions

    return [jobs.router, models.router, predictions.router, health.router, page.router]
