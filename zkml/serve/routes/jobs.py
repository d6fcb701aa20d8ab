"""``/v1/jobs``: queue a proof job, list jobs, read one (optionally waiting for it), cancel one.

Order of checks on a POST, cheapest refusal first: token (401/403), model (404),
an idempotency key already used (the same job back, 200), queue full (429 +
Retry-After), the input (422 with the CLI's message), then the job is queued
(201) holding the input normalised to ezkl's form, so every 201 can be witnessed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response

from zkml.errors import IdempotencyConflictError, InputDataError
from zkml.serve.routes.deps import ProveToken, ServiceDep, problems, refuse
from zkml.serve.schemas import JobOut, JobRequest
from zkml.serve.store import STATES

MAX_WAIT_S = 60.0  # the longest ?wait= a GET may hold a job's request open
FINISHED = ("done", "failed", "cancelled")

# Every route here takes parameters: FastAPI would document its own 422 body, but the API answers a problem.
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=problems(422))


@router.post(
    "",
    status_code=201,
    response_model=JobOut,
    response_model_exclude_unset=True,
    responses={200: {"model": JobOut, "description": "The job this Idempotency-Key already made"}, **problems(401, 403, 404, 422, 429)},
)
def submit(
    request: JobRequest,
    response: Response,
    service: ServiceDep,
    token: ProveToken,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Queue a proof job (201), or return the job an Idempotency-Key already made (200)."""
    store = service.store
    model = service.model(request.model)
    if model is None:
        raise refuse(service, 404, f"no model {request.model!r} is served here (GET /v1/models lists them)", "unknown_model")
    if request.publish and "publish" not in token.scopes:
        raise refuse(service, 403, "this token lacks the 'publish' scope", "forbidden")
    if request.publish and model.binding is None:
        raise refuse(service, 422, f"model {model.name!r} has no oracle to publish to (serve it with --oracle)", "invalid_input")
    key = f"{token.id}:{idempotency_key}" if idempotency_key else None
    digest = hashlib.sha256(json.dumps(request.model_dump(), sort_keys=True).encode()).hexdigest()
    if key is not None:
        existing = store.by_key(key)
        if existing is not None:
            if existing.request_hash != digest:
                raise refuse(service, 422, "this Idempotency-Key was used for a different request; use a new key", "idempotency_conflict")
            response.status_code = 200
            return existing.as_dict()
    if store.depth() >= service.config.max_queue:
        retry = {"Retry-After": str(service.retry_after())}
        raise refuse(service, 429, f"the queue is full ({service.config.max_queue} jobs); retry later", "queue_full", retry)
    try:
        # Normalised (ezkl's form) and checked as zkml prove-many checks a file: what is stored is what gets proved.
        text = model.check_input(request.input)
    except InputDataError as exc:
        raise refuse(service, 422, str(exc), "invalid_input") from exc
    try:
        job, created = store.submit(
            model.name, text, publish=request.publish, epoch=request.epoch, token_id=token.id, idem_key=key, request_hash=digest
        )
    except IdempotencyConflictError as exc:
        raise refuse(service, 422, str(exc), "idempotency_conflict") from exc
    if not created:
        response.status_code = 200
    service.wake()
    return job.as_dict()


@router.get("", response_model=list[JobOut], response_model_exclude_unset=True, responses=problems(422))
def jobs(service: ServiceDep, state: str | None = None, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Recent jobs, newest first (``state``: one of queued, proving, publishing, done, failed, cancelled)."""
    if state is not None and state not in STATES:
        raise refuse(service, 422, f"state {state!r} is not a job state; one of {', '.join(STATES)}", "invalid_request")
    return [j.as_dict() for j in service.store.list_jobs(state=state, model=model, limit=max(1, min(limit, 500)))]


@router.get("/{job_id}", response_model=JobOut, response_model_exclude_unset=True, responses=problems(404))
async def job(
    job_id: str,
    service: ServiceDep,
    wait: Annotated[
        float, Query(description=f"Hold the request up to this many seconds (at most {MAX_WAIT_S:g}) until the job is finished.")
    ] = 0.0,
    proof: Annotated[bool, Query(description="Include the proof itself.")] = False,
) -> dict[str, Any]:
    """A job's status and result; ``wait=S`` holds the request up to S seconds until the job is finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, min(wait, MAX_WAIT_S))
    while True:
        found = service.store.get(job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id}")
        if found.state in FINISHED or loop.time() >= deadline:
            return found.as_dict(with_proof=proof)
        await asyncio.sleep(0.01)


@router.delete("/{job_id}", response_model=JobOut, response_model_exclude_unset=True, responses=problems(401, 403, 404, 409))
def cancel(job_id: str, service: ServiceDep, token: ProveToken) -> dict[str, Any]:
    """Cancel a queued job (409 once it is proving or finished)."""
    found = service.store.get(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    if not service.store.cancel(job_id):
        raise HTTPException(409, f"job {job_id} is {found.state}; only queued jobs can be cancelled")
    cancelled = service.store.get(job_id)
    assert cancelled is not None
    return cancelled.as_dict()
