"""The HTTP API on a live server: tokens and scopes, the CLI's input errors, body limit, queue bound, idempotency, jobs, metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import LiveServer, jittered_inputs, make_service, sample_input


def post(client: Any, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/v1/jobs", json=body, headers=headers)


# -- access


def test_no_token_is_refused(live: LiveServer) -> None:
    response = post(live.client(), {"model": "mlp_regressor", "input": sample_input()})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API token is required" in response.json()["detail"]


def test_wrong_token_is_refused(live: LiveServer, tokens: dict[str, str]) -> None:
    response = post(live.client("zks_not-a-token"), {"model": "mlp_regressor", "input": sample_input()})
    assert response.status_code == 401
    assert response.json()["detail"] == "unknown or revoked API token"


def test_wrong_scope_is_refused(live: LiveServer, tokens: dict[str, str]) -> None:
    # publish-only cannot spend prover time; prove-only cannot publish.
    assert post(live.client(tokens["publish"]), {"model": "mlp_regressor", "input": sample_input()}).status_code == 403
    response = post(live.client(tokens["prove"]), {"model": "mlp_regressor", "input": sample_input(), "publish": True})
    assert response.status_code == 403
    assert "'publish' scope" in response.json()["detail"]


def test_revoked_token_is_refused(live: LiveServer) -> None:
    from zkml.serve.tokens import create_token, revoke_token

    token, secret = create_token(live.service.store, "short-lived", frozenset({"prove"}))
    assert revoke_token(live.service.store, token.id)
    assert post(live.client(secret), {"model": "mlp_regressor", "input": sample_input()}).status_code == 401


def test_tokens_are_stored_hashed(live: LiveServer, tokens: dict[str, str]) -> None:
    rows = live.service.store.db.execute("SELECT token_hash, scopes FROM tokens")
    stored = " ".join(str(v) for row in rows for v in row)
    assert all(secret not in stored for secret in tokens.values())
    assert all(re.fullmatch(r"[0-9a-f]{64}", str(row[0])) for row in rows)


# -- input errors: 422 with the CLI's own message


def cli_message(workspace: Path, payload: Any, tmp_path: Path) -> str:
    """What `zkml prove-many` says about this input file (its path replaced by `input`)."""
    from click.testing import CliRunner
    from zkml_cli.main import cli

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload))
    result = CliRunner().invoke(cli, ["prove-many", str(workspace), str(path), "-o", str(tmp_path / "out")], obj={})
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ")
    return line.removeprefix("error: ").replace(str(path), "input")


@pytest.mark.parametrize(
    "payload",
    [
        {"input_data": [[0.1, 0.2]]},  # malformed: not a whole sample
        {"input_data": [[1000.0] * 8]},  # out of the calibrated range
        {"input_data": [[0.1] * 7 + ["x"]]},  # not numbers
    ],
    ids=["wrong-shape", "out-of-range", "not-numbers"],
)
def test_bad_input_gets_422_with_the_cli_message(live: LiveServer, tokens: dict[str, str], payload: Any, tmp_path: Path) -> None:
    response = post(live.client(tokens["prove"]), {"model": "mlp_regressor", "input": payload})
    assert response.status_code == 422
    assert response.json()["detail"] == cli_message(live.service.models["mlp_regressor"].root, payload, tmp_path)


def test_unknown_model_is_404(live: LiveServer, tokens: dict[str, str]) -> None:
    response = post(live.client(tokens["prove"]), {"model": "nope", "input": sample_input()})
    assert response.status_code == 404


# -- body limit


def test_oversized_body_is_refused_before_parsing(live: LiveServer, tokens: dict[str, str]) -> None:
    limit = live.service.config.max_body_bytes
    # Not even JSON: a parser would answer 422; the limit answers first.
    blob = b"{" * (limit + 1)
    client = live.client(tokens["prove"])
    declared = client.post("/v1/jobs", content=blob, headers={"content-type": "application/json"})
    assert declared.status_code == 413

    def chunks() -> Any:  # no Content-Length: the body streams in and is cut off
        for _ in range(limit // 4096 + 2):
            yield b"{" * 4096

    streamed = client.post("/v1/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert "larger than" in streamed.json()["detail"]
    metrics = live.client().get("/metrics").text
    assert re.search(r'zkml_serve_failures_total\{kind="body_too_large"\} [2-9]', metrics)


# -- proving, idempotency, listing, metrics


def test_a_job_is_proved_and_verified(live: LiveServer, tokens: dict[str, str]) -> None:
    client = live.client(tokens["prove"])
    created = post(client, {"model": "mlp_regressor", "input": jittered_inputs(1)[0]})
    assert created.status_code == 201
    job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 120, "proof": True}).json()
    assert job["state"] == "done", job
    assert job["verified"] is True
    assert len(job["outputs"]) == 1
    assert job["proof"]["hex_proof"].startswith("0x")
    assert job["prove_seconds"] > 0
    listed = client.get("/v1/jobs", params={"state": "done"}).json()
    assert job["id"] in [j["id"] for j in listed]
    metrics = client.get("/metrics").text
    assert re.search(r'zkml_serve_proofs_total\{model="mlp_regressor"\} [1-9]', metrics)
    assert re.search(r'zkml_serve_prove_seconds_count\{model="mlp_regressor"\} [1-9]', metrics)
    assert "zkml_serve_queue_depth" in metrics and "zkml_serve_proofs_per_second" in metrics


def test_idempotency_key_returns_the_same_job(live: LiveServer, tokens: dict[str, str]) -> None:
    client = live.client(tokens["prove"])
    body = {"model": "mlp_regressor", "input": jittered_inputs(2)[1]}
    first = post(client, body, **{"Idempotency-Key": "order-42"})
    again = post(client, body, **{"Idempotency-Key": "order-42"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert len([j for j in client.get("/v1/jobs", params={"limit": 500}).json() if j["id"] == first.json()["id"]]) == 1
    other = post(client, {**body, "input": sample_input()}, **{"Idempotency-Key": "order-42"})
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]
    # Another caller's key of the same name is another job.
    theirs = post(live.client(tokens["both"]), body, **{"Idempotency-Key": "order-42"})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


def test_models_and_openapi(live: LiveServer) -> None:
    client = live.client()
    (model,) = client.get("/v1/models").json()
    assert model["name"] == "mlp_regressor" and model["inputs"] == [{"name": "input", "shape": [1, 8]}]
    spec = client.get("/openapi.json").json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/models"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


# -- the bounded queue (an API-only service: nothing drains it)


def test_full_queue_answers_429_with_retry_after(served: Any, tmp_path: Path) -> None:
    from zkml.serve.tokens import create_token

    service = make_service(served, tmp_path, max_queue=2, run_workers=False).start()
    try:
        _, secret = create_token(service.store, "t", frozenset({"prove"}))
        with LiveServer(service) as server:
            client = server.client(secret)
            inputs = jittered_inputs(3)
            codes = [post(client, {"model": "mlp_regressor", "input": x}).status_code for x in inputs[:2]]
            full = post(client, {"model": "mlp_regressor", "input": inputs[2]})
            assert codes == [201, 201]
            assert full.status_code == 429
            assert int(full.headers["retry-after"]) >= 1
            # A new key is new work: refused while the queue is full.
            keyed = post(client, {"model": "mlp_regressor", "input": inputs[0]}, **{"Idempotency-Key": "k"})
            assert keyed.status_code == 429
            queued = client.get("/v1/jobs", params={"state": "queued"}).json()
            cancelled = client.delete(f"/v1/jobs/{queued[0]['id']}")
            assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
            assert client.delete(f"/v1/jobs/{queued[0]['id']}").status_code == 409
            assert post(client, {"model": "mlp_regressor", "input": inputs[2]}, **{"Idempotency-Key": "k"}).status_code == 201
            # The queue is full again, but a retry of an accepted request is not new work: the same job back.
            again = post(client, {"model": "mlp_regressor", "input": inputs[2]}, **{"Idempotency-Key": "k"})
            assert again.status_code == 200
            assert 'zkml_serve_failures_total{kind="queue_full"}' in client.get("/metrics").text
    finally:
        service.stop()


def test_every_json_route_documents_its_response_schema(live: LiveServer) -> None:
    # Issue 21 item 6: /docs shows every schema. Walk the OpenAPI document: each operation's success
    # response is JSON with a named schema (or a list of one), and its errors are problem details.
    spec = live.client().get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert {(p, m) for p, m, _ in operations} >= {
        ("/v1/jobs", "post"), ("/v1/jobs", "get"), ("/v1/jobs/{job_id}", "get"), ("/v1/jobs/{job_id}", "delete"),
        ("/v1/models", "get"), ("/v1/status", "get"), ("/healthz", "get"), ("/v1/predictions", "get"),
        ("/v1/jobs/{job_id}/provenance", "get"),
    }  # fmt: skip
    for path, method, op in operations:
        successes = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert successes, (path, method)
        for code, response in successes.items():
            schema = response["content"]["application/json"]["schema"]
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
            assert ref, f"{method.upper()} {path} {code} has no response schema: {schema}"
            name = ref.rsplit("/", 1)[-1]
            assert schemas[name].get("properties"), (path, name)
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Problem"}, (path, code)
    assert set(schemas["JobOut"]["properties"]) >= {"id", "state", "outputs", "verified", "proof", "error"}
    assert "422" in dict(spec["paths"]["/v1/jobs"]["post"]["responses"])


def test_response_models_document_without_dropping_or_adding_fields(live: LiveServer, tokens: dict[str, str]) -> None:
    # The bodies are exactly the library's dicts: a response model must not filter a field out, nor add a null one.
    client = live.client(tokens["prove"])
    job = post(client, {"model": "mlp_regressor", "input": sample_input()}).json()
    stored = live.service.store.get(job["id"])
    assert stored is not None and job == stored.as_dict()
    finished = client.get(f"/v1/jobs/{job['id']}", params={"wait": 60}).json()
    stored = live.service.store.get(job["id"])
    assert stored is not None and finished == stored.as_dict() and "proof" not in finished
    assert client.get(f"/v1/jobs/{job['id']}", params={"proof": True}).json() == stored.as_dict(with_proof=True)
    assert client.get("/v1/models").json() == [m.describe() for m in live.service.models.values()]
    assert set(client.get("/v1/status").json()) == set(live.service.describe())


def test_routers_reach_the_service_they_were_assembled_with(served: Any, tmp_path: Path) -> None:
    # The routes take the service from app.state through a dependency, so two apps in one process never mix.
    from fastapi.testclient import TestClient

    from zkml.serve.app import create_app

    small = make_service(served, tmp_path / "small", max_queue=3, run_workers=False).start()
    large = make_service(served, tmp_path / "large", max_queue=5, run_workers=False).start()
    try:
        small.store.submit(served.name, json.dumps(sample_input()))
        with TestClient(create_app(small)) as a, TestClient(create_app(large)) as b:
            assert (a.get("/v1/status").json()["max_queue"], b.get("/v1/status").json()["max_queue"]) == (3, 5)
            assert (len(a.get("/v1/jobs").json()), len(b.get("/v1/jobs").json())) == (1, 0)
    finally:
        small.stop()
        large.stop()
