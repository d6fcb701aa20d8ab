"""Multi-feed batches (issue 25, item 3): one registration binds a batch-K model to K feeds, one proof covers
the K feeds at one epoch, and the oracle checks each sample against its own feed.

Real anvil, real solc, real ezkl: a batch-4 build of circuits/mlp_regressor (the B=1 circuit's scales) over
four local feeds filled with shifted windows of the example series, proved once at their common latest epoch.
Each attack rewrites the honest proof's calldata as an attacker would and is refused with its own error
before verification.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.errors import OracleError, OracleRevertError, ReplayError
from zkml.evm.onchain import decode_instances, read_proof
from zkml.oracle.encoding import feed_key
from zkml.oracle.multi_feed import feed_batch, feeds_of, prove_feed_batch, read_feed_prediction

from .conftest import World
from .steps import EPOCH_LAG, contract, oracle_view, send, submit_raw

K = 4
pytestmark = pytest.mark.slow  # the session fixture builds and proves a batch-4 circuit (tens of seconds)


@dataclass(frozen=True)
class Feeds:
    """K local feeds, their sources, the batch-K circuit and its honest proof at the feeds' common epoch."""

    feeds: tuple[str, ...]
    sources: tuple[str, ...]
    epoch: int
    proof: Path
    instances: tuple[int, ...]  # the proof's input instances, sample-major
    verifier: str
    settings: Path  # the batch-K circuit's settings
    spec: orc.ModelSpec
    bounds: tuple[tuple[int, int], ...]

    def __repr__(self) -> str:
        return f"Feeds(epoch={self.epoch}, feeds={len(self.feeds)})"


@pytest.fixture(scope="module")
def feeds(world: World, mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Feeds:
    from zkml.oracle.binding import workspace_bounds
    from zkml.oracle.demo import demo_prices
    from zkml.oracle.feed import deploy_feeds, push_prices
    from zkml.oracle.mirror import ReturnsSpec, answer_of
    from zkml.oracle.multi_feed import common_epoch, deploy_sources
    from zkml.proving.batch import build_batched, deploy_batch_verifier

    root = tmp_path_factory.mktemp("multi_feed")
    run_args = json.loads((Path(mlp.workspace) / "settings.json").read_text())["run_args"]
    config = mlp.pipeline.config.with_circuit(input_scale=run_args["input_scale"], param_scale=run_args["param_scale"])
    circuit = build_batched(config, K, root / f"b{K}", device="cpu")
    spec = orc.model_spec(circuit.spec.circuit.settings.path)
    assert spec.batch_size == K and spec.input_scale == run_args["input_scale"]
    conn, owner, contracts = world.conn, world.owner, world.contracts
    feed_config = mlp.pipeline.config.feed
    returns = ReturnsSpec(spec.sample_width, spec.input_scale, feed_config.multiplier)
    series = demo_prices(mlp.pipeline, feed_config)
    deployed = deploy_feeds(conn, root / "feeds", K, decimals=feed_config.decimals, sender=owner)
    rounds = spec.sample_width + 4
    for k, (_, _, feed) in enumerate(deployed):
        # Feed k: the example series shifted by k rounds, so the four windows at one epoch all differ.
        prices = series[len(series) - rounds - k : len(series) - k]
        push_prices(conn, feed.address, [answer_of(p, feed_config.decimals) for p in prices], sender=owner, contracts=contracts)
    addresses = tuple(feed.address for _, _, feed in deployed)
    sources = deploy_sources(conn, root, addresses, returns, sender=owner, contracts=contracts)
    epoch = common_epoch(conn, addresses, contracts=contracts)
    bounds = workspace_bounds(Path(mlp.workspace), spec.input_scale, spec.sample_width)
    batch = feed_batch(conn, addresses, epoch, returns, contracts=contracts)
    proof = prove_feed_batch(circuit.spec, root / "proofs", batch, spec, bounds)
    verifier = deploy_batch_verifier(conn, circuit.spec, root / "evm", kind="plain").address
    instances = spec.input_instances(read_proof(proof).instances)
    settings = Path(circuit.spec.circuit.settings.path)
    return Feeds(addresses, sources, epoch, proof, tuple(int(v) for v in instances), verifier, settings, spec, bounds)


def register(w: World, f: Feeds, model_id: bytes = b"\x25" * 32) -> orc.Registration:
    return orc.register_model(
        w.conn, w.oracle, model_id, f.verifier, f.spec, bounds=f.bounds, feeds=f.sources, max_epoch_lag=EPOCH_LAG,
        sender=w.owner, contracts=w.contracts,
    )  # fmt: skip


def swapped(instances: tuple[int, ...], width: int, a: int, b: int, *, both: bool = True) -> list[int]:
    """The proof's instances with sample ``a`` given sample ``b``'s inputs (and ``b`` given ``a``'s when ``both``)."""
    samples = [list(instances[k * width : (k + 1) * width]) for k in range(len(instances) // width)]
    samples[a], samples[b] = samples[b], (samples[a] if both else samples[b])
    return [v for sample in samples for v in sample]


def attack(w: World, f: Feeds, reg: orc.Registration, inputs: list[int] | None, epochs: list[int]) -> OracleRevertError:
    """Submit the honest proof with substituted inputs and/or epochs; the revert it meets."""
    proved = [int(v) for v in read_proof(f.proof).instances]
    if inputs is not None:
        proved[f.spec.input_offset : f.spec.input_offset + f.spec.input_count] = inputs
    with pytest.raises(OracleRevertError) as info:
        submit_raw(w, reg.model_id, f.proof, proved, epochs=epochs)
    return info.value


def test_one_proof_publishes_every_feed_at_one_epoch(feeds: Feeds, chain: World) -> None:
    reg = register(chain, feeds)
    assert reg.feeds == feeds.sources and reg.source == chain.oracle and reg.spec.batch_size == K
    assert feeds_of(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts) == feeds.sources
    model = orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert model is not None and model["feeds"] == feeds.sources

    pub = orc.publish(chain.conn, chain.oracle, reg.model_id, feeds.proof, epochs=[feeds.epoch] * K, sender=chain.owner,
                      contracts=chain.contracts)  # fmt: skip
    decoded = decode_instances(read_proof(feeds.proof).instances, feeds.settings)
    outputs = [v for values in decoded.outputs for v in values]
    assert len(pub.batch) == K and pub.skipped == () and pub.gas_used is not None
    for k, prediction in enumerate(pub.batch):
        key = feed_key(reg.model_id, k)
        assert prediction.prediction_id == orc.prediction_id(key, feeds.epoch) and prediction.epoch == feeds.epoch
        assert prediction.floats == pytest.approx(outputs[k : k + 1], abs=2**-prediction.scale)
        assert oracle_view(chain, "isEpochPublished", key, feeds.epoch)
        by_index, _ = read_feed_prediction(chain.conn, chain.oracle, reg.model_id, index=k, contracts=chain.contracts)
        by_source, _ = read_feed_prediction(chain.conn, chain.oracle, reg.model_id, feed=feeds.sources[k], contracts=chain.contracts)
        by_feed, gas = read_feed_prediction(chain.conn, chain.oracle, reg.model_id, feed=feeds.feeds[k], contracts=chain.contracts)
        assert by_index == by_source == by_feed == prediction and gas > 21_000
    # The four feeds' windows differ, so each stored value is its own feed's prediction.
    assert len({p.values for p in pub.batch}) > 1
    with pytest.raises(OracleRevertError) as info:
        read_feed_prediction(chain.conn, chain.oracle, reg.model_id, index=K, contracts=chain.contracts)
    assert info.value.error == "UnknownFeed"


def test_a_sample_taken_from_another_feed_is_refused(feeds: Feeds, chain: World) -> None:
    reg = register(chain, feeds)
    width = feeds.spec.sample_width
    # Sample 2 carries feed 0's window (feed 0's own sample unchanged): a prediction for asset 2 on asset 0's data.
    refused = attack(chain, feeds, reg, swapped(feeds.instances, width, 2, 0, both=False), [feeds.epoch] * K)
    assert refused.error == "SampleFromAnotherFeed" and list(refused.values) == [2, 0, feeds.epoch]


def test_feeds_swapped_within_the_batch_are_refused(feeds: Feeds, chain: World) -> None:
    reg = register(chain, feeds)
    refused = attack(chain, feeds, reg, swapped(feeds.instances, feeds.spec.sample_width, 1, 3), [feeds.epoch] * K)
    assert refused.error == "FeedsSwapped" and list(refused.values) == [1, 3, feeds.epoch]


def test_a_batch_mixing_epochs_is_refused(feeds: Feeds, chain: World) -> None:
    reg = register(chain, feeds)
    e = feeds.epoch
    # Consecutive epochs (what a one-feed batch takes) and a single odd one: neither is one epoch.
    refused = attack(chain, feeds, reg, None, [e - 3, e - 2, e - 1, e])
    assert refused.error == "MixedEpochs" and list(refused.values) == [1, e - 2, e - 3]
    refused = attack(chain, feeds, reg, None, [e, e, e - 1, e])
    assert refused.error == "MixedEpochs" and list(refused.values) == [2, e - 1, e]
    assert attack(chain, feeds, reg, None, [e] * (K - 1)).error == "WrongEpochCount"


def test_a_replayed_batch_is_refused(feeds: Feeds, chain: World) -> None:
    reg = register(chain, feeds)
    first = orc.publish(chain.conn, chain.oracle, reg.model_id, feeds.proof, epochs=[feeds.epoch] * K, sender=chain.owner,
                        contracts=chain.contracts)  # fmt: skip
    with pytest.raises(ReplayError) as info:
        orc.publish(chain.conn, chain.oracle, reg.model_id, feeds.proof, epochs=[feeds.epoch] * K, sender=chain.owner,
                    contracts=chain.contracts)  # fmt: skip
    # Refused before verifying, naming sample 0's id: (model, feed 0, epoch).
    assert info.value.error == "Replay" and bytes(info.value.values[0]) == first.batch[0].prediction_id
    assert "zkml oracle read --index 0" in (info.value.hint or "")
    for k in range(K):
        read, _ = read_feed_prediction(chain.conn, chain.oracle, reg.model_id, index=k, contracts=chain.contracts)
        assert read == first.batch[k]


def test_each_feed_bounds_the_epoch_lag(feeds: Feeds, chain: World) -> None:
    from zkml.oracle.feed import latest_round, push_prices

    reg = register(chain, feeds)
    last = latest_round(chain.conn, feeds.feeds[3], contracts=chain.contracts)
    pushed = push_prices(chain.conn, feeds.feeds[3], [last.answer] * (EPOCH_LAG + 1), sender=chain.owner, contracts=chain.contracts)
    # Feed 3 moved on: the batch's epoch is now too old for it, though not for the other three.
    refused = attack(chain, feeds, reg, None, [feeds.epoch] * K)
    assert refused.error == "EpochTooOld" and list(refused.values) == [feeds.epoch, pushed.last_round, EPOCH_LAG]


def test_registration_binds_one_feed_per_sample(feeds: Feeds, chain: World) -> None:
    with pytest.raises(OracleError, match="3 feeds for a batch of 4"):
        orc.register_model(chain.conn, chain.oracle, b"\x26" * 32, feeds.verifier, feeds.spec, bounds=feeds.bounds,
                           feeds=feeds.sources[:3], sender=chain.owner, contracts=chain.contracts)  # fmt: skip
    with pytest.raises(OracleError, match="listed more than once"):
        orc.register_model(chain.conn, chain.oracle, b"\x26" * 32, feeds.verifier, feeds.spec, bounds=feeds.bounds,
                           feeds=(*feeds.sources[:3], feeds.sources[0]), sender=chain.owner, contracts=chain.contracts)  # fmt: skip
    # The contract's own rules, for anyone registering by hand: the oracle as source only with feeds, one per sample.
    from zkml.oracle.binding import codehash_of, onchain_code

    c = contract(chain)
    pinned = codehash_of(onchain_code(chain.conn, feeds.verifier))
    multi = feeds.spec.config_tuple(feeds.verifier, pinned, b"\0" * 32, 60, source=chain.oracle, max_epoch_lag=4)
    bounds = [list(b) for b in feeds.bounds]
    cases = {
        "multi-feed: source is the oracle": c.encode_abi("registerModel", args=[b"\x27" * 32, multi, bounds]),
        "one feed per sample": c.encode_abi(
            "registerModelMultiFeed", args=[b"\x27" * 32, multi, bounds, list(feeds.sources[:2]), b"\0" * 32]
        ),
    }
    for reason, data in cases.items():
        with pytest.raises(OracleRevertError, match=reason) as info:
            send(chain, data, "registering")
        assert info.value.error == "InvalidModelConfig"


def test_a_one_feed_model_has_no_feed_readers(feeds: Feeds, market: Any, mlp: Any, chain: World) -> None:
    from .steps import register_attested

    reg = register_attested(chain, mlp, market)
    assert feeds_of(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts) == ()
    with pytest.raises(OracleRevertError) as info:
        read_feed_prediction(chain.conn, chain.oracle, reg.model_id, index=0, contracts=chain.contracts)
    assert info.value.error == "UnknownFeed"


def test_each_asset_vault_acts_on_its_own_feeds_latest_epoch(feeds: Feeds, chain: World, tmp_path: Path) -> None:
    from zkml.oracle.consumer import deploy_feed_consumer
    from zkml.oracle.feed import latest_round, push_prices

    from .steps import rebalance, vault

    reg = register(chain, feeds)
    pub = orc.publish(chain.conn, chain.oracle, reg.model_id, feeds.proof, epochs=[feeds.epoch] * K, sender=chain.owner,
                      contracts=chain.contracts)  # fmt: skip
    vaults = {
        k: deploy_feed_consumer(chain.conn, chain.oracle, reg.model_id, k, tmp_path, sender=chain.owner, contracts=chain.contracts).address
        for k in (0, 2)
    }
    for k, address in vaults.items():
        state = rebalance(chain, address)
        prediction = pub.batch[k]
        assert state.last_epoch == feeds.epoch and state.last_prediction_id == prediction.prediction_id
        assert state.last_forecast_wad == orc.to_wad(prediction.values[0], prediction.scale)
    # Feed 2 moves on: its vault waits for that epoch's prediction; feed 0's vault has nothing newer to act on.
    last = latest_round(chain.conn, feeds.feeds[2], contracts=chain.contracts)
    push_prices(chain.conn, feeds.feeds[2], [last.answer], sender=chain.owner, contracts=chain.contracts)
    with pytest.raises(OracleRevertError) as info:
        rebalance(chain, vaults[2])
    assert info.value.error == "NotLatestEpoch" and list(info.value.values) == [feeds.epoch, feeds.epoch + 1]
    with pytest.raises(OracleRevertError) as info:
        rebalance(chain, vaults[0])
    assert info.value.error == "NotNewer"
    # The one-model vault refuses a multi-feed model, and a feed vault an index the model lacks.
    with pytest.raises(OracleRevertError, match="one FeedForecastVault per feed"):
        vault(chain, reg.model_id, tmp_path / "plain")
    with pytest.raises(OracleRevertError, match="no such feed"):
        deploy_feed_consumer(chain.conn, chain.oracle, reg.model_id, K, tmp_path, sender=chain.owner, contracts=chain.contracts)
