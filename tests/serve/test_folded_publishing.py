"""Folded publication (issue 25, item 4): publishing jobs proved B epochs a proof, published in one transaction, exactly once.

The tuned mlp's batch-2 workspace (``<workspace>/batch-2``, as ``--batch-size 2`` addresses it) is
registered over one feed as a batch of 2. Publishing jobs (one epoch each) are folded two distinct
epochs at a time on it. The store rules run without a chain; the service and the kill -9 tests run
real proofs on a real anvil (slow).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serve.conftest import ANVIL_KEY_1, REPO, Market, server_process
from tests.serve.test_keeper import until
from zkml.serve.store import JobStore

B = 2


# -- the store's group rules (no chain, no proofs), on both dialects


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        opened = JobStore(str(tmp_path / "jobs.sqlite"), owner="me")
    else:
        opened = JobStore(request.getfixturevalue("postgres_url"), owner="me")
        opened.db.execute("TRUNCATE jobs, job_events, tokens")  # one server for the session
    try:
        yield opened
    finally:
        opened.close()


def test_a_group_is_b_distinct_epochs_in_increasing_order_or_nothing(store: JobStore) -> None:
    late, _ = store.submit("m", "{}", publish=True, epoch=9)
    early, _ = store.submit("m", "{}", publish=True, epoch=7)
    twin, _ = store.submit("m", "{}", publish=True, epoch=9)  # the same epoch asked twice
    store.submit("m", "{}", publish=False)  # not publishing: never in a group
    assert store.claim_epoch_group("m", 3) == []  # 2 distinct epochs only: nothing claimed
    assert store.counts()["queued"] == 4
    group = store.claim_epoch_group("m", 2)
    assert [j.id for j in group] == [early.id, late.id] and [j.epoch for j in group] == [7, 9]
    assert {j.state for j in group} == {"proving"} and len({j.batch_id for j in group}) == 1
    assert store.claim_epoch_group("m", 2) == []  # the twin waits for a later group
    assert store.get(twin.id).state == "queued"  # type: ignore[union-attr]


def test_a_group_records_its_hash_and_results_all_at_once_or_not_at_all(store: JobStore) -> None:
    for epoch in (1, 2):
        store.submit("m", "{}", publish=True, epoch=epoch)
    group = store.claim_epoch_group("m", 2)
    ids = [j.id for j in group]
    outputs = {i: [0.5 + n] for n, i in enumerate(ids)}
    store.db.execute("UPDATE jobs SET owner = 'other' WHERE id = ?", (ids[1],))  # one job of it taken over
    assert store.proved_group(outputs, "{}", True, (0.1, 1.0)) is False
    assert [store.get(i).state for i in ids] == ["proving", "proving"]  # type: ignore[union-attr]  # neither recorded
    store.db.execute("UPDATE jobs SET owner = 'me' WHERE id = ?", (ids[1],))
    assert store.proved_group(outputs, "{}", True, (0.1, 1.0)) is True
    proved = [store.get(i) for i in ids]
    assert [(j.state, j.batch_size, j.batch_index, json.loads(j.outputs or "[]")) for j in proved if j] == [
        ("publishing", 2, 0, [0.5]),
        ("publishing", 2, 1, [1.5]),
    ]
    assert [j.state for j in store.claim_group(group[0].batch_id or "")] == ["publishing", "publishing"]
    # Another replica took one job over: recording the hash must touch neither job (nothing may be sent).
    store.db.execute("UPDATE jobs SET owner = 'other' WHERE id = ?", (ids[1],))
    assert store.record_group_tx(ids, "0xabc") is False
    assert [store.get(i).tx_hash for i in ids] == [None, None]  # type: ignore[union-attr]
    store.db.execute("UPDATE jobs SET owner = 'me' WHERE id = ?", (ids[1],))
    assert store.record_group_tx(ids, "0xabc") is True
    assert [store.get(i).tx_hash for i in ids] == ["0xabc", "0xabc"]  # type: ignore[union-attr]
    done = store.published_group({i: {"epoch": e} for i, e in zip(ids, (1, 2), strict=True)}, tx_hash="0xabc", gas_used=7)
    assert done is True
    rows = [store.get(i) for i in ids]
    assert [(j.state, j.tx_hash, json.loads(j.prediction or "{}")["epoch"]) for j in rows if j] == [
        ("done", "0xabc", 1),
        ("done", "0xabc", 2),
    ]
    assert store.published_group({ids[0]: {}}, tx_hash="0xabc", gas_used=7) is False  # recorded once


# -- real proofs on a real chain


@dataclass
class Registered:
    """The batch-2 workspace registered over its own feed on the market's oracle (a batch of 2 epochs)."""

    market: Market
    pipeline: Any
    served: Any
    feed: str
    model_id: bytes
    rest: list[int]

    def push(self, count: int) -> list[int]:
        from zkml.oracle.feed import latest_epoch, push_prices

        m = self.market
        answers, self.rest = self.rest[:count], self.rest[count:]
        assert len(answers) == count, "the example series ran out"
        push_prices(m.conn, self.feed, answers, sender=m.owner, contracts=m.contracts)
        latest = latest_epoch(m.conn, self.feed)
        return list(range(latest - count + 1, latest + 1))

    def input_of(self, epoch: int) -> Any:
        from zkml.oracle.feed import attested_input
        from zkml.oracle.oracle_model import OracleModel

        return attested_input(self.market.conn, self.feed, epoch, OracleModel.of(self.pipeline).returns_spec()).input_data()

    def events(self) -> list[tuple[int, str]]:
        from tests.serve.test_keeper_batches import events

        return events(self.market, self.model_id)


@pytest.fixture(scope="module")
def registered(tuned_mlp: Any, market: Market, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    from zkml.export import load_callable
    from zkml.oracle.feed import deploy_feed, deploy_source, push_prices
    from zkml.oracle.mirror import answer_of
    from zkml.oracle.oracle_model import OracleModel
    from zkml.oracle.registry import register_workspace
    from zkml.pipeline import Pipeline
    from zkml.serve.models import load_model
    from zkml.workspace import Layout, Workspace

    root = tmp_path_factory.mktemp("folded-publishing")
    pipeline = Pipeline(tuned_mlp.config, Workspace(Layout(tuned_mlp.ws.root).batch_dir(B)), batch_size=B)
    served = load_model(pipeline, root / "check")
    verifier = pipeline.deploy(market.conn, sender=market.owner)
    feed_config = pipeline.config.feed
    series = [float(p) for p in load_callable(feed_config.demo_series, pipeline.config.root)()]
    answers = [answer_of(p, feed_config.decimals) for p in series[-60:]]
    m = market
    feed = deploy_feed(m.conn, root, decimals=feed_config.decimals, description="folded", sender=m.owner, contracts=m.contracts)
    push_prices(m.conn, feed.address, answers[:20], sender=m.owner, contracts=m.contracts)
    source = deploy_source(m.conn, root, feed.address, OracleModel.of(pipeline).returns_spec(), sender=m.owner, contracts=m.contracts)
    registration = register_workspace(m.conn, m.oracle, pipeline, verifier=verifier.address, feature_source=source.address,
                                      max_epoch_lag=8, sender=m.owner, contracts=m.contracts)  # fmt: skip
    return Registered(market, pipeline, served, feed.address, registration.model_id, answers[20:])


def binding(registered: Registered) -> Any:
    from zkml.serve.models import OracleBinding

    return OracleBinding(registered.market.url, registered.market.oracle, registered.model_id, feed=registered.feed)


@pytest.mark.slow
def test_publishing_jobs_are_folded_two_epochs_a_proof_and_published_once(
    served: Any, registered: Registered, signer: str, tmp_path: Path
) -> None:
    from zkml.serve.folding import FoldingConfig
    from zkml.serve.service import ServeConfig, Service

    bound = binding(registered)
    model, batch = replace(served, binding=bound), replace(registered.served, binding=bound)
    epochs = registered.push(6)
    config = ServeConfig(store_url=str(tmp_path / "jobs.sqlite"), data_dir=tmp_path / "data", folding=FoldingConfig(batch_size=B))
    service = Service(config, {model.name: model}, folded_publishing={model.name: batch})
    store = service.store
    asked = [*epochs[:5], epochs[1]]  # the second epoch asked twice: its twin is folded later and skipped by the oracle
    jobs = [store.submit(model.name, model.check_input(registered.input_of(e)), publish=True, epoch=e)[0] for e in asked]
    plain, _ = store.submit(model.name, model.check_input(registered.input_of(epochs[0])))  # not publishing: folded too
    nameless, _ = store.submit(model.name, plain.input_json, publish=True)  # no epoch: this registration cannot take it
    service.start()
    try:
        until(
            lambda: all((store.get(j.id) or j).state in ("done", "failed") for j in [*jobs, plain, nameless]), 600, "the groups published"
        )
        leftover, _ = store.submit(model.name, model.check_input(registered.input_of(epochs[5])), publish=True, epoch=epochs[5])
        service.wake()
        rows = [store.get(j.id) for j in jobs]
        assert all(r is not None and r.state == "done" for r in rows), [r.error for r in rows if r]
        assert store.get(plain.id).state == "done"  # type: ignore[union-attr]
        refused = store.get(nameless.id)
        assert refused is not None and refused.state == "failed" and "needs its epoch" in (refused.error or "")
        assert store.get(leftover.id).state == "queued"  # type: ignore[union-attr]  # one epoch alone is never padded
    finally:
        service.stop()
    done = [r for r in rows if r is not None]
    assert [r.batch_size for r in done] == [B] * 6
    predictions = [json.loads(r.prediction or "{}") for r in done]
    assert [p["epoch"] for p in predictions] == asked  # each job its own epoch's prediction
    assert [p.get("replayed", False) for p in predictions] == [False] * 5 + [True]
    published = registered.events()
    assert Counter(e for e, _ in published) == Counter(epochs[:5])  # every epoch once, the twin not again
    by_job = [r.tx_hash for r in done]
    # Oldest distinct epochs first: (1st, 2nd), then the twin (at the 2nd epoch) with the 3rd, then (4th, 5th).
    assert by_job[0] == by_job[1] and by_job[5] == by_job[2] and by_job[3] == by_job[4]  # a group shares one transaction
    assert len(set(by_job)) == 3 and {tx for _, tx in published} == set(by_job)
    assert [e for e, tx in published if tx == by_job[5]] == [epochs[2]]  # the twin's group stored only the 3rd epoch


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["after_tx_recorded", "after_receipt"])
def test_kill9_inside_a_group_publication_resolves_the_group_once(
    tuned_mlp: Any, registered: Registered, fault: str, tmp_path: Path
) -> None:
    """``zkml serve start circuits/mlp_regressor --batch-size 2 --oracle O --model-id <batch registration>`` killed
    between recording the group's hash and sending it (or recording its receipt): the restart publishes the group once."""
    from tests.serve.conftest import make_token
    from zkml.evm.rpc import get_receipt

    market = registered.market
    epochs = registered.push(2)
    token = make_token(tmp_path, "prove,publish")
    args = (
        "--build-dir", str(Path(tuned_mlp.ws.root).parent), "--batch-size", str(B), "--batch-wait", "30",
        "--rpc-url", market.url, "--oracle", market.oracle, "--feed", registered.feed, "--model-id", "0x" + registered.model_id.hex(),
    )  # fmt: skip
    env = {"ZKML_PRIVATE_KEY": ANVIL_KEY_1}
    sender = market.conn.w3.eth.account.from_key(ANVIL_KEY_1).address
    circuit = REPO / "circuits" / "mlp_regressor"
    faulty = server_process(circuit, tmp_path, *args, env={**env, "ZKML_SERVE_FAULT": fault}).start()
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [{"model": "mlp_regressor", "input": registered.input_of(e), "publish": True, "epoch": e} for e in epochs]
    ids = []
    for body in bodies:
        created = httpx.post(faulty.url + "/v1/jobs", json=body, headers={**headers, "Idempotency-Key": f"e{body['epoch']}"}, timeout=30)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    assert faulty.wait_killed(timeout=300) != 0  # it killed itself at the fault point

    store = JobStore(str(tmp_path / "jobs.sqlite"))
    caught = [store.get(i) for i in ids]
    store.close()
    assert all(j is not None and j.state == "publishing" for j in caught), caught
    hashes = {j.tx_hash for j in caught if j is not None}
    assert len(hashes) == 1 and None not in hashes  # the group's hash, on every job of it, before sending
    (tx_hash,) = hashes
    assert (get_receipt(market.conn, tx_hash or "") is not None) == (fault == "after_receipt")
    nonce_before = market.conn.w3.eth.get_transaction_count(sender)

    server = server_process(circuit, tmp_path, *args, env=env)
    server.log = tmp_path / "server2.log"
    server.start()
    try:
        jobs = [httpx.get(f"{server.url}/v1/jobs/{i}", params={"wait": 120}, timeout=180).json() for i in ids]
    finally:
        server.stop()
    assert [j["state"] for j in jobs] == ["done", "done"], jobs
    assert [j["prediction"]["epoch"] for j in jobs] == epochs
    assert len({j["tx_hash"] for j in jobs}) == 1
    published = [e for e, _ in registered.events()]
    assert [published.count(e) for e in epochs] == [1, 1]  # the group published once
    sent_after_restart = market.conn.w3.eth.get_transaction_count(sender) - nonce_before
    if fault == "after_receipt":
        assert jobs[0]["tx_hash"] == tx_hash and sent_after_restart == 0  # resolved from the receipt, nothing sent
    else:
        assert sent_after_restart == 1  # it never reached the node, so it was sent now, once
