"""Issue 22, finding 4: a feed cannot be bricked by one bad round.

- ``PushFeed`` refuses a non-positive answer (``push(0)``, ``push(-1)`` used to be stored);
- the feature source skips a bad round (zero or negative answer, no data, incomplete) when it
  builds a window, so only the bad round's own epoch is unusable: every later epoch whose window
  holds it attests the returns of the latest ``window + 1`` good rounds (it used to revert
  ``BadRound`` for ``window + 1`` epochs). A real Chainlink feed can still report such a round,
  so the source is tested over ``RawFeed``, a feed that stores whatever it is given.

The Python recomputation (:func:`zkml.oracle.feed.attested_input`) walks the same way.
With a circuit breaker (tests/oracle/test_circuit_breaker.py) the pairs it bounds are consecutive
good rounds of that walk, and the round it names is a round id, not a position in the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkml.errors import OracleError, OracleRevertError
from zkml.evm.felts import felt_to_int
from zkml.evm.rpc import Connection, Sender, transact
from zkml.evm.solc import CompiledContract
from zkml.oracle.compile import compile_contracts
from zkml.oracle.feed import attested_input, deploy_feed, deploy_source, latest_epoch, push_prices, source_instances
from zkml.oracle.mirror import FLOAT_EXACT, MAX_SKIPPED, ReturnsSpec, breaker_index, window_instances

# A malfunctioning AggregatorV3 feed: any answer, a round without data, or an incomplete round (updatedAt 0).
RAW_FEED = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract RawFeed {
    mapping(uint80 => int256) private _answers;
    mapping(uint80 => uint256) private _times;
    mapping(uint80 => bool) private _present;
    uint80 public latest;
    function decimals() external pure returns (uint8) { return 8; }
    /// kinds[i]: 0 a complete round, 1 an incomplete one (updatedAt 0), 2 no data at all.
    function pushMany(int256[] calldata answers, uint8[] calldata kinds) external {
        for (uint256 i = 0; i < answers.length; ++i) {
            latest += 1;
            if (kinds[i] == 2) continue;
            _answers[latest] = answers[i];
            _times[latest] = kinds[i] == 0 ? block.timestamp : 0;
            _present[latest] = true;
        }
    }
    function getRoundData(uint80 id) public view returns (uint80, int256, uint256, uint256, uint80) {
        require(_present[id], "No data present");
        return (id, _answers[id], _times[id], _times[id], id);
    }
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latest);
    }
}
"""

GAP = None  # a round the feed has no data for
INCOMPLETE = "incomplete"  # a round with updatedAt 0


@pytest.fixture(scope="module")
def raw_feed() -> CompiledContract:
    from zkml.evm.solc import compile_standard_json

    return compile_standard_json({"RawFeed.sol": RAW_FEED})["RawFeed"]


def _raw(conn: Connection, compiled: CompiledContract, rounds: list[int | str | None]) -> str:
    """A RawFeed holding ``rounds`` (round 1 first): answers, GAP or INCOMPLETE, pushed in one transaction."""
    owner = Sender(list(conn.w3.eth.accounts)[0])
    address = transact(conn, owner, compiled.bytecode, "deploying RawFeed")["contractAddress"]
    feed = conn.w3.eth.contract(address=address, abi=compiled.abi_list)
    answers = [item if isinstance(item, int) else 1000 for item in rounds]
    kinds = [2 if item is GAP else 1 if item == INCOMPLETE else 0 for item in rounds]
    transact(conn, owner, feed.encode_abi("pushMany", args=[answers, kinds]), "pushing raw rounds", to=address)
    return str(address)


def _good(rounds: list[int | str | None], epoch: int, window: int) -> list[int]:
    """The latest ``window + 1`` good prices up to ``epoch`` (round ids are 1-based), oldest first."""
    good = [p for p in rounds[:epoch] if isinstance(p, int) and p > 0]
    return good[-(window + 1) :]


def test_push_feed_refuses_non_positive_answers(conn: Connection, tmp_path: Path) -> None:
    contracts = compile_contracts()
    feed = deploy_feed(conn, tmp_path).address
    push_prices(conn, feed, [100, 101])
    owner = Sender(list(conn.w3.eth.accounts)[0])
    bound = conn.w3.eth.contract(address=feed, abi=contracts.feed.abi_list)
    for answer in (0, -1):
        # Straight to the contract (what a hand-made transaction meets) ...
        for data in (bound.encode_abi("push", args=[answer]), bound.encode_abi("pushMany", args=[[102, answer]])):
            with pytest.raises(OracleRevertError) as info:
                transact(conn, owner, data, "pushing a non-positive answer", to=feed, errors=contracts.errors)
            assert info.value.error == "AnswerOutOfRange" and info.value.values == (answer,)
        # ... and by the tooling, before anything is sent.
        with pytest.raises(OracleError, match="not a positive int192"):
            push_prices(conn, feed, [102, answer])
    assert latest_epoch(conn, feed) == 2


BAD_PATH: list[int | str | None] = [100, 101, 102, 0, 103, -1, 104, GAP, 105, INCOMPLETE, 106, 107, 108, 109]


def test_one_bad_round_does_not_brick_later_epochs(raw_feed: CompiledContract, conn: Connection, tmp_path: Path) -> None:
    feed = _raw(conn, raw_feed, BAD_PATH)
    spec = ReturnsSpec(window=2, scale=0)
    source = deploy_source(conn, tmp_path, feed, spec).address
    bad = [i + 1 for i, p in enumerate(BAD_PATH) if not (isinstance(p, int) and p > 0)]
    good = [e for e in range(spec.window + 1, len(BAD_PATH) + 1) if e not in bad]
    for epoch in bad:
        # The bad round's own epoch has no data to attest.
        with pytest.raises(OracleRevertError) as info:
            source_instances(conn, source, [epoch])
        assert info.value.error == "BadRound" and info.value.values == (epoch,)
        with pytest.raises(OracleError, match=rf"(round {epoch} of feed .* is unusable|has no round {epoch}\b)"):
            attested_input(conn, feed, epoch, spec)
    alone = []
    for epoch in good:
        # Every later epoch attests the latest window + 1 good rounds, on chain and in the recomputation.
        instances, _ = source_instances(conn, source, [epoch])
        expected = window_instances(_good(BAD_PATH, epoch, spec.window), spec)
        assert instances == expected, epoch
        attested = attested_input(conn, feed, epoch, spec)
        assert list(attested.instances) == expected and list(attested.prices) == _good(BAD_PATH, epoch, spec.window)
        alone.append(instances)
    # A batch over the bad rounds (the shared read) attests what each epoch attests alone.
    batch, _ = source_instances(conn, source, good)
    assert batch == [v for instances in alone for v in instances]


def test_the_walk_is_bounded(raw_feed: CompiledContract, conn: Connection, tmp_path: Path) -> None:
    # Window 2 over [100, 0, 101, 102, ...]: epoch 3 has only two good rounds before the feed's start.
    rounds: list[int | str | None] = [100, 0, 101, 102, 103]
    feed = _raw(conn, raw_feed, rounds)
    source = deploy_source(conn, tmp_path, feed, ReturnsSpec(2, 0)).address
    with pytest.raises(OracleRevertError) as info:
        source_instances(conn, source, [3])
    assert info.value.error == "EpochOutOfRange" and info.value.values == (3,)
    with pytest.raises(OracleError, match="no complete window"):
        attested_input(conn, feed, 3, ReturnsSpec(2, 0))
    assert source_instances(conn, source, [4])[0] == window_instances([100, 101, 102], ReturnsSpec(2, 0))
    # More than MAX_SKIPPED bad rounds inside one window: a broken feed, refused; exactly MAX_SKIPPED are skipped.
    many: list[int | str | None] = [100, 101, *([0] * (MAX_SKIPPED + 1)), 102, *([-1] * MAX_SKIPPED), 103]
    feed = _raw(conn, raw_feed, many)
    spec = ReturnsSpec(1, 0)
    source = deploy_source(conn, tmp_path / "many", feed, spec).address
    epoch = many.index(102) + 1
    with pytest.raises(OracleRevertError) as info:
        source_instances(conn, source, [epoch])
    assert info.value.error == "BadRound" and info.value.values == (epoch - MAX_SKIPPED - 1,)
    with pytest.raises(OracleError, match=f"more than {MAX_SKIPPED} bad rounds"):
        attested_input(conn, feed, epoch, spec)
    assert source_instances(conn, source, [len(many)])[0] == window_instances([102, 103], spec)
    assert list(attested_input(conn, feed, len(many), spec).prices) == [102, 103]


def test_the_breaker_bounds_consecutive_good_rounds_across_a_bad_one(raw_feed: CompiledContract, conn: Connection, tmp_path: Path) -> None:
    # Window 3: epoch 5 walks 5, (4 bad), 3, 2, 1: its window is rounds 1, 2, 3, 5; the jump is round 2's (+50%).
    rounds: list[int | str | None] = [100, 150, 151, 0, 152, 153, 154, 155, 156]
    feed = _raw(conn, raw_feed, rounds)
    spec = ReturnsSpec(3, 0, max_change_bps=1000)
    source = deploy_source(conn, tmp_path, feed, spec).address
    with pytest.raises(OracleRevertError) as info:
        source_instances(conn, source, [5])
    # Round 2 by id (the window's second price); counting from epoch - window would say round 3.
    assert info.value.error == "CircuitBreaker" and info.value.values == (5, 2)
    with pytest.raises(OracleError, match=r"epoch 5 is refused by the circuit breaker: round 2 "):
        attested_input(conn, feed, 5, spec)
    # Round 5 follows round 3 across the bad round 4: +0.7%, inside the bound, so epoch 6 (rounds 2, 3, 5, 6) attests.
    assert source_instances(conn, source, [6])[0] == window_instances([150, 151, 152, 153], spec)
    assert list(attested_input(conn, feed, 6, spec).prices) == [150, 151, 152, 153]
    with pytest.raises(OracleRevertError) as info:
        source_instances(conn, source, [5, 6])  # the shared read meets the same refusal
    assert info.value.values == (5, 2)


# --------------------------------------------------------------------------- the property test

Outcome = list[int] | tuple[Any, ...]


def _walk(rounds: list[int | str | None], epoch: int, spec: ReturnsSpec) -> Outcome:
    """What the source must answer for ``epoch``, written from the rule, not from zkml.oracle.feed."""

    def good(round_id: int) -> bool:
        item = rounds[round_id - 1]
        return isinstance(item, int) and item > 0

    if not good(epoch):
        return ("BadRound", epoch)
    prices: list[int] = []
    ids: list[int] = []
    skipped = 0
    round_id = epoch
    while len(prices) <= spec.window:
        if round_id == 0:
            return ("EpochOutOfRange", epoch)
        if good(round_id):
            prices.insert(0, int(rounds[round_id - 1]))  # type: ignore[arg-type]
            ids.insert(0, round_id)
        else:
            skipped += 1
            if skipped > MAX_SKIPPED:
                return ("BadRound", round_id)
        round_id -= 1
    tripped = breaker_index(prices, spec)
    if tripped is not None:
        return ("CircuitBreaker", epoch, ids[tripped])
    return window_instances(prices, spec)


@st.composite
def _bad_paths(draw: st.DrawFn) -> tuple[ReturnsSpec, list[int | str | None]]:
    """A window, a circuit breaker (mostly off) and a path of positive prices with bad rounds anywhere, sometimes in runs."""
    bps = draw(st.sampled_from([0, 0, 5000, 10**6]))
    spec = ReturnsSpec(draw(st.sampled_from([1, 3, 8])), draw(st.sampled_from([0, 13])), max_change_bps=bps)
    bad = st.sampled_from([0, -1, -(10**8), GAP, INCOMPLETE])
    rounds: list[int | str | None] = []
    while len(rounds) < spec.window + 1 + draw(st.integers(0, 30)):
        kind = draw(st.sampled_from(["price", "price", "price", "bad", "run"]))
        if kind == "price":
            rounds.append(draw(st.integers(1, 10**12)))
        elif kind == "bad":
            rounds.append(draw(bad))
        else:
            rounds.extend([draw(bad)] * draw(st.integers(2, MAX_SKIPPED + 2)))
    return spec, rounds


# Each example deploys a feed and a source (three transactions, ~0.4 s on anvil).
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(path=_bad_paths())
def test_source_and_recomputation_follow_the_rule_on_random_bad_rounds(
    raw_feed: CompiledContract, conn: Connection, tmp_path: Path, path: tuple[ReturnsSpec, list[int | str | None]]
) -> None:
    spec, rounds = path
    feed = _raw(conn, raw_feed, rounds)
    source = deploy_source(conn, tmp_path / feed, feed, spec).address
    usable: list[tuple[int, list[int]]] = []
    for epoch in range(spec.window + 1, len(rounds) + 1):
        expected = _walk(rounds, epoch, spec)
        if isinstance(expected, tuple):
            with pytest.raises(OracleRevertError) as info:
                source_instances(conn, source, [epoch])
            assert (info.value.error, info.value.values) == (expected[0], expected[1:]), epoch
            with pytest.raises(OracleError):
                attested_input(conn, feed, epoch, spec)
            continue
        assert source_instances(conn, source, [epoch])[0] == expected, epoch
        usable.append((epoch, expected))
    if usable:
        # The batch (shared read) gives what each epoch gives alone; the Python walk agrees on the newest.
        batch, _ = source_instances(conn, source, [e for e, _ in usable])
        assert batch == [v for _, instances in usable for v in instances]
        newest, instances = usable[-1]
        if all(abs(felt_to_int(v)) < FLOAT_EXACT for v in instances):
            assert list(attested_input(conn, feed, newest, spec).instances) == instances
        else:
            with pytest.raises(OracleError, match="not exact in a float"):
                attested_input(conn, feed, newest, spec)
