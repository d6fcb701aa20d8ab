"""The API's request body (a pydantic model: FastAPI validates it and documents it in OpenAPI).

Only the envelope is checked here; the input itself is checked by the CLI's own
rules in :meth:`zkml.serve.models.ServedModel.check_input`, so errors read the same.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class JobRequest(BaseModel):
    """``POST /v1/jobs``."""

    model: str = Field(description="A served model's name (GET /v1/models).")
    input: Any = Field(description='The input, as for `zkml prove-many`: {"input_data": [[...]]} or a bare list.')
    publish: bool = Field(False, description="Publish the verified prediction to the model's oracle (scope `publish`).")
    epoch: int | None = Field(None, description="The data epoch of an attested model's input (publishing attested models).")
