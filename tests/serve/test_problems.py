"""Every error status of the API answers RFC 9457 problem+json, each tried here on a live server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import LiveServer, jittered_inputs, make_service, sample_input
from zkml.errors import AttestationError, ChainError, ConfigError, InputDataError, KeysError, OracleRevertError
from zkml.serve.problems import status_for


def _problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["kind"] == kind and body["type"] == f"urn:zkml:problem:{kind}"
    assert body["title"] and body["detail"] and "\n" not in body["detail"]
    return body


def test_each_error_status_is_problem_json(live: LiveServer, tokens: dict[str, str]) -> None:
    prove = live.client(tokens["prove"])
    body = {"model": "mlp_regressor", "input": sample_input()}
    # 401, 403: the token.
    _problem(live.client().post("/v1/jobs", json=body), 401, "unauthorized")
    _problem(live.client(tokens["publish"]).post("/v1/jobs", json=body), 403, "forbidden")
    # 404: an unknown model, an unknown job.
    _problem(prove.post("/v1/jobs", json={**body, "model": "nope"}), 404, "unknown_model")
    _problem(prove.get("/v1/jobs/no-such-job"), 404, "not_found")
    # 400: malformed JSON; 415: not JSON at all; 422: a missing field, a bad input, a bad state filter.
    assert (
        "not valid JSON"
        in _problem(prove.post("/v1/jobs", content=b'{"model": ', headers={"content-type": "application/json"}), 400, "malformed_json")[
            "detail"
        ]
    )
    assert (
        "send JSON"
        in _problem(prove.post("/v1/jobs", content=b"model=mlp", headers={"content-type": "text/plain"}), 415, "unsupported_media_type")[
            "detail"
        ]
    )
    assert "model" in _problem(prove.post("/v1/jobs", json={"input": sample_input()}), 422, "invalid_request")["detail"]
    _problem(prove.post("/v1/jobs", json={**body, "input": {"input_data": [[1e12] * 8]}}), 422, "invalid_input")
    detail = _problem(prove.get("/v1/jobs", params={"state": "bogus"}), 422, "invalid_request")["detail"]
    assert "'bogus'" in detail and "queued, proving, publishing, done, failed, cancelled" in detail
    # 405: a method the route does not take.
    _problem(prove.put("/v1/jobs", json=body), 405, "method_not_allowed")
    # 413: a body over the limit (refused by the size guard before FastAPI sees it).
    _problem(prove.post("/v1/jobs", content=b"x" * (live.service.config.max_body_bytes + 1)), 413, "body_too_large")


def test_409_and_429_are_problem_json(served: Any, tmp_path: Path) -> None:
    from zkml.serve.tokens import create_token

    service = make_service(served, tmp_path, max_queue=1, run_workers=False).start()
    try:
        _, secret = create_token(service.store, "t", frozenset({"prove"}))
        with LiveServer(service) as server:
            client = server.client(secret)
            first, second = jittered_inputs(2)
            job = client.post("/v1/jobs", json={"model": served.name, "input": first}).json()
            full = _problem(client.post("/v1/jobs", json={"model": served.name, "input": second}), 429, "queue_full")
            assert "queue is full" in full["detail"]
            assert client.delete(f"/v1/jobs/{job['id']}").status_code == 200
            _problem(client.delete(f"/v1/jobs/{job['id']}"), 409, "conflict")
    finally:
        service.stop()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InputDataError("x"), 422),
        (ConfigError("x"), 422),
        (AttestationError("x"), 422),
        (ChainError("x"), 502),
        (OracleRevertError("Replay", (), "publishing"), 502),
        (KeysError("x"), 500),
    ],
)
def test_library_errors_map_to_statuses_by_class(error: Exception, status: int) -> None:
    assert status_for(error) == status  # type: ignore[arg-type]
