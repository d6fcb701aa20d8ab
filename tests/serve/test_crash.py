"""kill -9 of the server during load, then a restart: every accepted job completes, exactly once.

The server runs as ``zkml serve start`` in its own process group; the kill takes
the server and its prover processes at once, with no clean-up. Clients retry
with their idempotency keys (as a real client would after a dropped
connection), so a request the dead server had accepted maps to the same job.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import ServerProcess, jittered_inputs, make_token, server_process


def submit_with_retries(url: str, token: str, key: str, payload: dict[str, Any], stop: threading.Event) -> str | None:
    """POST until accepted (201/200): retries 429 after Retry-After and a dead server; bounded. Returns the job id."""
    import httpx

    for _ in range(600):
        if stop.is_set():
            return None
        try:
            response = httpx.post(
                url + "/v1/jobs",
                json={"model": "mlp_regressor", "input": payload},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                timeout=30,
            )
        except httpx.HTTPError:
            time.sleep(0.5)  # the server is down (killed): try again when it is back
            continue
        if response.status_code in (200, 201):
            return str(response.json()["id"])
        assert response.status_code == 429, response.text
        time.sleep(min(float(response.headers["retry-after"]), 2.0))
    raise AssertionError(f"request {key} was never accepted")


def counts(url: str) -> dict[str, int]:
    import httpx

    try:
        return dict(httpx.get(url + "/v1/status", timeout=10).json()["counts"])
    except httpx.HTTPError:
        return {}


def run_crash(workspace: Path, folder: Path, *, jobs: int, clients: int, max_queue: int) -> None:
    from zkml.serve.store import JobStore

    token = make_token(folder)
    server: ServerProcess = server_process(workspace, folder, "--max-queue", str(max_queue)).start()
    stop = threading.Event()
    inputs = jittered_inputs(jobs)
    try:
        with ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(submit_with_retries, server.url, token, f"load-{i}", x, stop) for i, x in enumerate(inputs)]
            # Kill once some jobs are done and one is being proved (bounded wait).
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                c = counts(server.url)
                if c.get("done", 0) >= 1 and c.get("proving", 0) >= 1:
                    break
                time.sleep(0.05)
            server.kill9()
            store = JobStore(str(folder / "jobs.sqlite"))
            caught = [j.id for j in store.list_jobs(state="proving", limit=1000)]
            store.close()
            assert caught, "the kill found no job being proved"
            server.start()
            ids = [f.result(timeout=1800) for f in futures]
        assert all(ids) and len(set(ids)) == jobs  # every request accepted, one job each
        import httpx

        finished = [httpx.get(f"{server.url}/v1/jobs/{i}", params={"wait": 60}, timeout=120).json() for i in ids]
        deadline = time.monotonic() + 1800
        while any(j["state"] not in ("done", "failed") for j in finished) and time.monotonic() < deadline:
            finished = [httpx.get(f"{server.url}/v1/jobs/{i}", params={"wait": 60}, timeout=120).json() for i in ids]
        assert [j["state"] for j in finished] == ["done"] * jobs
        assert all(j["verified"] for j in finished)
    finally:
        stop.set()
        server.stop()
    store = JobStore(str(folder / "jobs.sqlite"))
    try:
        events = store.events()
        assert len(store.list_jobs(limit=10_000)) == jobs  # none duplicated
        for job_id in ids:
            kinds = [kind for j, kind, _, _ in events if j == job_id]
            assert kinds.count("done") == 1, (job_id, kinds)
        for job_id in caught:  # the jobs the kill interrupted were proved again, and recorded once
            job = store.get(job_id)
            assert job is not None and job.attempts >= 2
            assert "requeued" in [kind for j, kind, _, _ in events if j == job_id]
    finally:
        store.close()


def test_kill9_during_load_then_restart(tuned_mlp: Any, tmp_path: Path) -> None:
    run_crash(Path(tuned_mlp.ws.root), tmp_path, jobs=6, clients=3, max_queue=4)


@pytest.mark.slow
def test_kill9_during_200_request_load(tuned_mlp: Any, tmp_path: Path) -> None:
    run_crash(Path(tuned_mlp.ws.root), tmp_path, jobs=200, clients=8, max_queue=64)
