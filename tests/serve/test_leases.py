"""Job leases at the store level, on SQLite and on a real PostgreSQL: who holds a job, for how long, and who may record it.

Each test opens several :class:`JobStore` objects on one database, each with its own
owner id: replicas as the store sees them. A lease of -1 s is one that already
expired (a replica that stopped heartbeating), so no test sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zkml.serve.store import JobStore

LONG = 3600.0
EXPIRED = -1.0

Replica = Callable[..., JobStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def replica(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replica]:
    """A factory of stores on one database: ``replica("a", lease_s)`` is replica a's view."""
    url = str(tmp_path / "jobs.sqlite") if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
    opened: list[JobStore] = []

    def make(owner: str, lease_s: float = LONG) -> JobStore:
        opened.append(JobStore(url, owner=owner, lease_s=lease_s))
        return opened[-1]

    if request.param == "postgresql":
        make("setup").db.execute("TRUNCATE jobs, job_events, tokens")  # one server per session: start empty
    try:
        yield make
    finally:
        for store in opened:
            store.close()


def db_now(store: JobStore) -> float:
    return float(store.db.execute(f"SELECT {store.db.dialect.now}")[0][0])


def kinds(store: JobStore, job_id: str) -> list[str]:
    return [kind for _, kind, _, _ in store.events(job_id)]


def test_a_claim_sets_the_owner_and_the_lease(replica: Replica) -> None:
    a = replica("replica-a", 30.0)
    job, _ = a.submit("m", "{}")
    (claimed,) = a.claim("m", 1)
    assert claimed.owner == "replica-a" and claimed.state == "proving"
    assert claimed.lease_until is not None and 0 < claimed.lease_until - db_now(a) <= 30.0


def test_a_heartbeat_extends_only_the_owners_leases(replica: Replica) -> None:
    a, b = replica("a", EXPIRED), replica("b")
    mine, _ = a.submit("m", "{}")
    (claimed,) = a.claim("m", 1)  # already past its lease: one more missed beat and it would be taken
    theirs, _ = b.submit("m", "{}")
    b.claim("m", 1)
    a.lease_s = LONG
    assert a.heartbeat() == 1  # its own job only
    held = a.get(mine.id)
    assert held is not None and held.lease_until is not None and held.lease_until > db_now(a) + LONG / 2
    assert b.expire_leases() == 0 and a.get(mine.id) == held


def test_expiry_requeues_only_expired_leases(replica: Replica) -> None:
    live, dead, other = replica("live"), replica("dead", EXPIRED), replica("other")
    alive, _ = live.submit("m", "{}")
    live.claim("m", 1)
    lost, _ = dead.submit("m", "{}")
    dead.claim("m", 1)
    assert other.expire_leases() == 1
    back = other.get(lost.id)
    assert back is not None and (back.state, back.owner, back.lease_until) == ("queued", None, None)
    assert kinds(other, lost.id) == ["queued", "proving", "lease_expired", "requeued"]
    assert [d for _, k, _, d in other.events(lost.id) if k == "lease_expired"] == ["dead"]  # names whose lease it was
    still = other.get(alive.id)
    assert still is not None and (still.state, still.owner) == ("proving", "live")
    (again,) = other.claim("m", 1)
    assert again.id == lost.id and again.attempts == 2 and again.owner == "other"


def test_a_new_replica_changes_nothing_of_a_live_replicas_jobs(replica: Replica) -> None:
    first = replica("first")
    proving, _ = first.submit("m", "{}", publish=True, epoch=3)
    first.claim("m", 1)
    publishing, _ = first.submit("m", "{}", publish=True, epoch=4)
    first.claim("m", 1)
    first.proved(publishing.id, outputs=[1.0], proof="{}", verified=True, witness_seconds=0.0, prove_seconds=0.0)
    before = [first.get(proving.id), first.get(publishing.id)]
    second = replica("second")  # what a replica does at start: expire leases (only expired ones)
    assert second.expire_leases() == 0
    assert second.claim("m", 10) == [] and second.claim_publishing() == []
    assert [second.get(proving.id), second.get(publishing.id)] == before


def test_a_stale_owner_cannot_record(replica: Replica) -> None:
    stale, taker = replica("stale", EXPIRED), replica("taker")
    job, _ = stale.submit("m", "{}")
    stale.claim("m", 1)
    assert taker.expire_leases() == 1
    # Expired and back in the queue: the old owner's late result is dropped.
    assert not stale.proved(job.id, outputs=[1.0], proof="{}", verified=True, witness_seconds=0.0, prove_seconds=0.0)
    taker.claim("m", 1)
    # Taken over by another replica: still dropped, and it cannot fail or requeue the job either.
    assert not stale.proved(job.id, outputs=[1.0], proof="{}", verified=True, witness_seconds=0.0, prove_seconds=0.0)
    assert not stale.fail(job.id, "proving", "late", "Late") and not stale.requeue(job.id)
    assert taker.proved(job.id, outputs=[2.0], proof="{}", verified=True, witness_seconds=0.0, prove_seconds=0.0)
    done = taker.get(job.id)
    assert done is not None and done.state == "done" and done.owner == "taker" and done.outputs == "[2.0]"
    assert kinds(taker, job.id).count("done") == 1


def test_one_replica_publishes_a_job_at_a_time(replica: Replica) -> None:
    prover, other = replica("prover"), replica("other")
    job, _ = prover.submit("m", "{}", publish=True, epoch=9)
    prover.claim("m", 1)
    prover.proved(job.id, outputs=[1.0], proof="{}", verified=True, witness_seconds=0.0, prove_seconds=0.0)
    assert other.claim_publishing() == []  # the prover's lease carries over to publishing
    assert not other.record_tx(job.id, "0xother")  # so another replica may not record (and must not send)
    assert [j.id for j in prover.claim_publishing()] == [job.id]
    assert prover.record_tx(job.id, "0xfirst")
    prover.lease_s = EXPIRED  # the prover dies after recording its hash
    prover.heartbeat()
    assert other.expire_leases() == 1
    (taken,) = other.claim_publishing()
    assert taken.id == job.id and taken.tx_hash == "0xfirst"  # the new holder resolves the recorded hash first
    assert not prover.published(job.id, tx_hash="0xfirst", gas_used=1, prediction={})
    assert other.published(job.id, tx_hash="0xfirst", gas_used=1, prediction={"epoch": 9})
    assert kinds(other, job.id).count("done") == 1


def test_a_draining_replica_gives_back_what_it_holds(replica: Replica) -> None:
    leaving, staying = replica("leaving"), replica("staying")
    proving, _ = leaving.submit("m", "{}")
    publishing, _ = leaving.submit("m", "{}", publish=True)
    leaving.claim("m", 2)
    leaving.proved(publishing.id, outputs=[1.0], proof="{}", verified=True, witness_seconds=0.0, prove_seconds=0.0)
    assert leaving.release_leases() == 2
    assert [j.id for j in staying.claim("m", 5)] == [proving.id]
    assert [j.id for j in staying.claim_publishing()] == [publishing.id]
    assert staying.count_events(["lease_expired", "requeued", "released"]) == {"lease_expired": 0, "requeued": 1, "released": 1}


def test_a_sole_service_takes_back_every_lease_at_start(replica: Replica) -> None:
    crashed, restarted = replica("crashed"), replica("restarted")
    job, _ = crashed.submit("m", "{}")
    crashed.claim("m", 1)
    assert restarted.expire_leases() == 0  # still leased...
    assert restarted.expire_leases(everyone=True) == 1  # ...but on SQLite the file lock proves its service is gone
    back = restarted.get(job.id)
    assert back is not None and back.state == "queued"


def test_concurrent_claimers_take_each_job_once(replica: Replica) -> None:
    replicas = [replica(f"r{i}") for i in range(4)]
    ids = {replicas[0].submit("m", "{}")[0].id for _ in range(40)}
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()

    def claim_all(store: JobStore) -> None:
        while jobs := store.claim("m", 3):
            with lock:
                taken.extend((j.id, str(j.owner)) for j in jobs)

    threads = [threading.Thread(target=claim_all, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(i for i, _ in taken) == sorted(ids)  # every job claimed, none twice
    assert all(replicas[0].get(i).owner == owner for i, owner in taken)  # type: ignore[union-attr]


def test_a_service_started_beside_a_live_replica_leaves_its_job_alone(served: Any, postgres_url: str, tmp_path: Path) -> None:
    """The user's case from issue 21, on PostgreSQL: a second service used to requeue (and re-prove) the first one's job."""
    from zkml.serve.service import ServeConfig, Service

    live = JobStore(postgres_url, owner="live-replica", lease_s=LONG)
    live.db.execute("TRUNCATE jobs, job_events, tokens")
    service = Service(ServeConfig(store_url=postgres_url, data_dir=tmp_path / "data", lease_s=1.0, heartbeat_s=0.2), {served.name: served})
    try:
        job, _ = live.submit(served.name, '{"input_data": [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]}')
        (before,) = live.claim(served.name, 1)
        service.start()
        assert service.heartbeat is not None
        service.heartbeat.beat()  # and its periodic pass, as it runs every heartbeat
        assert service.recovered == 0 and live.get(job.id) == before
        assert kinds(live, job.id) == ["queued", "proving"]
    finally:
        service.stop()
        live.close()
