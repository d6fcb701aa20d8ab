"""``/v1/predictions`` and ``/v1/jobs/{job_id}/provenance``: what this service published, and where each came from."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException

from zkml.errors import ZkmlError
from zkml.serve.routes.deps import ServiceDep, problems, refuse
from zkml.serve.schemas import PredictionOut, ProvenanceOut

router = APIRouter(tags=["predictions"], responses=problems(422))  # both routes take parameters


@router.get("/v1/predictions", response_model=list[PredictionOut])
def predictions(service: ServiceDep, limit: int = 20) -> list[dict[str, Any]]:
    """The verified predictions this service published, newest first."""
    done = [j for j in service.store.list_jobs(state="done", limit=500) if j.prediction]
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


@router.get("/v1/jobs/{job_id}/provenance", response_model=ProvenanceOut, responses=problems(404, 502))
def provenance(job_id: str, service: ServiceDep) -> dict[str, Any]:
    """Walk a published job's prediction back to its verifier, keys, SRS, ONNX and feed data."""
    from zkml.evm.rpc import connect
    from zkml.oracle.provenance import walk

    found = service.store.get(job_id)
    model = service.model(found.model) if found else None
    if found is None or not found.tx_hash or model is None or model.binding is None:
        raise HTTPException(404, f"job {job_id} has no publication")
    try:
        conn = connect(model.binding.rpc_url)
        result = walk(conn, model.binding.oracle, bytes.fromhex(found.tx_hash.removeprefix("0x")), workspace=model.root)
    except ZkmlError as exc:
        raise refuse(service, 502, str(exc), type(exc).__name__) from exc
    return dict(result.as_dict())
