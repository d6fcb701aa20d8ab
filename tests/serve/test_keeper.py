"""The keeper over a real feed on anvil: two keepers publish each epoch once; a keeper back from downtime catches up."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import Market
from zkml.errors import ZkmlError
from zkml.serve.keeper import Keeper, keeper_key
from zkml.serve.service import ServeConfig, Service
from zkml.serve.store import JobStore


def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def keeper_jobs(store: JobStore, model: str, epochs: list[int]) -> list[Any]:
    return [store.by_key(keeper_key(model, e)) for e in epochs]


def all_done(store: JobStore, model: str, epochs: list[int]) -> bool:
    jobs = keeper_jobs(store, model, epochs)
    assert not any(j is not None and j.state == "failed" for j in jobs), [j.error for j in jobs if j and j.error]
    return all(j is not None and j.state == "done" for j in jobs)


@pytest.fixture
def keeping(served: Any, market: Market, signer: str, tmp_path: Path) -> Any:
    """A started service that publishes the model's predictions, and a factory of keepers over its store."""
    model = replace(served, binding=market.binding())
    service = Service(ServeConfig(store_url=str(tmp_path / "jobs.sqlite"), data_dir=tmp_path / "data"), {model.name: model}).start()
    stores: list[JobStore] = []

    def keeper() -> Keeper:
        # Each keeper has its own connection to the store, as a keeper in another process would.
        stores.append(JobStore(str(tmp_path / "jobs.sqlite")))
        return Keeper(stores[-1], model, max_epoch_lag=8, staging=tmp_path / "staging", on_queued=service.wake)

    try:
        yield service, model, keeper
    finally:
        service.stop()
        for store in stores:
            store.close()


def run_two_keepers(keeping: Any, market: Market, rounds: int) -> None:
    service, model, keeper = keeping
    store = service.store
    first, second = keeper().start(poll_seconds=0.1), keeper().start(poll_seconds=0.1)
    try:
        until(lambda: first.last_queued() is not None, 60, "the keepers' first epoch")
        start = first.last_queued()
        pushed: list[int] = []
        for _ in range(rounds):
            (epoch,) = market.push(1)
            pushed.append(epoch)
            # One round at a time, each picked up before the next: the keepers race for every epoch. Rounds
            # come no faster than they are published (a feed's rounds are minutes apart): an epoch more than
            # the model's lag behind the feed would be refused by the oracle.
            until(lambda e=epoch: store.by_key(keeper_key(model.name, e)) is not None, 60, f"epoch {epoch} queued")
            until(lambda e=epoch: all_done(store, model.name, [e]), 120, f"epoch {epoch} published")
        until(lambda: all_done(store, model.name, [start, *pushed]), 60 + 20 * rounds, "every epoch published")
    finally:
        first.stop()
        second.stop()
    published = [e for e, _ in market.published()]
    assert [published.count(e) for e in pushed] == [1] * rounds  # each of the rounds published, once
    assert len(published) == len(set(published))  # and nothing published twice, ever
    jobs = keeper_jobs(store, model.name, pushed)
    assert len({j.tx_hash for j in jobs}) == rounds
    assert {j.epoch for j in jobs} == set(pushed)
    assert len(store.list_jobs(limit=10_000)) == rounds + 1  # the first epoch and one job per round: none duplicated


def test_two_keepers_publish_each_epoch_once(keeping: Any, market: Market) -> None:
    run_two_keepers(keeping, market, rounds=6)


@pytest.mark.slow
def test_two_keepers_over_20_rounds(keeping: Any, market: Market) -> None:
    run_two_keepers(keeping, market, rounds=20)


def test_a_keeper_catches_up_after_5_rounds_down(keeping: Any, market: Market) -> None:
    service, model, keeper = keeping
    store = service.store
    before = keeper()
    report = before.step()
    assert report.queued == (report.latest,)
    until(lambda: all_done(store, model.name, [report.latest]), 120, "the first epoch published")
    missed = market.push(5)  # the keeper is down for 5 rounds
    after = keeper()  # a new keeper (a restart): it resumes from the store
    caught_up = after.step()
    assert caught_up.queued == tuple(missed) and caught_up.skipped == ()
    assert after.step().queued == ()  # nothing left
    until(lambda: all_done(store, model.name, missed), 200, "the missed epochs published")
    published = [e for e, _ in market.published()]
    assert [published.count(e) for e in missed] == [1] * 5


def test_a_keeper_skips_epochs_the_oracle_would_refuse(served: Any, market: Market, tmp_path: Path) -> None:
    model = replace(served, binding=market.binding())
    store = JobStore(str(tmp_path / "jobs.sqlite"))  # no service: this checks only what the keeper queues
    try:
        keeper = Keeper(store, model, max_epoch_lag=3, staging=tmp_path / "staging")
        start = keeper.step()
        pushed = market.push(6)
        report = keeper.step()
        assert report.latest == pushed[-1] == start.latest + 6
        assert [e for e, _ in report.skipped] == pushed[:2]  # more than 3 rounds behind the feed
        assert all("max_epoch_lag 3" in why for _, why in report.skipped)
        assert report.queued == tuple(pushed[2:])
        job = store.by_key(keeper_key(model.name, pushed[-1]))
        assert job is not None and job.publish and job.epoch == pushed[-1]
    finally:
        store.close()


def test_a_keeper_skips_epochs_the_circuit_breaker_refuses(served: Any, tuned_mlp: Any, market: Market, tmp_path: Path) -> None:
    """The keeper recomputes with the registered source's own parameters (read from chain), breaker included."""
    from itertools import pairwise

    from zkml.oracle.feed import attested_input, deploy_source, latest_epoch
    from zkml.oracle.mirror import ReturnsSpec
    from zkml.oracle.registry import register_workspace, workspace_model
    from zkml.serve.models import OracleBinding

    layout = workspace_model(tuned_mlp).spec
    base = ReturnsSpec(layout.sample_width, layout.input_scale, 100)
    latest = latest_epoch(market.conn, market.feed)
    prices = attested_input(market.conn, market.feed, latest, base).prices
    widest = max(abs(b - a) * 10_000 // a for a, b in pairwise(prices))
    assert widest > 1, "the example series moves more than 1 bps in the window"
    tripping = replace(base, max_change_bps=widest - 1)  # the window's widest move trips it
    source = deploy_source(market.conn, tmp_path, market.feed, tripping, sender=market.owner, contracts=market.contracts)
    registration = register_workspace(
        market.conn,
        market.oracle,
        tuned_mlp,
        feature_source=source.address,
        max_epoch_lag=8,
        sender=market.owner,
        contracts=market.contracts,
    )
    # The binding's multiplier is the config's; the keeper's spec is the source's.
    binding = OracleBinding(market.url, market.oracle, registration.model_id, feed=market.feed, multiplier=100)
    store = JobStore(str(tmp_path / "jobs.sqlite"))
    try:
        keeper = Keeper(store, replace(served, binding=binding), max_epoch_lag=8, staging=tmp_path / "staging")
        assert keeper.spec == tripping
        report = keeper.step()
        assert report.latest == latest and report.queued == () and [e for e, _ in report.skipped] == [latest]
        assert f"epoch {latest} is refused by the circuit breaker: round " in report.skipped[0][1]
        assert store.by_key(keeper_key(served.name, latest)) is None  # nothing queued to fail at publication
        # A model that is not registered as attested has nothing to keep: refused at start, naming the model.
        unknown = OracleBinding(market.url, market.oracle, b"\x01" * 32, feed=market.feed)
        with pytest.raises(ZkmlError, match="is not registered as attested"):
            Keeper(store, replace(served, binding=unknown), max_epoch_lag=8, staging=tmp_path / "staging")
    finally:
        store.close()


def test_the_epoch_plan_is_a_pure_decision() -> None:
    from zkml.serve.keeper import plan_epochs

    first_pass = plan_epochs(latest=48, last_queued=None, max_epoch_lag=4)
    assert first_pass.to_queue == (48,) and first_pass.too_old == ()  # no backfill of history
    assert plan_epochs(48, 48, 4).to_queue == () and plan_epochs(50, 48, 4).to_queue == (49, 50)
    behind = plan_epochs(latest=60, last_queued=48, max_epoch_lag=4)
    assert behind.to_queue == (56, 57, 58, 59, 60)
    assert [epoch for epoch, _ in behind.too_old] == list(range(49, 56))
    assert behind.too_old[0][1] == (
        "epoch 49 is more than max_epoch_lag 4 rounds behind the feed's latest epoch 60: the oracle accepts epochs 56..60 now"
    )
    assert plan_epochs(60, 48, 0).to_queue == (60,) and len(plan_epochs(60, 48, 0).too_old) == 11


def test_batches_of_epochs_follow_one_another() -> None:
    from zkml.serve.keeper import plan_batches

    assert plan_batches(48, None, 8, 4).to_queue == (45,)  # the newest complete batch: 45..48
    assert plan_batches(50, 45, 8, 4).to_queue == ()  # 49, 50: the next batch waits for 52
    assert plan_batches(52, 45, 8, 4).to_queue == (49,)
    behind = plan_batches(latest=70, last_first=45, max_epoch_lag=8, size=4)
    assert behind.to_queue == (65,) and [e for e, _ in behind.too_old] == [49, 53, 57, 61]
    assert behind.too_old[-1][1].startswith("epoch 61 is more than max_epoch_lag 8 rounds behind the feed's latest epoch 70")
    for latest, last in ((48, None), (50, 48), (60, 48)):
        assert plan_batches(latest, last, 4, 1) == plan_epochs_of(latest, last, 4)


def plan_epochs_of(latest: int, last: int | None, lag: int) -> Any:
    from zkml.serve.keeper import plan_epochs

    return plan_epochs(latest, last, lag)


def test_a_keeper_refuses_a_circuit_that_is_not_the_batch_it_keeps(served: Any, market: Market, tmp_path: Path) -> None:
    from zkml.errors import ConfigError

    model = replace(served, binding=market.binding())
    store = JobStore(str(tmp_path / "jobs.sqlite"))
    try:
        with pytest.raises(ConfigError, match="kept over 4 epochs per job, but the served circuit proves batches of 1") as info:
            Keeper(store, model, max_epoch_lag=8, staging=tmp_path / "staging", batch_epochs=4)
        assert "--circuit-batch 4" in (info.value.hint or "")
        with pytest.raises(ConfigError, match="spans more than max_epoch_lag 2"):
            Keeper(store, model, max_epoch_lag=2, staging=tmp_path / "staging", batch_epochs=4)
    finally:
        store.close()
