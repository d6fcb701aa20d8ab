"""Load test of ``zkml serve`` against ``zkml prove-many`` on the same inputs and workers.

    .venv/bin/python -m benchmarks.serve_load [--requests 200] [--clients 8] [--workers 1]

1. Builds circuits/mlp_regressor with its tuned settings (the committed
   ``circuits/mlp_regressor/tuned.json``, which the pipeline applies) in ``build/serve-bench``.
2. ``zkml prove-many`` on N inputs (warm, the same worker count), timed by its own JSON.
3. ``zkml serve start`` in a subprocess; C client threads post the N inputs (each with an
   idempotency key, honouring 429 Retry-After) and wait for their jobs. Throughput is N over
   the wall time from the first POST to the last job done; nothing lost or duplicated is checked.
4. ``prove-many`` again (the machine drifts: the baseline is the mean of the runs before and after).
5. Service overhead: the same server, one job at a time: client-observed POST-to-done latency
   minus the job's own witness + prove seconds, median over the sequential jobs.

Writes benchmarks/results/serve_load.{json,md}. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import CIRCUITS, RESULTS, machine

REPO = Path(__file__).resolve().parent.parent
ZKML = str(Path(sys.executable).parent / "zkml")


def tuned_workspace(root: Path) -> Path:
    """The tuned mlp workspace (built once; reused while its inputs are unchanged)."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    ws = root / "mlp_regressor"
    ws.mkdir(parents=True, exist_ok=True)
    summary = Pipeline(load_config(CIRCUITS / "mlp_regressor"), Workspace(ws)).run()
    if not str(summary.extra.get("settings", "")).startswith("tuned"):
        raise SystemExit(f"mlp_regressor did not build with its tuned settings: {summary.extra.get('settings')}")
    return ws


def make_inputs(count: int) -> list[dict[str, Any]]:
    import numpy as np

    base = np.asarray(json.loads((CIRCUITS / "mlp_regressor" / "input.json").read_text())["input_data"][0], dtype=float)
    rng = np.random.default_rng(7)
    return [{"input_data": [list(map(float, base + rng.normal(scale=0.05, size=base.shape)))]} for _ in range(count)]


def prove_many(ws: Path, inputs: Path, out: Path, workers: int) -> dict[str, Any]:
    report = out / "prove_many.json"
    subprocess.run(
        [
            ZKML,
            "prove-many",
            str(ws),
            str(inputs),
            "-o",
            str(out / "proofs"),
            "--workers",
            str(workers),
            "--device",
            "cpu",
            "--json",
            str(report),
        ],
        check=True,
        capture_output=True,
    )
    data = json.loads(report.read_text())
    shutil.rmtree(out / "proofs", ignore_errors=True)
    return {"wall_s": data["prove_wall_seconds"], "proofs": data["inputs"], "verified": sum(1 for p in data["proofs"] if p["verified"])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(ws: Path, folder: Path, workers: int, max_queue: int) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    args = [ZKML, "serve", "start", str(ws), "--db", str(folder / "jobs.sqlite"), "--data-dir", str(folder / "data")]
    args += ["--port", str(port), "--workers", str(workers), "--max-queue", str(max_queue)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=(folder / "server.log").open("wb"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not start: {(folder / 'server.log').read_text()[-2000:]}")


def client_run(url: str, token: str, jobs: list[tuple[str, dict[str, Any]]], post_ms: list[float], lock: threading.Lock) -> list[str]:
    """Post each (key, input), retrying 429 (bounded), then wait for each job; the job ids."""
    import httpx

    ids = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        for key, payload in jobs:
            for _ in range(10_000):
                t = time.perf_counter()
                r = client.post("/v1/jobs", json={"model": "mlp_regressor", "input": payload}, headers={"Idempotency-Key": key})
                if r.status_code in (200, 201):
                    with lock:
                        post_ms.append((time.perf_counter() - t) * 1000)
                    ids.append(r.json()["id"])
                    break
                if r.status_code != 429:
                    raise RuntimeError(r.text)
                time.sleep(min(float(r.headers["retry-after"]), 1.0))
        for job_id in ids:
            for _ in range(1000):
                if client.get(f"/v1/jobs/{job_id}", params={"wait": 60}).json()["state"] in ("done", "failed"):
                    break
    return ids


def run_service(url: str, token: str, inputs: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    import httpx

    keyed = [(f"load-{i}", x) for i, x in enumerate(inputs)]
    shares = [keyed[i::clients] for i in range(clients)]
    post_ms: list[float] = []
    lock = threading.Lock()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        ids = [i for f in [pool.submit(client_run, url, token, share, post_ms, lock) for share in shares] for i in f.result()]
    wall = time.perf_counter() - started
    jobs = httpx.get(url + "/v1/jobs", params={"limit": 500}, timeout=60).json()
    mine = [j for j in jobs if j["id"] in set(ids)]
    inner = [(j["proved"] - j["started"]) - (j["witness_seconds"] + j["prove_seconds"]) for j in mine]
    return {
        "wall_s": round(wall, 3),
        "accepted": len(ids),
        "distinct_jobs": len(set(ids)),
        "jobs_in_store": len(jobs),
        "done_verified": sum(1 for j in mine if j["state"] == "done" and j["verified"]),
        "post_ms_median": round(statistics.median(post_ms), 2),
        "post_ms_p95": round(sorted(post_ms)[int(0.95 * (len(post_ms) - 1))], 2),
        "in_service_overhead_ms_median": round(1000 * statistics.median(inner), 2),
        "prove_s_median": round(statistics.median(j["prove_seconds"] for j in mine), 3),
    }


def sequential_overhead(url: str, token: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """One job at a time: POST-to-done latency minus the job's own witness + prove seconds."""
    import httpx

    extra = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        for payload in inputs:
            t = time.perf_counter()
            job_id = client.post("/v1/jobs", json={"model": "mlp_regressor", "input": payload}).json()["id"]
            job = client.get(f"/v1/jobs/{job_id}", params={"wait": 60}).json()
            latency = time.perf_counter() - t
            extra.append(latency - job["witness_seconds"] - job["prove_seconds"])
    return {
        "jobs": len(extra),
        "overhead_ms_median": round(1000 * statistics.median(extra), 2),
        "overhead_ms_max": round(1000 * max(extra), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--max-queue", type=int, default=64)
    parser.add_argument("--build-dir", type=Path, default=REPO / "build" / "serve-bench")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    ws = tuned_workspace(args.build_dir)
    run = args.build_dir / f"run-{int(time.time())}"
    run.mkdir(parents=True)
    inputs = make_inputs(args.requests)
    jsonl = run / "inputs.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in inputs))
    before = prove_many(ws, jsonl, run / "pm1", args.workers)
    token = subprocess.run(
        [ZKML, "serve", "token", "create", "bench", "--scopes", "prove", "--db", str(run / "jobs.sqlite")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    proc, url = start_server(ws, run, args.workers, args.max_queue)
    try:
        load = run_service(url, token, inputs, args.clients)
        sequential = sequential_overhead(url, token, make_inputs(args.sequential))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    after = prove_many(ws, jsonl, run / "pm2", args.workers)
    baseline = (before["wall_s"] + after["wall_s"]) / 2
    result = {
        "machine": machine(),
        "circuit": "mlp_regressor (tuned: circuits/mlp_regressor/tuned.json)",
        "requests": args.requests,
        "clients": args.clients,
        "workers": args.workers,
        "prove_many": {"before": before, "after": after, "mean_wall_s": round(baseline, 3)},
        "service": load,
        "throughput_ratio": round(baseline / load["wall_s"], 3),
        "sequential": sequential,
        # Other work on the machine slows both sides alike, but adds noise: recorded, not corrected for.
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
    }
    (RESULTS / "serve_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "serve_load.md").write_text(render(result))
    print(json.dumps({k: result[k] for k in ("throughput_ratio", "service", "sequential")}, indent=2))


def render(r: dict[str, Any]) -> str:
    s, pm, seq = r["service"], r["prove_many"], r["sequential"]
    m = r["machine"]
    return f"""# zkml serve under load vs zkml prove-many

{r["requests"]} proof requests of {r["circuit"]} from {r["clients"]} concurrent clients, {r["workers"]} prover worker(s),
SQLite store, server and clients on 127.0.0.1 (`python -m benchmarks.serve_load`). Machine: {m.get("cpu", "")}, {m.get("cores", m.get("cpus", ""))} cores.
The machine's speed drifts between runs minutes apart, so prove-many ran before and after the service and the baseline is their mean.
{_load_note(r)}

| measure | value | goal |
| --- | --- | --- |
| prove-many wall (before / after / mean) | {pm["before"]["wall_s"]:.1f} s / {pm["after"]["wall_s"]:.1f} s / {pm["mean_wall_s"]:.1f} s | |
| service wall, first POST to last job done | {s["wall_s"]:.1f} s | |
| throughput, service / prove-many | **{r["throughput_ratio"]:.3f}×** | ≥ 0.9× |
| accepted / distinct jobs / jobs in store / done and verified | {s["accepted"]} / {s["distinct_jobs"]} / {s["jobs_in_store"]} / {s["done_verified"]} | none lost, none duplicated |
| service overhead per job, median (sequential jobs, POST-to-done minus witness + prove) | **{seq["overhead_ms_median"]:.1f} ms** (max {seq["overhead_ms_max"]:.1f} ms, {seq["jobs"]} jobs) | ≤ 50 ms |
| in-service overhead under load, median (claim to recorded, minus witness + prove: IPC, verify, commit) | {s["in_service_overhead_ms_median"]:.1f} ms | |
| POST latency under load, median / p95 | {s["post_ms_median"]:.1f} / {s["post_ms_p95"]:.1f} ms | |
| prove seconds per job, median | {s["prove_s_median"]:.3f} s | |

The service verifies every proof before recording it; prove-many's wall time above excludes its own verification
(it verifies after proving), so the ratio charges the service for verification that prove-many does outside its clock.
"""


def _load_note(r: dict[str, Any]) -> str:
    load = r.get("load_average_1min")
    if not load:
        return ""
    return f"1-minute load average at start / end: {load['start']} / {load['end']} (other work shared the machine).\n"


if __name__ == "__main__":
    main()
