"""The API's bodies as pydantic models: FastAPI validates requests against them and ``/docs`` shows every one.

Only the request's envelope is checked here; the input itself is checked and
normalised by the CLI's own function (:func:`zkml.data.samples_from_payload`, via
:meth:`zkml.serve.models.ServedModel.check_input`), so errors read the same.
The response models describe what the routes return (the store's and the
models' ``as_dict``/``describe`` forms); a route that returns only some of a
model's optional fields sets ``response_model_exclude_unset`` so nothing is added, and
the models over other modules' dicts allow extra keys, so a field added there is
never silently dropped from the API (the models document; they do not filter).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

INPUT_FORMS = (
    "The input, as for `zkml prove`/`prove-many` (the same normaliser): ezkl's "
    '{"input_data": [[flat values], ...]} with one list per model input, or per input rows of samples '
    "or nested lists with one sample's shape innermost; for a one-input model also a bare list "
    "(flat, or one row per sample). Numbers only; stored normalised to ezkl's form."
)


class JobRequest(BaseModel):
    """``POST /v1/jobs``."""

    model: str = Field(description="A served model's name (GET /v1/models).")
    input: Any = Field(
        description=INPUT_FORMS,
        examples=[{"input_data": [[0.1, -0.3, 0.2, 0.05, -0.1, 0.4, 0.0, -0.2]]}, [0.1, -0.3, 0.2, 0.05, -0.1, 0.4, 0.0, -0.2]],
    )
    publish: bool = Field(False, description="Publish the verified prediction to the model's oracle (scope `publish`).")
    epoch: int | None = Field(None, description="The data epoch of an attested model's input (publishing attested models).")


class Problem(BaseModel):
    """An RFC 9457 problem (``application/problem+json``): every error of the API."""

    type: str = Field(description="urn:zkml:problem:<kind>")
    title: str = Field(description="The status's phrase.")
    status: int
    detail: str = Field(description="What was wrong, in one line (the CLI's wording where there is one).")
    kind: str = Field(description="What the failures metric counts.")


class JobOut(BaseModel):
    """A job's status and result (``proof`` only with ``?proof=true``: it is kilobytes)."""

    model_config = ConfigDict(extra="allow")

    id: str
    model: str
    state: str = Field(description="queued, proving, publishing, done, failed or cancelled.")
    publish: bool
    epoch: int | None = None
    attempts: int
    created: float = Field(description="Unix time.")
    started: float | None = None
    proved: float | None = None
    finished: float | None = None
    witness_seconds: float | None = None
    prove_seconds: float | None = None
    outputs: list[Any] | None = Field(None, description="The circuit's decoded outputs.")
    verified: bool | None = None
    tx_hash: str | None = None
    gas_used: int | None = None
    prediction: dict[str, Any] | None = Field(None, description="The published prediction, as the oracle stored it.")
    error: str | None = None
    error_kind: str | None = None
    batch_size: int | None = Field(None, description="Jobs folded into one proof (folding), and this one's place in it.")
    batch_index: int | None = None
    proof: dict[str, Any] | None = Field(None, description="ezkl's proof JSON (only with ?proof=true).")


class Health(BaseModel):
    """``GET /healthz``."""

    ok: bool


class ServiceStatus(BaseModel):
    """``GET /v1/status``: the service itself."""

    model_config = ConfigDict(extra="allow")

    backend: str
    workers: int
    max_queue: int
    store: str = Field(description="sqlite or postgresql.")
    counts: dict[str, int] = Field(description="Jobs by state.")
    proofs_per_second: float


class InputSpec(BaseModel):
    name: str
    shape: list[int] = Field(description="The model input's shape; the first dimension is the batch.")


class OracleOut(BaseModel):
    address: str
    model_id: str
    feed: str | None = None


class ModelOut(BaseModel):
    """A served model (``GET /v1/models``)."""

    model_config = ConfigDict(extra="allow")

    name: str
    workspace: str
    inputs: list[InputSpec]
    batch_size: int
    logrows: int
    circuit_sha256: str
    device: str
    oracle: OracleOut | None = None


class PredictionOut(BaseModel):
    """A verified prediction this service published."""

    job: str
    model: str
    epoch: int | None = None
    tx_hash: str | None = None
    gas_used: int | None = None
    prediction: dict[str, Any]


class ProvenanceOut(BaseModel):
    """A published prediction walked back to its verifier, keys, SRS, ONNX and feed data (``zkml provenance --json``)."""

    model_config = ConfigDict(extra="allow")

    oracle: str
    chain_id: int
    prediction: dict[str, Any]
    predictions: list[dict[str, Any]]
    tx: dict[str, Any]
    workspace: str | None = None
    workspace_found_by: str = ""
    links: list[dict[str, Any]]
    trusts: str
    ok: bool
