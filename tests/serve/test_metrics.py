"""/metrics: jobs by state (from the store, so they survive a restart), latencies, HTTP requests by route and status."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.serve.conftest import LiveServer, make_service, sample_input


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        head, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))  # label values may hold braces: /v1/jobs/{job_id}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    raise AssertionError(f"{name} {labels} not in /metrics")


def test_a_proved_job_shows_in_every_new_metric(live: LiveServer, tokens: dict[str, str]) -> None:
    client = live.client(tokens["prove"])
    job = client.post("/v1/jobs", json={"model": "mlp_regressor", "input": sample_input()}).json()
    assert client.get(f"/v1/jobs/{job['id']}", params={"wait": 60}).json()["state"] == "done"
    assert client.get("/v1/jobs/no-such-job").status_code == 404
    text = client.get("/metrics").text
    assert _value(text, "zkml_serve_jobs", state="done") >= 1
    assert _value(text, "zkml_serve_queue_wait_seconds_count", model="mlp_regressor") >= 1
    assert _value(text, "zkml_serve_job_seconds_count", model="mlp_regressor") >= 1
    assert _value(text, "zkml_serve_http_requests_total", route="/v1/jobs", method="POST", status="201") >= 1
    # Counted by the route's template, not the raw path (one series per route, not per job id).
    assert _value(text, "zkml_serve_http_requests_total", route="/v1/jobs/{job_id}", method="GET", status="404") >= 1
    assert "no-such-job" not in text
    assert _value(text, "zkml_serve_http_request_seconds_count", route="/v1/jobs") >= 1


def test_jobs_by_state_are_read_from_the_store_across_a_restart(served: Any, tmp_path: Path) -> None:
    first = make_service(served, tmp_path, run_workers=False).start()
    try:
        first.store.submit(served.name, '{"input_data": [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]}')
        assert _value(first.metrics.render()[0].decode(), "zkml_serve_jobs", state="queued") == 1
    finally:
        first.stop()
    again = make_service(served, tmp_path, run_workers=False).start()
    try:
        text = again.metrics.render()[0].decode()
        assert _value(text, "zkml_serve_jobs", state="queued") == 1 and _value(text, "zkml_serve_jobs", state="done") == 0
    finally:
        again.stop()


def test_lease_expiries_and_requeues_are_counted_from_the_store(served: Any, tmp_path: Path) -> None:
    from zkml.serve.store import JobStore

    dead = JobStore(str(tmp_path / "jobs.sqlite"), owner="dead-replica", lease_s=-1.0)  # a replica that stopped heartbeating
    try:
        job, _ = dead.submit(served.name, "{}")
        dead.claim(served.name, 1)
    finally:
        dead.close()
    first = make_service(served, tmp_path, run_workers=False).start()
    try:
        text = first.metrics.render()[0].decode()
        assert _value(text, "zkml_serve_lease_expiries_total") == 0 and _value(text, "zkml_serve_requeues_total") == 0
        assert first.store.expire_leases() == 1
        text = first.metrics.render()[0].decode()
        assert _value(text, "zkml_serve_lease_expiries_total") == 1 and _value(text, "zkml_serve_requeues_total") == 1
    finally:
        first.stop()
    again = make_service(served, tmp_path, run_workers=False).start()  # a restart (or another replica) reads the same counts
    try:
        text = again.metrics.render()[0].decode()
        assert _value(text, "zkml_serve_lease_expiries_total") == 1 and _value(text, "zkml_serve_requeues_total") == 1
    finally:
        again.stop()
