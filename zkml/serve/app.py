"""The HTTP API (FastAPI; OpenAPI docs at ``/docs``), the live page at ``/`` and ``/metrics``.

Posting a job spends prover time, so it needs a token with the ``prove`` scope
(and ``publish`` to publish); reading needs none. Order of checks on a POST,
cheapest refusal first: token (401/403), model (404), an idempotency key already
used (the same job back, 200), queue full (429 + Retry-After), the input
(422 with the CLI's message), then the job is queued (201). Every error is RFC 9457
problem+json (:mod:`zkml.serve.problems`).

No ``from __future__ import annotations`` here: FastAPI reads the handlers'
annotations at runtime, and the request model is local to :func:`create_app`.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from zkml.errors import IdempotencyConflictError, InputDataError, ZkmlError
from zkml.serve.service import Service
from zkml.serve.store import STATES
from zkml.serve.tokens import Token, lookup_token

if TYPE_CHECKING:
    from fastapi import FastAPI, HTTPException

    from zkml.serve.limits import BodyLimit

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0  # the longest ?wait= a GET may hold a job's request open


def create_app(service: Service) -> "BodyLimit":
    """The ASGI app over a started :class:`~zkml.serve.service.Service`."""
    from fastapi import FastAPI

    from zkml.serve.limits import BodyLimit
    from zkml.serve.problems import install as install_problems

    app = FastAPI(title="zkml serve", version="1", description="Proof jobs on warm provers; verified predictions to the oracle.")
    _read_routes(app, service)
    _submit_route(app, service)
    _job_routes(app, service)
    _chain_routes(app, service)

    install_problems(app, service.metrics)
    _count_requests(app, service)
    return BodyLimit(app, service.config.max_body_bytes, on_refused=lambda: service.metrics.failure("body_too_large"))


def _count_requests(app: "FastAPI", service: Service) -> None:
    """Count every answered request by its route's template (``/v1/jobs/{job_id}``), method and status."""
    import time

    from fastapi import Request, Response

    @app.middleware("http")
    async def counted(request: Request, call_next: Callable[[Request], Any]) -> Response:
        start = time.perf_counter()
        response: Response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        service.metrics.request(route, request.method, response.status_code, time.perf_counter() - start)
        return response


def _refuse(service: Service, status: int, detail: str, kind: str, headers: dict[str, str] | None = None) -> "HTTPException":
    """An HTTPException to raise, counted in the failures metric by ``kind``."""
    from fastapi import HTTPException

    service.metrics.failure(kind)
    error = HTTPException(status_code=status, detail=detail, headers=headers)
    error.kind = kind  # type: ignore[attr-defined]  # the problem+json handler reports it
    return error


def token_with(service: Service, scope: str) -> Callable[[str | None], Token]:
    """A dependency that yields the caller's token, refusing a missing or unknown one (401) or one without ``scope`` (403)."""
    from fastapi import Header

    def check(authorization: str | None = Header(None)) -> Token:
        if not authorization or not authorization.startswith("Bearer "):
            detail = "an API token is required: send `Authorization: Bearer <token>` (make one with `zkml serve token`)"
            raise _refuse(service, 401, detail, "unauthorized", {"WWW-Authenticate": "Bearer"})
        token = lookup_token(service.store, authorization.removeprefix("Bearer ").strip())
        if token is None:
            raise _refuse(service, 401, "unknown or revoked API token", "unauthorized", {"WWW-Authenticate": "Bearer"})
        if scope not in token.scopes:
            raise _refuse(service, 403, f"this token lacks the {scope!r} scope", "forbidden")
        return token

    return check


def _read_routes(app: "FastAPI", service: Service) -> None:
    from fastapi.responses import HTMLResponse

    from zkml.serve.page import PAGE_HTML

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE_HTML

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/v1/status")
    def status() -> dict[str, Any]:
        """The service: backend, workers, queue bound, job counts by state, recent proofs per second."""
        return service.describe()

    @app.get("/v1/models")
    def models() -> list[dict[str, Any]]:
        """The served models."""
        return [m.describe() for m in service.models.values()]


def _submit_route(app: "FastAPI", service: Service) -> None:
    from fastapi import Depends, Header, Response

    from zkml.serve.schemas import JobRequest

    prove_token = token_with(service, "prove")
    store = service.store

    def refuse(status: int, detail: str, kind: str, headers: dict[str, str] | None = None) -> "HTTPException":
        return _refuse(service, status, detail, kind, headers)

    @app.post("/v1/jobs", status_code=201)
    def submit(
        request: JobRequest,
        response: Response,
        token: Annotated[Token, Depends(prove_token)],
        idempotency_key: str | None = Header(None),
    ) -> dict[str, Any]:
        """Queue a proof job (201), or return the job an Idempotency-Key already made (200)."""
        model = service.model(request.model)
        if model is None:
            raise refuse(404, f"no model {request.model!r} is served here (GET /v1/models lists them)", "unknown_model")
        if request.publish and "publish" not in token.scopes:
            raise refuse(403, "this token lacks the 'publish' scope", "forbidden")
        if request.publish and model.binding is None:
            raise refuse(422, f"model {model.name!r} has no oracle to publish to (serve it with --oracle)", "invalid_input")
        key = f"{token.id}:{idempotency_key}" if idempotency_key else None
        digest = hashlib.sha256(json.dumps(request.model_dump(), sort_keys=True).encode()).hexdigest()
        if key is not None:
            existing = store.by_key(key)
            if existing is not None:
                if existing.request_hash != digest:
                    raise refuse(422, "this Idempotency-Key was used for a different request; use a new key", "idempotency_conflict")
                response.status_code = 200
                return existing.as_dict()
        if store.depth() >= service.config.max_queue:
            raise refuse(
                429,
                f"the queue is full ({service.config.max_queue} jobs); retry later",
                "queue_full",
                {"Retry-After": str(service.retry_after())},
            )
        try:
            text = model.check_input(request.input, service.config.data_dir / "staging")
        except InputDataError as exc:
            raise refuse(422, str(exc), "invalid_input") from exc
        try:
            job, created = store.submit(
                model.name, text, publish=request.publish, epoch=request.epoch, token_id=token.id, idem_key=key, request_hash=digest
            )
        except IdempotencyConflictError as exc:
            raise refuse(422, str(exc), "idempotency_conflict") from exc
        if not created:
            response.status_code = 200
        service.wake()
        return job.as_dict()


def _job_routes(app: "FastAPI", service: Service) -> None:
    from fastapi import Depends, HTTPException

    prove_token = token_with(service, "prove")
    store = service.store

    @app.get("/v1/jobs")
    def jobs(state: str | None = None, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Recent jobs, newest first (``state``: one of queued, proving, publishing, done, failed, cancelled)."""
        if state is not None and state not in STATES:
            raise _refuse(service, 422, f"state {state!r} is not a job state; one of {', '.join(STATES)}", "invalid_request")
        return [j.as_dict() for j in store.list_jobs(state=state, model=model, limit=max(1, min(limit, 500)))]

    @app.get("/v1/jobs/{job_id}")
    async def job(job_id: str, wait: float = 0.0, proof: bool = False) -> dict[str, Any]:
        """A job's status and result; ``wait=S`` holds the request up to S seconds until the job is finished."""
        deadline = asyncio.get_running_loop().time() + max(0.0, min(wait, MAX_WAIT_S))
        while True:
            found = store.get(job_id)
            if found is None:
                raise HTTPException(404, f"no job {job_id}")
            if found.state in ("done", "failed", "cancelled") or asyncio.get_running_loop().time() >= deadline:
                return found.as_dict(with_proof=proof)
            await asyncio.sleep(0.01)

    @app.delete("/v1/jobs/{job_id}")
    def cancel(job_id: str, token: Annotated[Token, Depends(prove_token)]) -> dict[str, Any]:
        """Cancel a queued job (409 once it is proving or finished)."""
        found = store.get(job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id}")
        if not store.cancel(job_id):
            raise HTTPException(409, f"job {job_id} is {found.state}; only queued jobs can be cancelled")
        cancelled = store.get(job_id)
        assert cancelled is not None
        return cancelled.as_dict()


def _chain_routes(app: "FastAPI", service: Service) -> None:
    from fastapi import HTTPException, Response

    store = service.store

    @app.get("/v1/predictions")
    def predictions(limit: int = 20) -> list[dict[str, Any]]:
        """The verified predictions this service published, newest first."""
        done = [j for j in store.list_jobs(state="done", limit=500) if j.prediction]
        return [
            {
                "job": j.id,
                "model": j.model,
                "epoch": j.epoch,
                "tx_hash": j.tx_hash,
                "gas_used": j.gas_used,
                "prediction": json.loads(j.prediction or "{}"),
            }
            for j in done[:limit]
        ]

    @app.get("/v1/jobs/{job_id}/provenance")
    def provenance(job_id: str) -> dict[str, Any]:
        """Walk a published job's prediction back to its verifier, keys, SRS, ONNX and feed data."""
        from zkml.evm.rpc import connect
        from zkml.oracle.provenance import walk

        found = store.get(job_id)
        model = service.model(found.model) if found else None
        if found is None or not found.tx_hash or model is None or model.binding is None:
            raise HTTPException(404, f"job {job_id} has no publication")
        try:
            conn = connect(model.binding.rpc_url)
            result = walk(conn, model.binding.oracle, bytes.fromhex(found.tx_hash.removeprefix("0x")), workspace=model.root)
        except ZkmlError as exc:
            raise _refuse(service, 502, str(exc), type(exc).__name__) from exc
        return dict(result.as_dict())

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)
