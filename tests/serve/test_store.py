"""The job store on SQLite and on a real PostgreSQL server (started here, in a temporary folder, on a free port)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import LiveServer, jittered_inputs
from zkml.errors import IdempotencyConflictError
from zkml.serve.store import JobStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        opened = JobStore(str(tmp_path / "jobs.sqlite"))
    else:
        url = request.getfixturevalue("postgres_url")
        opened = JobStore(url)
        # One server for the session: each test starts from empty tables.
        opened.db.execute("TRUNCATE jobs, job_events, tokens")
    try:
        yield opened
    finally:
        opened.close()


def test_migrations_are_applied_once(store: JobStore) -> None:
    again = JobStore(store.db.url)
    try:
        from zkml.serve.db import MIGRATIONS

        versions = again.db.execute("SELECT version FROM schema_version ORDER BY version")
        assert versions == [(v,) for v in range(1, len(MIGRATIONS) + 1)]
    finally:
        again.close()


def test_an_old_store_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    from zkml.serve import db

    old = db.Database(str(tmp_path / "old.sqlite"))
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in db.MIGRATIONS[0]:  # a store made by the first release
        old.execute(statement)
    old.execute("INSERT INTO schema_version (version) VALUES (1)")
    old.execute("INSERT INTO jobs (id, model, state, input_json, created) VALUES ('j1', 'm', 'queued', '{}', 1.0)")
    old.close()
    store = JobStore(str(tmp_path / "old.sqlite"))
    try:
        job = store.get("j1")
        assert job is not None and job.state == "queued" and job.batch_size is None
        assert store.db.execute("SELECT MAX(version) FROM schema_version") == [(len(db.MIGRATIONS),)]
    finally:
        store.close()


def test_a_job_moves_through_its_states(store: JobStore) -> None:
    job, created = store.submit("m", '{"input_data": [[1]]}')
    assert created and job.state == "queued" and job.attempts == 0
    assert store.depth() == 1
    (claimed,) = store.claim("m", 4)
    assert claimed.id == job.id and claimed.state == "proving" and claimed.attempts == 1
    assert store.claim("m", 4) == []
    assert store.proved(job.id, outputs=[0.5], proof="{}", verified=True, witness_seconds=0.1, prove_seconds=1.0)
    # A second record of the same proof (a retry that raced) changes nothing.
    assert not store.proved(job.id, outputs=[0.5], proof="{}", verified=True, witness_seconds=0.1, prove_seconds=1.0)
    done = store.get(job.id)
    assert done is not None and done.state == "done" and done.verified is True and done.as_dict()["outputs"] == [0.5]
    assert [kind for _, kind, _, _ in store.events(job.id)] == ["queued", "proving", "done"]
    assert store.counts()["done"] == 1


def test_publishing_jobs_wait_for_the_publisher(store: JobStore) -> None:
    job, _ = store.submit("m", "{}", publish=True, epoch=7)
    store.claim("m", 1)
    store.proved(job.id, outputs=[1.0], proof="{}", verified=True, witness_seconds=0.0, prove_seconds=0.0)
    assert [j.id for j in store.publishing()] == [job.id]
    store.record_tx(job.id, "0xabc")
    assert store.published(job.id, tx_hash="0xabc", gas_used=21000, prediction={"epoch": 7})
    assert not store.published(job.id, tx_hash="0xabc", gas_used=21000, prediction={"epoch": 7})
    final = store.get(job.id)
    assert final is not None and final.state == "done" and final.tx_hash == "0xabc" and final.epoch == 7


def test_idempotency_keys(store: JobStore) -> None:
    job, created = store.submit("m", "{}", idem_key="t:k", request_hash="h1")
    same, created_again = store.submit("m", "{}", idem_key="t:k", request_hash="h1")
    assert created and not created_again and same.id == job.id
    with pytest.raises(IdempotencyConflictError, match="different request"):
        store.submit("m", "{}", idem_key="t:k", request_hash="h2")


def test_concurrent_submits_of_one_key_make_one_job(store: JobStore) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def submit() -> None:
        job, _ = store.submit("m", "{}", idem_key="keeper:m:5", request_hash="5")
        with lock:
            ids.append(job.id)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(ids) == 8 and len(set(ids)) == 1
    assert store.counts()["queued"] == 1


def test_cancel_only_queued(store: JobStore) -> None:
    job, _ = store.submit("m", "{}")
    assert store.cancel(job.id)
    assert not store.cancel(job.id)
    assert store.claim("m", 1) == []


def test_failures_keep_their_kind(store: JobStore) -> None:
    job, _ = store.submit("m", "{}")
    store.claim("m", 1)
    assert store.fail(job.id, "proving", "bad input", "InputDataError")
    failed = store.get(job.id)
    assert failed is not None and (failed.state, failed.error_kind) == ("failed", "InputDataError")


def test_the_service_proves_from_a_postgres_store(served: Any, postgres_url: str, tmp_path: Path) -> None:
    from zkml.serve.service import ServeConfig, Service
    from zkml.serve.tokens import create_token

    service = Service(ServeConfig(store_url=postgres_url, data_dir=tmp_path / "data"), {served.name: served})
    service.store.db.execute("TRUNCATE jobs, job_events, tokens")
    service.start()
    try:
        _, secret = create_token(service.store, "t", frozenset({"prove"}))
        with LiveServer(service) as server:
            client = server.client(secret)
            body = {"model": served.name, "input": jittered_inputs(1)[0]}
            created = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "pg-1"})
            again = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "pg-1"})
            assert (created.status_code, again.status_code) == (201, 200) and created.json()["id"] == again.json()["id"]
            job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 120}).json()
            assert job["state"] == "done" and job["verified"] is True
    finally:
        service.stop()


def test_token_list_shows_every_token_and_never_a_secret(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner
    from zkml_cli.main import cli

    db = str(tmp_path / "jobs.sqlite")
    runner = CliRunner()
    assert "no tokens" in runner.invoke(cli, ["serve", "token", "list", "--db", db], obj={}).output
    made = [runner.invoke(cli, ["serve", "token", "create", name, "--scopes", scopes, "--db", db], obj={}) for name, scopes in
            (("prover", "prove"), ("both", "prove,publish"))]  # fmt: skip
    assert all(m.exit_code == 0 for m in made), [m.output for m in made]
    secrets = [word for m in made for word in m.output.split() if word.startswith("zks_")]
    listed = runner.invoke(cli, ["serve", "token", "list", "--db", db, "--json"], obj={})
    tokens = json.loads(listed.output)["tokens"]
    assert [(t["name"], t["scopes"], t["revoked"]) for t in tokens] == [("prover", ["prove"], False), ("both", ["prove", "publish"], False)]
    assert runner.invoke(cli, ["serve", "token", "revoke", tokens[0]["id"], "--db", db], obj={}).exit_code == 0
    table = runner.invoke(cli, ["serve", "token", "list", "--db", db], obj={}).output
    assert "revoked" in table.splitlines()[0] and "revoked" not in table.splitlines()[1]
    assert secrets and not any(secret in listed.output + table for secret in secrets)


def test_the_store_owns_every_sql_statement_of_the_service() -> None:
    import re

    serve = Path(__file__).resolve().parents[2] / "zkml" / "serve"
    outside = sorted(
        path.name
        for path in serve.glob("*.py")
        if path.name not in ("store.py", "db.py") and re.search(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b", path.read_text())
    )
    assert outside == []
