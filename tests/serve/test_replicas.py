"""Many ``zkml serve start`` replicas on one real PostgreSQL: leases under kill -9, start-up safety, keepers, SIGTERM.

Every server here is a real subprocess (its own process group, so kill -9 takes its
prover processes too) on loopback. Leases are short (5 s, heartbeat 1 s) so that a
killed replica's jobs come back quickly; nothing asserts on wall-clock time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import Market, ServerProcess, fresh_database, jittered_inputs, server_process
from zkml.serve.store import JobStore

# Short, with room for a heartbeat thread starved by a loaded machine (two cores proving for three replicas).
LEASE = ["--lease", "5", "--heartbeat", "1"]
# Anvil's well-known dev accounts 1..3 (local chains only): one signing key per replica, as in production
# (replicas sharing one key would race for its nonces).
ANVIL_KEYS = (
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
)


def replica(workspace: Path, folder: Path, url: str, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
    """A replica over the PostgreSQL store ``url``, with its own data folder and log (``--db`` given last wins)."""
    folder.mkdir(parents=True, exist_ok=True)
    return server_process(workspace, folder, "--db", url, *LEASE, *extra, env=env)


def owned_by(store: JobStore, server: ServerProcess) -> str:
    """The owner id prefix of a replica's leases (``host-pid-``)."""
    assert server.proc is not None
    rows = store.db.execute("SELECT DISTINCT owner FROM jobs WHERE owner LIKE ?", (f"%-{server.proc.pid}-%",))
    assert len(rows) <= 1, rows
    return str(rows[0][0]) if rows else f"-{server.proc.pid}-"


def held(store: JobStore, owner: str) -> set[str]:
    rows = store.db.execute("SELECT id FROM jobs WHERE owner = ? AND state IN ('proving', 'publishing')", (owner,))
    return {str(r[0]) for r in rows}


def submit(urls: list[str], token: str, key: str, payload: dict[str, Any]) -> str:
    """POST to the replicas in turn until one accepts (a killed one is skipped); bounded. The job id."""
    import httpx

    for url in itertools.islice(itertools.cycle(urls), 600):
        try:
            response = httpx.post(
                url + "/v1/jobs",
                json={"model": "mlp_regressor", "input": payload},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                timeout=30,
            )
        except httpx.HTTPError:
            time.sleep(0.2)  # that replica is gone: the next one takes it
            continue
        if response.status_code in (200, 201):
            return str(response.json()["id"])
        assert response.status_code == 429, response.text
        time.sleep(min(float(response.headers["retry-after"]), 2.0))
    raise AssertionError(f"request {key} was never accepted")


def until(predicate: Any, timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def make_pg_token(url: str) -> str:
    from zkml.serve.tokens import create_token

    store = JobStore(url)
    try:
        return create_token(store, "load", frozenset({"prove"}))[1]
    finally:
        store.close()


def proving_events(store: JobStore) -> dict[str, list[tuple[str, str | None]]]:
    """Each job's events as (kind, detail), oldest first."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    for job_id, kind, _, detail in store.events():
        found.setdefault(job_id, []).append((kind, detail))
    return found


@pytest.mark.slow
def test_three_replicas_300_jobs_one_killed(tuned_mlp: Any, postgres_url: str, tmp_path: Path) -> None:
    workspace = Path(tuned_mlp.ws.root)
    url = fresh_database(postgres_url, "replicas_load")
    token = make_pg_token(url)
    store = JobStore(url)
    servers = [replica(workspace, tmp_path / f"r{i}", url, "--max-queue", "400") for i in range(3)]
    jobs, clients = 300, 16
    inputs = jittered_inputs(jobs)
    try:
        for server in servers[:2]:
            server.start()
        urls = [s.url for s in servers]
        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(submit, urls[:2], token, f"load-{i}", x) for i, x in enumerate(inputs[:40])]
            # Start-up safety: the third replica starts while the first two are mid-proof.
            until(lambda: store.counts()["proving"] >= 2 and store.counts()["done"] >= 2, 600, "two replicas proving")
            before = {job.id: (job.owner, job.lease_until is not None) for job in store.list_jobs(state="proving", limit=1000)}
            servers[2].start()
            events = proving_events(store)
            assert all(
                ("lease_expired", owner) not in events[i] and [k for k, _ in events[i]].count("proving") == 1
                for i, (owner, _) in before.items()
            ), "starting a replica touched a live replica's job"
            futures += [pool.submit(submit, urls, token, f"load-{i}", x) for i, x in enumerate(inputs[40:], start=40)]
            # kill -9 one replica once it holds a job and a third of the work is done.
            victim = servers[1]
            until(
                lambda: store.counts()["done"] >= jobs // 3 and held(store, owned_by(store, victim)),
                1800,
                "the victim holding a job mid-load",
                poll=0.02,
            )
            owner = owned_by(store, victim)
            victim.kill9()
            held_at_kill = held(store, owner)
            ids = [f.result(timeout=3600) for f in futures]
        assert len(set(ids)) == jobs  # every request accepted, one job each
        until(lambda: store.counts()["done"] + store.counts()["failed"] >= jobs, 3600, "every job finished", poll=0.5)
        wall = time.monotonic() - started
    finally:
        for server in servers:
            server.stop()
    try:
        counts = store.counts()
        assert counts["done"] == jobs and len(store.list_jobs(limit=10_000)) == jobs, counts
        events = proving_events(store)
        for job_id in ids:
            kinds = [k for k, _ in events[job_id]]
            job = store.get(job_id)
            assert job is not None and job.verified and job.proof, job_id
            assert kinds.count("done") == 1, (job_id, kinds)  # recorded exactly once
        reproved = {i for i in ids if [k for k, _ in events[i]].count("proving") > 1}
        expired_with_victim = {i for i in ids if ("lease_expired", owner) in events[i]}
        # Proved twice only where the killed replica's lease expired, and no more than it held.
        assert reproved <= expired_with_victim <= held_at_kill, (reproved, expired_with_victim, held_at_kill)
        numbers = {"jobs": jobs, "clients": clients, "wall_s": round(wall, 1), "jobs_per_s": round(jobs / wall, 3),
                   "held_at_kill": len(held_at_kill), "lease_expired": len(expired_with_victim), "reproved": len(reproved)}  # fmt: skip
        print("replicas:", json.dumps(numbers))
        (tmp_path / "numbers.json").write_text(json.dumps(numbers))
    finally:
        store.close()


@pytest.mark.slow
def test_sigterm_under_load_drains(tuned_mlp: Any, postgres_url: str, tmp_path: Path) -> None:
    """SIGTERM to the server (as `docker stop` or Kubernetes send it): the proof in flight is recorded, the rest is queued."""
    workspace = Path(tuned_mlp.ws.root)
    url = fresh_database(postgres_url, "replicas_sigterm")
    token = make_pg_token(url)
    store = JobStore(url)
    server = replica(workspace, tmp_path / "r", url).start()
    inputs = jittered_inputs(10)
    try:
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(lambda i: submit([server.url], token, f"term-{i}", inputs[i]), range(len(inputs))))
        until(lambda: store.counts()["done"] >= 1 and store.counts()["proving"] >= 1, 600, "a proof in flight", poll=0.02)
        in_flight = {j.id for j in store.list_jobs(state="proving", limit=100)}
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGTERM)  # the server only: it must stop its own provers
        code = server.proc.wait(timeout=300)
        # The prover processes and multiprocessing's resource tracker leave with it (they write to the same log).
        until(lambda: not _group_alive(server.proc.pid), 60, "the server's process group to exit")  # type: ignore[union-attr]
        log = server.log.read_text()
        assert code == 0, log[-3000:]
        assert "leaked semaphore" not in log and "Traceback" not in log, log[-3000:]
        counts = store.counts()
        assert counts["proving"] == 0 and counts["done"] + counts["queued"] == len(ids), counts  # nothing lost
        assert all(store.get(i).state == "done" for i in in_flight)  # type: ignore[union-attr]  # in flight: finished, recorded
        server.start()  # the queued rest is proved by the next start
        until(lambda: store.counts()["done"] == len(ids), 600, "the rest proved")
        events = proving_events(store)
        assert all([k for k, _ in events[i]].count("done") == 1 for i in ids)
    finally:
        server.stop()
        store.close()


def _holder(store: JobStore, key: str) -> tuple[str, str] | None:
    """(state, owner) of the job an idempotency key made, once a replica has taken it."""
    job = store.by_key(key)
    return None if job is None or job.owner is None else (job.state, job.owner)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_keepers_on_three_replicas_publish_20_rounds_once(tuned_mlp: Any, postgres_url: str, market: Market, tmp_path: Path) -> None:
    from zkml.serve.keeper import keeper_key

    workspace = Path(tuned_mlp.ws.root)
    url = fresh_database(postgres_url, "replicas_keeper")
    chain = ["--rpc-url", market.url, "--oracle", market.oracle, "--feed", market.feed, "--model-id", "0x" + market.model_id.hex()]
    servers = [
        replica(workspace, tmp_path / f"k{i}", url, *chain, "--keeper", "--max-epoch-lag", "8", env={"ZKML_PRIVATE_KEY": key})
        for i, key in enumerate(ANVIL_KEYS)
    ]
    store = JobStore(url)
    name = tuned_mlp.config.name
    rounds, pushed = 20, []

    def done(epoch: int) -> bool:
        job = store.by_key(keeper_key(name, epoch))
        assert job is None or job.state != "failed", job.error if job else None
        return job is not None and job.state == "done"

    try:
        for server in servers:
            server.start()
        until(lambda: store.last_keyed_epoch(name, f"keeper:{name}:") is not None, 120, "the keepers' first epoch")
        first = store.last_keyed_epoch(name, f"keeper:{name}:")
        assert first is not None
        until(lambda: done(first), 300, "the first epoch published")
        killed_mid_flight = None
        for round_ in range(rounds):
            (epoch,) = market.push(1)
            pushed.append(epoch)
            if round_ == rounds // 2:
                # kill -9 the replica that took this epoch's job, while it proves or publishes it if we catch it:
                # the others carry on, and take the job over once its lease expires.
                until(lambda e=epoch: _holder(store, keeper_key(name, e)) is not None, 120, f"epoch {epoch} claimed", poll=0.01)
                state, owner = _holder(store, keeper_key(name, epoch)) or ("", "")
                (victim,) = [s for s in servers if s.proc is not None and f"-{s.proc.pid}-" in owner]
                victim.kill9()
                killed_mid_flight = state in ("proving", "publishing")
            until(lambda e=epoch: done(e), 300, f"epoch {epoch} published")
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()
    try:
        published = Counter(e for e, _ in market.published() if e >= first)
        assert [published[e] for e in pushed] == [1] * rounds  # each round published, once
        assert all(n == 1 for n in published.values())  # nothing published twice
        assert len(store.list_jobs(limit=10_000)) == rounds + 1  # one job per epoch across three keepers
        owners = Counter(str(job.owner) for job in (store.by_key(keeper_key(name, e)) for e in pushed) if job is not None)
        print("keeper replicas: publications by owner", dict(owners), "killed mid-flight:", killed_mid_flight)
    finally:
        store.close()


def test_replicas_start_together_on_a_fresh_store(postgres_url: str) -> None:
    """Migrations under concurrency: stores opened at once on an empty database all come up, at the latest schema."""
    from zkml.serve.db import MIGRATIONS

    url = fresh_database(postgres_url, "replicas_migrate")
    errors: list[BaseException] = []
    opened: list[JobStore] = []
    lock = threading.Lock()

    def open_store() -> None:
        try:
            store = JobStore(url)
        except BaseException as exc:  # collected, then asserted
            errors.append(exc)
            return
        with lock:
            opened.append(store)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == [] and len(opened) == 6
        assert opened[0].db.execute("SELECT MAX(version), COUNT(*) FROM schema_version") == [(len(MIGRATIONS), len(MIGRATIONS))]
    finally:
        for store in opened:
            store.close()
