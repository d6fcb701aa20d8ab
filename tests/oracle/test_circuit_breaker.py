"""Issue 22, item 4 (feeds): ReturnsFeatureSource's optional circuit breaker, on chain and in the mirror.

A source deployed with ``maxChangeBps`` > 0 refuses every epoch whose window holds a change between
consecutive good rounds above ``maxChangeBps`` of the earlier price (``CircuitBreaker(epoch, round)``,
the round being the later one of the pair), and only those: the jump's own epoch and the ``window - 1``
after it. No prediction can then be published on a window holding the jump (the oracle asks the source
for the epoch's input). :func:`zkml.oracle.feed.attested_input` refuses the same epochs, naming the
epoch and the round. Off by default (``maxChangeBps`` 0): every epoch attests as before.

The bad-round (skipping) path with the breaker: tests/oracle/test_bad_rounds.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkml.config import FeedConfig, load_config
from zkml.errors import ConfigError, OracleError, OracleRevertError
from zkml.evm.rpc import Connection, Sender, transact
from zkml.oracle.compile import compile_contracts
from zkml.oracle.feed import attested_input, deploy_feed, deploy_source, push_prices, source_instances, source_spec
from zkml.oracle.mirror import MAX_CHANGE_BPS, ReturnsSpec, breaker_index, check_breaker, window_instances

from .conftest import Market, World
from .steps import EPOCH_LAG, publish, register

WINDOW = 3
BOUND = 1000  # 10%
# Round 2 moves exactly 10% (at the bound: allowed); round 5 jumps +45%, round 9 drops -20% (over it).
PATH = [1000, 1100, 1105, 1110, 1610, 1615, 1620, 1625, 1300, 1305, 1310, 1315, 1320]
EPOCHS = range(WINDOW + 1, len(PATH) + 1)


def _tripped(path: list[int], epoch: int, window: int, bound: int) -> int | None:
    """The round the breaker names for ``epoch`` (round ids 1-based, all rounds good), written from the rule."""
    for r in range(epoch - window + 1, epoch + 1):
        previous, price = path[r - 2], path[r - 1]
        if bound and abs(price - previous) * 10_000 > bound * previous:
            return r
    return None


def _feed(conn: Connection, folder: Path, prices: list[int]) -> str:
    feed = deploy_feed(conn, folder).address
    push_prices(conn, feed, prices)
    return feed


def test_a_jump_refuses_exactly_the_epochs_whose_window_holds_it(conn: Connection, tmp_path: Path) -> None:
    feed = _feed(conn, tmp_path, PATH)
    spec = ReturnsSpec(WINDOW, 0, max_change_bps=BOUND)
    source = deploy_source(conn, tmp_path / "on", feed, spec).address
    off = deploy_source(conn, tmp_path / "off", feed, ReturnsSpec(WINDOW, 0)).address
    refused_on_chain, refused_off_chain, usable = {}, {}, []
    for epoch in EPOCHS:
        try:
            instances, _ = source_instances(conn, source, [epoch])
        except OracleRevertError as exc:
            assert exc.error == "CircuitBreaker", exc
            refused_on_chain[epoch] = exc.values[1]
            assert exc.values[0] == epoch and f"epoch {epoch}" in str(exc) and f"round {exc.values[1]}" in str(exc)
        else:
            # An epoch the breaker lets through attests what the source without it attests.
            assert instances == source_instances(conn, off, [epoch])[0], epoch
            usable.append((epoch, instances))
        try:
            attested = attested_input(conn, feed, epoch, spec)
        except OracleError as exc:
            assert f"epoch {epoch} is refused by the circuit breaker: round " in str(exc), exc
            refused_off_chain[epoch] = int(str(exc).split("round ")[1].split()[0])
        else:
            assert list(attested.instances) == source_instances(conn, off, [epoch])[0]
    expected = {e: r for e in EPOCHS if (r := _tripped(PATH, e, WINDOW, BOUND)) is not None}
    assert expected == {5: 5, 6: 5, 7: 5, 9: 9, 10: 9, 11: 9}  # the jump's epoch and the window - 1 after it
    assert refused_on_chain == refused_off_chain == expected
    # A batch (the shared read) of the usable epochs attests what each attests alone; one refused epoch refuses it.
    batch, _ = source_instances(conn, source, [e for e, _ in usable])
    assert batch == [v for _, instances in usable for v in instances]
    with pytest.raises(OracleRevertError) as info:
        source_instances(conn, source, [4, 8, 9])
    assert info.value.error == "CircuitBreaker" and info.value.values == (9, 9)


def test_a_wide_batch_reads_each_epoch_alone_with_the_breaker(conn: Connection, tmp_path: Path) -> None:
    # A batch spanning more than the source's shared span (512 rounds) takes the one-epoch-at-a-time path.
    prices = PATH + [1320 + (i % 3) for i in range(520)]
    feed = _feed(conn, tmp_path, prices)
    source = deploy_source(conn, tmp_path / "on", feed, ReturnsSpec(WINDOW, 0, max_change_bps=BOUND)).address
    last = len(prices)
    with pytest.raises(OracleRevertError) as info:
        source_instances(conn, source, [6, last])
    assert info.value.error == "CircuitBreaker" and info.value.values == (6, 5)
    wide, _ = source_instances(conn, source, [8, last])
    assert wide == source_instances(conn, source, [8])[0] + source_instances(conn, source, [last])[0]


def test_off_by_default(conn: Connection, tmp_path: Path) -> None:
    feed = _feed(conn, tmp_path, PATH)
    spec = ReturnsSpec(WINDOW, 0)
    assert spec.max_change_bps == 0 and FeedConfig().max_change_bps == 0
    source = deploy_source(conn, tmp_path, feed, spec).address
    assert source_spec(conn, source) == (feed, spec)
    # Every epoch attests, jumps included, on chain and in the mirror.
    for epoch in EPOCHS:
        expected = window_instances(PATH[epoch - WINDOW - 1 : epoch], spec)
        assert source_instances(conn, source, [epoch])[0] == expected
        assert list(attested_input(conn, feed, epoch, spec).instances) == expected
    # Another bound is another source (the recorded one is replaced, then reused); the source reads it back.
    on = ReturnsSpec(WINDOW, 0, max_change_bps=BOUND)
    first = deploy_source(conn, tmp_path, feed, on)
    assert first.address != source and deploy_source(conn, tmp_path, feed, on).reused
    assert source_spec(conn, first.address) == (feed, on)


def test_the_bound_is_checked_everywhere(conn: Connection, tmp_path: Path) -> None:
    contracts = compile_contracts()
    feed = _feed(conn, tmp_path, [100, 101])
    owner = Sender(list(conn.w3.eth.accounts)[0])
    checksummed = conn.w3.to_checksum_address(feed)
    from eth_abi import encode

    def construct(bps: int) -> Any:
        args = encode(["address", "uint256", "uint8", "uint256", "uint256"], [checksummed, 1, 0, 100, bps])
        return transact(conn, owner, bytes(contracts.source.bytecode) + args, "deploying a source", errors=contracts.errors)

    for absurd in (MAX_CHANGE_BPS + 1, 2**255):
        with pytest.raises(OracleRevertError, match="maxChangeBps must be 0..1e6") as info:
            construct(absurd)
        assert info.value.error == "InvalidParameter"
    assert construct(MAX_CHANGE_BPS)["status"] == 1
    for bad in (-1, MAX_CHANGE_BPS + 1, True, 1.5, "500"):
        with pytest.raises(OracleError, match="max_change_bps must be an integer in 0..1000000"):
            ReturnsSpec(1, 0, max_change_bps=bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"\[feed\] max_change_bps"):
            FeedConfig(max_change_bps=bad)  # type: ignore[arg-type]
    assert FeedConfig(max_change_bps=MAX_CHANGE_BPS).max_change_bps == MAX_CHANGE_BPS


def test_the_config_key(tmp_path: Path) -> None:
    toml = tmp_path / "zkml.toml"
    toml.write_text('name = "m"\n\n[model]\nonnx = "m.onnx"\n\n[feed]\nmax_change_bps = 2500\n')
    feed = load_config(toml).feed
    assert feed is not None and feed.max_change_bps == 2500
    toml.write_text('name = "m"\n\n[model]\nonnx = "m.onnx"\n\n[feed]\nmax_change_bps = 2000000\n')
    with pytest.raises(ConfigError, match="max_change_bps = 2000000 must be an integer within 0..1000000"):
        load_config(toml)


def test_the_mirror_rule_at_the_edges() -> None:
    spec = ReturnsSpec(2, 0, max_change_bps=BOUND)
    assert breaker_index([1000, 1100, 990], spec) is None  # +10% and -10% exactly: at the bound
    assert breaker_index([1000, 1101, 1000], spec) == 1
    assert breaker_index([1000, 1000, 899], spec) == 2
    assert breaker_index([1, 2**191 - 1, 1], ReturnsSpec(2, 0, max_change_bps=MAX_CHANGE_BPS)) == 1
    assert breaker_index([1, 2**191 - 1, 1], ReturnsSpec(2, 0)) is None  # off
    with pytest.raises(OracleError, match=r"epoch 12 is refused by the circuit breaker: round 11 moved the price 1010 bps"):
        check_breaker(12, [9, 10, 11], [1000, 1000, 899], spec)


def test_the_revert_decodes_to_one_line_naming_epoch_and_round() -> None:
    exc = compile_contracts().errors.exception("CircuitBreaker", (48, 46), "submitting the proof")
    assert isinstance(exc, OracleRevertError) and exc.values == (48, 46)
    text = str(exc)
    assert "\n" not in text and "CircuitBreaker(48, 46)" in text
    assert "epoch 48 is refused by the circuit breaker: round 46" in text


def test_the_oracle_refuses_a_prediction_on_a_tripped_window(chain: World, mlp: Any, market: Market, tmp_path: Path) -> None:
    """Through the oracle: the same proof publishes under the market's source, and not under a breaker that trips."""
    spec = market.spec
    prices = list(attested_input(chain.conn, market.feed, market.latest, spec).prices)
    widest = max(abs(b - a) * 10_000 // a for a, b in zip(prices, prices[1:], strict=False))
    assert widest > 1, "the example series moves more than 1 bps in the window"
    trips = ReturnsSpec(spec.window, spec.scale, spec.multiplier, max_change_bps=widest - 1)
    holds = ReturnsSpec(spec.window, spec.scale, spec.multiplier, max_change_bps=widest + 1)
    with pytest.raises(OracleError, match=rf"epoch {market.latest} is refused by the circuit breaker"):
        attested_input(chain.conn, market.feed, market.latest, trips)
    source = deploy_source(chain.conn, tmp_path / "trips", market.feed, trips, sender=chain.owner).address
    reg = register(chain, mlp, chain.mlp_verifier, feature_source=source, max_epoch_lag=EPOCH_LAG)
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, market.proof, epochs=[market.latest])
    assert info.value.error == "CircuitBreaker" and info.value.values[0] == market.latest
    assert f"epoch {market.latest} is refused by the circuit breaker" in str(info.value)
    # A bound the window keeps: the proof publishes (the breaker's own cost is in this gas).
    source = deploy_source(chain.conn, tmp_path / "holds", market.feed, holds, sender=chain.owner).address
    reg = register(chain, mlp, chain.mlp_verifier, feature_source=source, max_epoch_lag=EPOCH_LAG)
    assert publish(chain, reg.model_id, market.proof, epochs=[market.latest]).gas_used > 0
