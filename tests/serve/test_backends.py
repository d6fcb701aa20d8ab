"""The service's prover backends: the process pool (the default, used by every other test here) and Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import LiveServer, jittered_inputs, make_service, make_token, server_process


@pytest.mark.slow
def test_jobs_prove_on_a_local_ray(served: Any, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'zkml[distributed]')")
    from zkml.serve.backends import BackendConfig
    from zkml.serve.tokens import create_token

    service = make_service(served, tmp_path, backend=BackendConfig(workers=1, ray_address="local")).start()
    try:
        _, secret = create_token(service.store, "t", frozenset({"prove"}))
        with LiveServer(service) as server:
            client = server.client(secret)
            ids = [client.post("/v1/jobs", json={"model": served.name, "input": x}).json()["id"] for x in jittered_inputs(2)]
            jobs = [client.get(f"/v1/jobs/{i}", params={"wait": 120}).json() for i in ids]
            assert [(j["state"], j["verified"]) for j in jobs] == [("done", True)] * 2
            assert client.get("/v1/status").json()["backend"] == "ray"
    finally:
        service.stop()


def test_backend_config_kind() -> None:
    from zkml.serve.backends import BackendConfig

    assert BackendConfig().kind == "pool"
    assert BackendConfig(ray_address="auto").kind == "ray"


@pytest.mark.slow
def test_a_service_proves_on_a_head_and_two_worker_nodes(tuned_mlp: Any, tmp_path: Path) -> None:
    """``zkml serve start --ray ADDRESS`` on a real cluster: jobs proved on both worker nodes, from artifacts sent through Ray."""
    pytest.importorskip("ray", reason="ray is not installed (pip install 'zkml[distributed]')")
    import httpx

    from tests.proving.ray_nodes import running_cluster

    token = make_token(tmp_path)
    with running_cluster() as cluster:
        auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.token}
        server = server_process(tuned_mlp.ws.root, tmp_path, "--ray", cluster.address, env=auth).start()
        try:
            headers = {"Authorization": f"Bearer {token}"}
            posted = [
                httpx.post(server.url + "/v1/jobs", json={"model": "mlp_regressor", "input": x}, headers=headers, timeout=30)
                for x in jittered_inputs(6)
            ]
            assert [r.status_code for r in posted] == [201] * 6, [r.text for r in posted]
            jobs = [finished_job(server.url, r.json()["id"], headers) for r in posted]
            assert [(j["state"], j["verified"]) for j in jobs] == [("done", True)] * 6
            assert httpx.get(server.url + "/v1/status", timeout=10).json()["backend"] == "ray"
            # Both worker nodes fetched the artifacts (their worker processes are still alive, serving); the head proves nothing.
            assert all(cluster.nodes[name].artifact_folders() for name in cluster.workers)
            assert not cluster.nodes["head"].artifact_folders()
        finally:
            server.stop()


def finished_job(url: str, job_id: str, headers: dict[str, str], timeout: float = 600.0) -> dict[str, Any]:
    """The job once it is done or failed (the server holds each request up to its own cap)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = httpx.get(f"{url}/v1/jobs/{job_id}", params={"wait": 60}, headers=headers, timeout=120).json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
