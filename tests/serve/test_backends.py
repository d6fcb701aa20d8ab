"""The service's prover backends: the process pool (the default, used by every other test here) and Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import LiveServer, jittered_inputs, make_service


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
