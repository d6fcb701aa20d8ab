"""``zkml prove-many --ray ADDRESS`` on one Ray node against a head plus two worker nodes, and a node killed mid-run.

    .venv/bin/python -m benchmarks.ray_cluster [--inputs 100]

In one run, on the tuned mlp_regressor (the committed ``circuits/mlp_regressor/tuned.json``, built in
``build/ray-bench``) and the same N inputs each time:

- one node: ``ray start --head --num-cpus 2`` alone;
- a cluster: ``ray start --head --num-cpus 0`` (it schedules and holds the objects, proves nothing) plus two
  ``ray start --address`` worker nodes with 1 CPU each: the same two proving slots spread over two raylets,
  with artifacts shipped through the object store to each worker process;
- the same cluster with worker node B killed (SIGKILL of every process of the node) while it proves:
  every input must still be proved, the jobs it held retried on node A;
in the order one node, cluster, one node, cluster, cluster with the kill: each set-up's throughput is the
mean of its two runs (the machine's speed drifts between runs minutes apart).

Every node is a separate process tree on 127.0.0.1 (tests/proving/ray_nodes.py). The driver is
``zkml prove-many`` in a subprocess, timed by its own JSON (``prove_wall_seconds``: connecting to Ray,
shipping the artifacts and proving; verification is outside it). On a 2-core machine this measures
the cluster's overhead, not a speed-up. Writes benchmarks/results/ray_cluster.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, machine
from benchmarks.serve_load import make_inputs, tuned_workspace

REPO = Path(__file__).resolve().parent.parent
ZKML = str(Path(sys.executable).parent / "zkml")


def prove_many(cluster: Any, ws: Path, inputs: Path, out: Path) -> subprocess.Popen[bytes]:
    out.mkdir(parents=True, exist_ok=True)
    args = [ZKML, "prove-many", str(ws), str(inputs), "-o", str(out / "proofs"), "--device", "cpu", "--ray", cluster.address]
    log = (out / "prove-many.log").open("wb")
    return subprocess.Popen([*args, "--json", str(out / "report.json")], env=cluster.env, stdout=log, stderr=log)


def summarise(proc: subprocess.Popen[bytes], out: Path, count: int, cluster: Any) -> dict[str, Any]:
    """The run's throughput, split per node and verdicts, from the driver's JSON; fails loudly on any loss."""
    if proc.wait(timeout=3600) != 0:
        raise SystemExit(f"prove-many failed: {(out / 'prove-many.log').read_text()[-3000:]}")
    report = json.loads((out / "report.json").read_text())
    rows = report["proofs"]
    indices = sorted(row["index"] for row in rows)
    if indices != list(range(count)) or not all(row["verified"] is True for row in rows):
        raise SystemExit(f"inputs lost or unverified: {len(rows)} rows, {sum(r['verified'] is True for r in rows)} verified")
    split = Counter(_node_name(row["node"], cluster) for row in rows)
    wall = float(report["prove_wall_seconds"])
    return {
        "proved": len(rows),
        "verified": sum(row["verified"] is True for row in rows),
        "prove_wall_s": round(wall, 2),
        "proofs_per_s": round(count / wall, 3),
        "prove_s_median": round(sorted(row["prove_seconds"] for row in rows)[len(rows) // 2], 3),
        "split": dict(sorted(split.items())),
    }


def _node_name(label: str, cluster: Any) -> str:
    """A node's name in this benchmark: its custom resource on the cluster, ``head`` for the one-node run."""
    if cluster.workers:
        return next((name for name in cluster.workers if f"({name})" in label), label)
    return "head"


def run_one_node(ws: Path, inputs: Path, out: Path, count: int) -> dict[str, Any]:
    from tests.proving.ray_nodes import running_cluster

    with running_cluster(workers={}, head_cpus=2) as cluster:
        return {"run": "one node (head, 2 CPUs)", **summarise(prove_many(cluster, ws, inputs, out), out, count, cluster)}


def run_cluster(ws: Path, inputs: Path, out: Path, count: int, *, kill_after_s: float | None = None) -> dict[str, Any]:
    """Head (0 CPUs) + worker_a + worker_b (1 CPU each); with ``kill_after_s``, worker_b is killed mid-job after that long."""
    from tests.proving.ray_nodes import running_cluster

    with running_cluster() as cluster:
        proc = prove_many(cluster, ws, inputs, out)
        killed: dict[str, Any] = {}
        if kill_after_s is not None:
            killed = kill_mid_job(cluster, proc, kill_after_s)
        row = summarise(proc, out, count, cluster)
    name = "head (0 CPUs) + 2 worker nodes (1 CPU each)"
    if not killed:
        return {"run": name, **row}
    return {"run": name + ", worker_b killed mid-run", **row, **killed}


def kill_mid_job(cluster: Any, proc: subprocess.Popen[bytes], after_s: float) -> dict[str, Any]:
    """SIGKILL worker_b's whole process tree at a moment it holds a job, ``after_s`` seconds after its first job."""
    victim = cluster.nodes["worker_b"]
    while not victim.jobs_in_flight():
        if proc.poll() is not None:
            raise SystemExit("the run ended before worker_b took a job")
        time.sleep(0.01)
    started = time.monotonic()
    time.sleep(after_s)
    if proc.poll() is not None:
        raise SystemExit("the run ended before worker_b could be killed mid-job: lower --kill-after")
    lost = sorted(cluster.kill_mid_job("worker_b"))
    return {"killed_at_s": round(time.monotonic() - started, 1), "jobs_in_flight_on_killed_node": len(lost), "lost_jobs": lost}


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100)
    parser.add_argument("--kill-after", type=float, default=8.0, help="seconds into proving before worker_b is killed")
    parser.add_argument("--root", type=Path, default=REPO / "build" / "ray-bench")
    args = parser.parse_args(argv)

    ws = tuned_workspace(args.root)
    inputs = args.root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    for stale in inputs.glob("*.json"):
        stale.unlink()
    for index, item in enumerate(make_inputs(args.inputs)):
        (inputs / f"in{index:03d}.json").write_text(json.dumps(item))
    runs = args.root / "runs"
    # Alternated, because the machine's speed drifts minutes apart: each set-up's throughput is the mean of its runs.
    plan = [
        ("one_node_1", lambda out: run_one_node(ws, inputs, out, args.inputs)),
        ("cluster_1", lambda out: run_cluster(ws, inputs, out, args.inputs)),
        ("one_node_2", lambda out: run_one_node(ws, inputs, out, args.inputs)),
        ("cluster_2", lambda out: run_cluster(ws, inputs, out, args.inputs)),
        ("cluster_kill", lambda out: run_cluster(ws, inputs, out, args.inputs, kill_after_s=args.kill_after)),
    ]
    rows = []
    for key, run in plan:
        before = load()
        row = run(runs / key)
        rows.append({"key": key, **row, "load_before": before, "load_after": load()})
        print(json.dumps(rows[-1]), flush=True)
    write(rows, args.inputs)


def rewrite() -> None:
    """Write the markdown again from the committed JSON (after a change to the table's wording)."""
    payload = json.loads((RESULTS / "ray_cluster.json").read_text())
    write(payload["rows"], payload["inputs"], payload["machine"])


def write(rows: list[dict[str, Any]], count: int, info: dict[str, Any] | None = None) -> None:
    by = {row["key"]: row for row in rows}
    baseline = (by["one_node_1"]["proofs_per_s"] + by["one_node_2"]["proofs_per_s"]) / 2
    spread = (by["cluster_1"]["proofs_per_s"] + by["cluster_2"]["proofs_per_s"]) / 2
    ratio = spread / baseline
    kill_ratio = by["cluster_kill"]["proofs_per_s"] / baseline
    info = info or machine()
    payload = {
        "machine": info,
        "inputs": count,
        "one_node_proofs_per_s": round(baseline, 3),
        "cluster_proofs_per_s": round(spread, 3),
        "ratio": round(ratio, 3),
        "killed_run_ratio": round(kill_ratio, 3),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray_cluster.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# zkml prove-many on a Ray cluster: one node vs a head plus two worker nodes",
        "",
        f"{count} inputs of mlp_regressor (tuned: circuits/mlp_regressor/tuned.json) per run, `zkml prove-many WORKSPACE "
        "--ray ADDRESS` as the driver, every Ray node a separate `ray start --block` process tree on 127.0.0.1 "
        "(`python -m benchmarks.ray_cluster`).",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}, {info['date']}.",
        "Both set-ups have two proving slots on the same two cores, so this measures the cluster's overhead (raylets, "
        "object transfer, per-node workers), not a speed-up. Throughput is N over `prove_wall_seconds` from the "
        "driver's JSON (connect, ship the artifacts, prove; verification outside). Load average: 1 / 5 / 15 minutes.",
        "",
        "| run | proved / verified | prove wall | proofs/s | median prove s | split per node | load before | load after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        split = ", ".join(f"{node} {n}" for node, n in row["split"].items())
        lines.append(
            f"| {row['run']} | {row['proved']} / {row['verified']} | {row['prove_wall_s']} s | {row['proofs_per_s']} | "
            f"{row['prove_s_median']} | {split} | {row['load_before']} | {row['load_after']} |"
        )
    kill = by["cluster_kill"]
    lines += [
        "",
        f"- **Cluster / one node: {ratio:.3f}×** (goal ≥ 0.85×): {spread:.3f} against {baseline:.3f} proofs/s, each the mean of "
        "its two runs (alternated, because the machine's speed drifts between runs minutes apart).",
        f"- Node killed mid-run: worker_b's whole process tree SIGKILLed {kill['killed_at_s']} s into proving with "
        f"{kill['jobs_in_flight_on_killed_node']} job(s) in flight ({', '.join(kill['lost_jobs'])}); "
        f"{kill['proved']} of {count} proved and verified, none lost; throughput {kill_ratio:.3f}× of one node "
        "(after the kill one 1-CPU node is left: about half the throughput is what losing half the slots costs).",
        "- Artifacts reached every worker process through Ray's object store (ray.put of the bytes, materialised in a "
        "per-process temp folder on its node); no worker reads the driver's files.",
    ]
    noise = max(
        abs(by[a]["proofs_per_s"] - by[b]["proofs_per_s"]) / min(by[a]["proofs_per_s"], by[b]["proofs_per_s"])
        for a, b in (("one_node_1", "one_node_2"), ("cluster_1", "cluster_2"))
    )
    busiest = max(float(row[key].split(" / ")[0]) for row in rows for key in ("load_before", "load_after"))
    if busiest > (info["cores"] or 1):
        lines += [
            "",
            f"**The machine was busy**: 1-minute load averages up to {busiest:.1f} on {info['cores']} cores (other work "
            "shared it, and Ray runs its workers at nice 15, below that work). The two runs of one set-up differ by up to "
            f"{noise:.0%}, so the ratio carries that much noise: a ratio above 1 is not a speed-up (both set-ups have the "
            "same two slots on the same cores), and one within that margin of 1 means no overhead measurable here.",
        ]
    (RESULTS / "ray_cluster.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
