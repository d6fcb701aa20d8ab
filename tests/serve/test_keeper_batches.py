"""The keeper over batched models on a real anvil, with real proofs (issue 25, item 4).

- Multi-feed: the batch-4 build of the tuned mlp registered over 4 feeds. Each epoch is one job,
  proved once on the batch-4 circuit and published once (4 predictions, one per feed, in one
  transaction). 10 rounds give 10 batches, one per epoch; the service is stopped mid-way, the
  feeds move on, and a new service and keeper catch up with no duplicate.
- ``batch_epochs``: the same batch-4 circuit registered over one feed; the keeper waits for 4 new
  epochs and publishes them as one job, keyed by the first.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import Market
from tests.serve.test_keeper import until
from zkml.serve.keeper import Keeper, keeper_key
from zkml.serve.service import ServeConfig, Service
from zkml.serve.store import JobStore

K = 4
pytestmark = pytest.mark.slow  # builds the batch-4 circuit and proves a dozen batches (minutes)


@dataclass
class Feeds:
    """K local feeds on the market's chain, each with its own shifted slice of the example series."""

    market: Market
    feeds: tuple[str, ...]
    rest: list[list[int]]  # per feed, answers not pushed yet

    def push(self, count: int = 1) -> list[int]:
        """Push the next ``count`` rounds to every feed; the new epochs (the feeds move in step)."""
        from zkml.oracle.feed import latest_epoch, push_prices

        m = self.market
        for k, feed in enumerate(self.feeds):
            answers, self.rest[k] = self.rest[k][:count], self.rest[k][count:]
            assert len(answers) == count, "the example series ran out"
            push_prices(m.conn, feed, answers, sender=m.owner, contracts=m.contracts)
        latest = min(latest_epoch(m.conn, feed) for feed in self.feeds)
        return list(range(latest - count + 1, latest + 1))


def events(market: Market, model_id: bytes) -> list[tuple[int, str]]:
    """(epoch, tx hash) of every PredictionPublished event of ``model_id`` (one per sample)."""
    from zkml.oracle.calls import bind

    contract = bind(market.conn, market.oracle, market.contracts.oracle)
    logs = contract.events.PredictionPublished().get_logs(from_block=0)
    return [(int(e["args"]["epoch"]), "0x" + bytes(e["transactionHash"]).hex()) for e in logs if bytes(e["args"]["modelId"]) == model_id]


@pytest.fixture(scope="module")
def batch4(tuned_mlp: Any, market: Market, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tuned mlp's batch-4 workspace (``<workspace>/batch-4``, as ``--batch-size 4`` addresses it), its verifier deployed."""
    from zkml.pipeline import Pipeline
    from zkml.serve.models import load_model
    from zkml.workspace import Layout, Workspace

    pipeline = Pipeline(tuned_mlp.config, Workspace(Layout(tuned_mlp.ws.root).batch_dir(K)), batch_size=K)
    served = load_model(pipeline, tmp_path_factory.mktemp("batch4-check"))
    assert served.spec.batch_size == K
    pipeline.deploy(market.conn, sender=market.owner)
    return pipeline, served


@pytest.fixture(scope="module")
def feeds(batch4: Any, market: Market, tmp_path_factory: pytest.TempPathFactory) -> Feeds:
    from zkml.export import load_callable
    from zkml.oracle.feed import deploy_feeds, push_prices
    from zkml.oracle.mirror import answer_of

    pipeline, served = batch4
    feed_config = pipeline.config.feed
    series = [float(p) for p in load_callable(feed_config.demo_series, pipeline.config.root)()]
    answers = [answer_of(p, feed_config.decimals) for p in series]
    first, rounds = 20, 30  # pushed now, and left for the tests
    root = tmp_path_factory.mktemp("keeper-feeds")
    deployed = deploy_feeds(market.conn, root, K, decimals=feed_config.decimals, sender=market.owner)
    addresses, rest = [], []
    for k, (_, _, feed) in enumerate(deployed):
        # Feed k: the series' tail shifted by k rounds, so the four windows at one epoch differ.
        mine = answers[len(answers) - first - rounds - k : len(answers) - k]
        push_prices(market.conn, feed.address, mine[:first], sender=market.owner, contracts=market.contracts)
        addresses.append(feed.address)
        rest.append(mine[first:])
    return Feeds(market, tuple(addresses), rest)


class Running:
    """A started service over ``store_path`` with a keeper over ``model`` (stopped together, as ``zkml serve start`` stops)."""

    def __init__(self, model: Any, folder: Path, **keeper: Any) -> None:
        self.service = Service(ServeConfig(store_url=str(folder / "jobs.sqlite"), data_dir=folder / "data"), {model.name: model}).start()
        self.keeper = Keeper(self.service.store, model, max_epoch_lag=8, staging=folder / "staging", on_queued=self.service.wake, **keeper)

    def stop(self) -> None:
        self.keeper.stop()
        self.service.stop()


def done(store: JobStore, name: str, firsts: list[int]) -> bool:
    jobs = [store.by_key(keeper_key(name, e)) for e in firsts]
    assert not any(j is not None and j.state == "failed" for j in jobs), [j.error for j in jobs if j and j.error]
    return all(j is not None and j.state == "done" for j in jobs)


def test_the_keeper_publishes_one_multi_feed_batch_per_epoch_and_catches_up(
    batch4: Any, feeds: Feeds, market: Market, signer: str, tmp_path: Path
) -> None:
    from zkml.oracle.multi_feed import read_feed_prediction
    from zkml.oracle.operations import register
    from zkml.oracle.oracle_model import OracleModel
    from zkml.serve.models import OracleBinding

    pipeline, served = batch4
    registration = register(
        OracleModel.of(pipeline), market.conn, oracle=market.oracle, feeds=feeds.feeds, max_epoch_lag=8, sender=market.owner
    )
    model = replace(served, binding=OracleBinding(market.url, market.oracle, registration.model_id))  # no --feed: it reads its K
    running = Running(model, tmp_path)
    store = running.service.store
    assert running.keeper.kept.multi_feed and running.keeper.kept.feeds == feeds.feeds
    start = running.keeper.step().queued
    assert len(start) == 1
    pushed: list[int] = []
    running.keeper.start(poll_seconds=0.1)
    try:
        for _ in range(6):
            (epoch,) = feeds.push(1)
            pushed.append(epoch)
            until(lambda e=epoch: done(store, model.name, [e]), 180, f"epoch {epoch} published")
    finally:
        running.stop()  # the service is stopped mid-way ...
    missed = feeds.push(4)  # ... while the feeds move on 4 rounds
    pushed += missed
    again = Running(model, tmp_path)
    try:
        caught_up = again.keeper.step()
        assert caught_up.queued == tuple(missed) and caught_up.skipped == ()
        assert again.keeper.step().queued == ()
        until(lambda: done(again.service.store, model.name, [*start, *pushed]), 600, "the missed epochs published")
        store = again.service.store
        jobs = store.list_jobs(limit=10_000)
        assert len(jobs) == 1 + 10  # the first epoch and one job per round: none duplicated
        assert Counter(j.epoch for j in jobs) == Counter([*start, *pushed])
        # A second job for an epoch already on chain (another service, or the CLI, got there first): it is proved,
        # then recorded as the stored batch, not sent again.
        original = store.by_key(keeper_key(model.name, pushed[-1]))
        assert original is not None
        dup, _ = store.submit(model.name, original.input_json, publish=True, epoch=pushed[-1], idem_key="elsewhere")
        again.service.wake()
        until(lambda: (store.get(dup.id) or dup).state in ("done", "failed"), 120, "the second job recorded")
        replayed = store.get(dup.id)
        assert replayed is not None and replayed.state == "done", replayed and replayed.error
        assert replayed.prediction is not None and json.loads(replayed.prediction)["replayed"] is True
        assert len(json.loads(replayed.prediction)["batch"]) == K
    finally:
        again.stop()

    published = events(market, registration.model_id)
    per_epoch = Counter(e for e, _ in published)
    assert [per_epoch[e] for e in pushed] == [K] * 10  # each epoch: its 4 feeds' predictions ...
    txs = {e: {tx for ep, tx in published if ep == e} for e in pushed}
    assert all(len(t) == 1 for t in txs.values())  # ... in one transaction (one batch)
    assert len({tx for _, tx in published}) == 11 and sum(per_epoch.values()) == K * 11  # and nothing published twice
    last = JobStore(str(tmp_path / "jobs.sqlite"))
    try:
        job = last.by_key(keeper_key(model.name, pushed[-1]))
        assert job is not None and job.prediction is not None
        stored = json.loads(job.prediction)["batch"]
        assert len(stored) == K
        for k in range(K):
            read, _ = read_feed_prediction(market.conn, market.oracle, registration.model_id, index=k, contracts=market.contracts)
            assert read.epoch == pushed[-1] and read.as_dict() == stored[k]  # the job records what each feed reads
    finally:
        last.close()


def test_batch_epochs_publishes_n_consecutive_epochs_as_one_job(
    batch4: Any, feeds: Feeds, market: Market, signer: str, tmp_path: Path
) -> None:
    from zkml.oracle.feed import deploy_source
    from zkml.oracle.oracle_model import OracleModel
    from zkml.oracle.registry import register_workspace
    from zkml.serve.models import OracleBinding

    pipeline, served = batch4
    feed = feeds.feeds[0]  # one feed of the four, its own registration (batch size 4 over one source)
    source = deploy_source(market.conn, tmp_path / "source", feed, OracleModel.of(pipeline).returns_spec(), sender=market.owner,
                           contracts=market.contracts)  # fmt: skip
    registration = register_workspace(market.conn, market.oracle, pipeline, feature_source=source.address, max_epoch_lag=8,
                                      sender=market.owner, contracts=market.contracts)  # fmt: skip
    model = replace(served, binding=OracleBinding(market.url, market.oracle, registration.model_id, feed=feed))
    running = Running(model, tmp_path, batch_epochs=K)
    store = running.service.store
    try:
        first = running.keeper.step()
        (start,) = first.queued
        assert start == first.latest - K + 1  # the newest complete batch: the K epochs up to the latest
        assert running.keeper.step().queued == ()
        # Rounds come no faster than batches are published (a batch older than the lag would be refused).
        until(lambda: done(store, model.name, [start]), 200, "the first batch published")
        feeds.push(K - 1)
        assert running.keeper.step().queued == ()  # 3 new epochs: it waits for the 4th
        (fourth,) = feeds.push(1)
        second = running.keeper.step()
        assert second.queued == (start + K,) and fourth == start + 2 * K - 1
        until(lambda: done(store, model.name, [start + K]), 200, "the second batch published")
        feeds.push(K)
        third = running.keeper.step()
        assert third.queued == (start + 2 * K,)
        until(lambda: done(store, model.name, [start, start + K, start + 2 * K]), 400, "three batches published")
        assert len(store.list_jobs(limit=10_000)) == 3
    finally:
        running.stop()
    published = events(market, registration.model_id)
    epochs = sorted(e for e, _ in published)
    assert epochs == list(range(start, start + 3 * K))  # every epoch once, consecutive
    by_tx = Counter(tx for _, tx in published)
    assert sorted(by_tx.values()) == [K, K, K]  # 4 epochs per transaction


def test_serve_start_composes_the_batch_circuit_and_its_multi_feed_keeper(
    batch4: Any, feeds: Feeds, market: Market, tmp_path: Path
) -> None:
    """What `zkml serve start circuits/mlp_regressor --circuit-batch 4 --oracle O --keeper` builds: the batch-4
    workspace (the one ``--batch-size 4`` addresses), kept over the 4 feeds it was registered with, by its default id."""
    from zkml_cli.options import resolve_target

    from tests.serve.conftest import REPO
    from zkml.oracle.operations import register
    from zkml.oracle.oracle_model import OracleModel
    from zkml.serve.build import ServeOptions, build_service

    pipeline, _ = batch4
    registration = register(
        OracleModel.of(pipeline), market.conn, oracle=market.oracle, feeds=feeds.feeds, max_epoch_lag=8, sender=market.owner
    )
    target = resolve_target(str(REPO / "circuits" / "mlp_regressor"), Path(pipeline.ws.root).parents[1], batch_size=K)
    assert Path(target.workspace) == Path(pipeline.ws.root)
    options = ServeOptions(
        store_url=str(tmp_path / "jobs.sqlite"), data_dir=tmp_path / "data", rpc_url=market.url, oracle=market.oracle, keeper=True
    )
    service, keeper = build_service([target.pipeline()], options)
    try:
        assert keeper is not None and keeper.kept.multi_feed and keeper.kept.feeds == feeds.feeds
        assert keeper.model.binding is not None and keeper.model.binding.model_id == registration.model_id
        assert service.models["mlp_regressor"].spec.batch_size == K
    finally:
        service.store.close()
