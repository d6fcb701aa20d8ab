"""PushFeed and ReturnsFeatureSource on the session anvil: the mirror and the contract agree on every epoch.

The property test (issue 11's must-show) pushes hypothesis' price paths, extreme moves
included, to feeds of 8 and 18 decimals and compares what the source attests for every
epoch with :mod:`zkml.oracle.mirror`'s recomputation. Its feeds and sources live in a
module-scoped snapshot (reverted when the module ends); the other tests deploy fresh
ones inside ``conn``'s per-test snapshot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkml.errors import OracleError, OracleRevertError
from zkml.evm.felts import felt_to_int
from zkml.evm.rpc import Connection, Sender, connect
from zkml.oracle.calls import bind
from zkml.oracle.compile import OracleContracts, compile_contracts
from zkml.oracle.feed import (
    Round,
    attested_input,
    deploy_feed,
    deploy_source,
    feed_decimals,
    latest_epoch,
    latest_round,
    push_prices,
    read_rounds,
    source_instances,
)
from zkml.oracle.mirror import FLOAT_EXACT, INT192_MAX, ReturnsSpec, encode_felt, window_instances

WINDOWS = (1, 8, 16)
SCALES = (0, 7, 13, 20, 32)
MULTIPLIERS = (1, 100, 10_000)
DECIMALS = (8, 18)


# --------------------------------------------------------------------------- round trips


def test_deploy_push_read_round_trip(conn: Connection, tmp_path: Path) -> None:
    feed = deploy_feed(conn, tmp_path, decimals=18, description="ETH / USD")
    assert not feed.reused and feed.kind == "feed" and feed.name == "PushFeed"
    assert deploy_feed(conn, tmp_path, decimals=18, description="ETH / USD").reused
    assert feed_decimals(conn, feed.address) == 18
    with pytest.raises(OracleError, match="has no round 0"):
        latest_round(conn, feed.address)
    answers = [3000 * 10**18, 3030 * 10**18, 2999 * 10**18, 1, INT192_MAX]
    pushed = push_prices(conn, feed.address, answers, chunk=2)
    assert (pushed.first_round, pushed.last_round, len(pushed.tx_hashes)) == (1, 5, 3)
    assert pushed.gas_used > 5 * 20_000
    rounds = read_rounds(conn, feed.address, 1, 5)
    assert [r.answer for r in rounds] == answers and [r.round_id for r in rounds] == [1, 2, 3, 4, 5]
    assert all(r.updated_at > 0 for r in rounds)
    assert latest_round(conn, feed.address) == rounds[-1] and latest_epoch(conn, feed.address) == 5
    again = push_prices(conn, feed.address, [42])
    assert (again.first_round, again.last_round) == (6, 6)
    with pytest.raises(OracleError, match="has no round 7"):
        read_rounds(conn, feed.address, 6, 8)
    # Other parameters: another feed, which the record now holds instead.
    other = deploy_feed(conn, tmp_path, decimals=8, description="ETH / USD")
    assert other.address != feed.address and not other.reused


def test_push_refuses_before_sending(conn: Connection, tmp_path: Path) -> None:
    feed = deploy_feed(conn, tmp_path).address
    push_prices(conn, feed, [100])
    for answers, match in (([], "no answers"), ([100, INT192_MAX + 1], "not a positive int192"), ([100, True], "not a positive int192")):
        with pytest.raises(OracleError, match=match):
            push_prices(conn, feed, answers)
    with pytest.raises(OracleError, match="chunk"):
        push_prices(conn, feed, [100], chunk=0)
    stranger = Sender(list(conn.w3.eth.accounts)[1])
    with pytest.raises(OracleError, match="does not own feed") as info:
        push_prices(conn, feed, [100], sender=stranger)
    assert "ZKML_PRIVATE_KEY" in str(info.value)
    assert latest_epoch(conn, feed) == 1  # nothing half-pushed
    with pytest.raises(OracleError, match="decimals"):
        deploy_feed(conn, tmp_path / "x", decimals=37)


def test_source_deploy_reuse_and_refusals(conn: Connection, tmp_path: Path) -> None:
    feed = deploy_feed(conn, tmp_path).address
    push_prices(conn, feed, [100, 101, 102])
    spec = ReturnsSpec(window=1, scale=0)
    source = deploy_source(conn, tmp_path, feed, spec)
    assert deploy_source(conn, tmp_path, feed, spec).reused
    assert source_instances(conn, source.address, [2]) == ([1], [latest_round(conn, feed).updated_at])
    # Epoch <= window: no complete window.
    with pytest.raises(OracleRevertError, match=r"EpochOutOfRange\(1\)"):
        source_instances(conn, source.address, [1])
    with pytest.raises(OracleError, match="no complete window"):
        attested_input(conn, feed, 1, spec)
    # A missing round (the feed itself reverts, as a Chainlink feed does with "No data present") is a BadRound.
    # Non-positive and incomplete rounds: tests/oracle/test_bad_rounds.py (PushFeed refuses to store them).
    with pytest.raises(OracleRevertError, match=r"BadRound\(4\)"):
        source_instances(conn, source.address, [4])
    with pytest.raises(OracleError, match="has no round 4"):
        attested_input(conn, feed, 4, spec)
    with pytest.raises(OracleRevertError, match="NoEpochs"):
        source_instances(conn, source.address, [])
    # Another spec replaces the recorded source; a feed address without code is refused by the constructor.
    assert deploy_source(conn, tmp_path, feed, ReturnsSpec(2, 0)).address != source.address
    with pytest.raises(OracleRevertError, match="no contract at feed"):
        deploy_source(conn, tmp_path / "none", "0x" + "11" * 20, spec)


def test_a_batch_attests_what_its_epochs_attest_alone(conn: Connection, tmp_path: Path) -> None:
    feed = deploy_feed(conn, tmp_path).address
    push_prices(conn, feed, [100, 101, 99, 102, 103])
    source = deploy_source(conn, tmp_path, feed, ReturnsSpec(1, 0)).address
    alone = [source_instances(conn, source, [epoch]) for epoch in (2, 5)]
    assert source_instances(conn, source, [2, 5]) == (alone[0][0] + alone[1][0], alone[0][1] + alone[1][1])


def test_attested_input_is_the_prover_input(conn: Connection, tmp_path: Path) -> None:
    feed = deploy_feed(conn, tmp_path).address
    prices = [1834_25000000, 1852_59250000, 1815_90750000, 1815_90750000]  # +1%, 0.99/1.01 - 1 = -1.980198%, flat
    push_prices(conn, feed, prices)
    spec = ReturnsSpec(window=3, scale=13)
    source = deploy_source(conn, tmp_path, feed, spec).address
    attested = attested_input(conn, feed, 4, spec)
    instances, timestamps = source_instances(conn, source, [4])
    assert list(attested.instances) == instances and attested.timestamp == timestamps[0]
    assert attested.prices == tuple(prices)
    assert attested.values == (1.0, -16222 / 8192, 0.0)  # -1.980198 * 8192 = -16221.78
    assert attested.input_data() == {"input_data": [[1.0, -16222 / 8192, 0.0]]}
    assert json.loads(json.dumps(attested.as_dict()))["instances"] == instances


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def app() -> click.Group:
    from zkml_cli.main import cli

    return cli


def test_feed_cli(app: click.Group, conn: Connection, tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, ["feed", *args, "--rpc-url", conn.url], obj={})
        assert result.exit_code == code, result.output
        return json.loads(result.output) if code == 0 and "--json" in args else result.output

    deployed = run("deploy", "--decimals", "8", "--description", "BTC / USD", "--record-dir", str(tmp_path), "--json")
    feed = deployed["address"]
    assert deployed["decimals"] == 8 and not deployed["reused"]
    assert "reused" in run("deploy", "--decimals", "8", "--description", "BTC / USD", "--record-dir", str(tmp_path))
    pushed = run("push", feed, "1834.25", "1852.5925", "--json")
    assert (pushed["first_round"], pushed["last_round"], pushed["answers"]) == (1, 2, [183425000000, 185259250000])
    listed = tmp_path / "prices.json"
    listed.write_text('[1800, 1800.5, "1801.123456785"]')
    assert run("push", feed, "--file", str(listed), "--json")["answers"] == [180000000000, 180050000000, 180112345679]
    lines = tmp_path / "prices.txt"
    lines.write_text("# one per line\n1900\n\n1901.01\n")
    assert "rounds 6..7" in run("push", feed, "--file", str(lines))
    read = run("read", feed, "--last", "3", "--json")
    assert [r["round_id"] for r in read["rounds"]] == [5, 6, 7]
    assert [r["price"] for r in read["rounds"]] == ["1801.12345679", "1900.00000000", "1901.01000000"]
    assert "round 1: 1834.25000000 (answer 183425000000" in run("read", feed, "--round", "1")
    assert "round 7:" in run("read", feed)
    assert "has no round 9" in run("read", feed, "--round", "9", code=2)
    assert "must be positive" in run("push", feed, "0", code=2)
    assert "one of them" in run("push", feed, "1", "--file", str(lines), code=2)
    assert "not both" in run("read", feed, "--round", "1", "--last", "2", code=2)


def test_feed_cli_makes_the_feeds_of_a_multi_feed_model(app: click.Group, conn: Connection, tmp_path: Path) -> None:
    from zkml.oracle.demo import series_prices

    from ..conftest import CIRCUITS

    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, ["feed", *args, "--rpc-url", conn.url], obj={})
        assert result.exit_code == code, result.output
        return json.loads(result.output) if code == 0 and "--json" in args else result.output

    deployed = run("deploy", "--count", "3", "--description", "asset", "--record-dir", str(tmp_path), "--json")["feeds"]
    assert [d["description"] for d in deployed] == ["asset #1", "asset #2", "asset #3"] and len({d["address"] for d in deployed}) == 3
    again = run("deploy", "--count", "3", "--description", "asset", "--record-dir", str(tmp_path), "--json")["feeds"]
    assert [d["address"] for d in again] == [d["address"] for d in deployed] and all(d["reused"] for d in again)
    series = CIRCUITS / "mlp_regressor"
    for k, feed in enumerate(d["address"] for d in deployed):
        pushed = run("push", feed, "--series", str(series), "--offset", str(k), "--rounds", "12", "--json")
        assert (pushed["first_round"], pushed["last_round"]) == (1, 12)
        prices = [r["price"] for r in run("read", feed, "--last", "12", "--json")["rounds"]]
        assert [float(p) for p in prices] == pytest.approx(series_prices(series, offset=k, rounds=12), rel=1e-8)
    assert "one of them" in run("push", deployed[0]["address"], "1", "--series", str(series), code=2)
    assert "do not fit" in run("push", deployed[0]["address"], "--series", str(series), "--offset", "100000", code=2)


# --------------------------------------------------------------------------- the property test


@dataclass
class Lab:
    """Feeds of 8 and 18 decimals, and sources over them made on first use (per decimals and spec)."""

    conn: Connection
    contracts: OracleContracts
    owner: Sender
    root: Path
    feeds: dict[int, str]
    sources: dict[tuple[int, ReturnsSpec], str] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints fixtures on failure: keep it short
        return f"Lab(feeds={self.feeds})"

    def source(self, decimals: int, spec: ReturnsSpec) -> str:
        key = (decimals, spec)
        if key not in self.sources:
            folder = self.root / f"d{decimals}-w{spec.window}-s{spec.scale}-m{spec.multiplier}"
            deployed = deploy_source(self.conn, folder, self.feeds[decimals], spec, sender=self.owner, contracts=self.contracts)
            self.sources[key] = deployed.address
        return self.sources[key]

    def push(self, decimals: int, prices: list[int]) -> Round:
        """One pushMany of ``prices``; returns the feed's newest round.

        Sent and polled here rather than with :func:`push_prices` (which the other tests
        cover): zkml.evm.rpc polls a receipt every 200 ms, most of this test's time on anvil.
        """
        feed = self.feeds[decimals]
        data = bind(self.conn, feed, self.contracts.feed).encode_abi("pushMany", args=[prices])
        tx = {"from": self.owner.address, "to": feed, "data": data, "gas": hex(100_000 + 40_000 * len(prices))}
        tx_hash = self.conn.w3.provider.make_request("eth_sendTransaction", [tx])["result"]
        while (receipt := self.conn.w3.provider.make_request("eth_getTransactionReceipt", [tx_hash])["result"]) is None:
            time.sleep(0.002)
        assert int(receipt["status"], 16) == 1, receipt
        return latest_round(self.conn, feed, contracts=self.contracts)


@pytest.fixture(scope="module")
def lab(anvil: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The property test's chain state, in a snapshot reverted when the module ends."""
    conn = connect(anvil.url)
    snapshot = conn.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        root = tmp_path_factory.mktemp("feeds")
        contracts = compile_contracts()
        owner = Sender(list(conn.w3.eth.accounts)[0])
        feeds = {d: deploy_feed(conn, root / f"feed{d}", decimals=d, sender=owner, contracts=contracts).address for d in DECIMALS}
        yield Lab(conn, contracts, owner, root, feeds)
    finally:
        assert conn.w3.provider.make_request("evm_revert", [snapshot])["result"] is True


def _clamp(price: int) -> int:
    return min(max(price, 1), INT192_MAX)


# A step's price factor, as a fraction: -99.99% (1/10000) up to x1000, tiny moves, and arbitrary rationals.
_RATIOS = st.one_of(
    st.sampled_from([Fraction(1, 10_000), Fraction(1000), Fraction(9999, 10_000), Fraction(10_001, 10_000), Fraction(1, 2), Fraction(2)]),
    st.integers(1, 10_000_000).map(lambda bp: Fraction(bp, 10_000)),
    st.tuples(st.integers(1, 10**9), st.integers(10**6, 10**9)).map(lambda ab: Fraction(*ab)),
)


@st.composite
def _paths(draw: st.DrawFn) -> tuple[int, ReturnsSpec, list[int]]:
    """A feed's decimals, a source spec and a price path of at least window + 1 rounds."""
    decimals = draw(st.sampled_from(DECIMALS))
    spec = ReturnsSpec(draw(st.sampled_from(WINDOWS)), draw(st.sampled_from(SCALES)), draw(st.sampled_from(MULTIPLIERS)))
    half = 2 * spec.multiplier << spec.scale  # price m * half, then m * (half + 2k + 1): a return of exactly k + 1/2
    first = draw(
        st.one_of(
            st.integers(1, 10),  # near 1
            st.integers(1, 10**7).map(lambda c: c * 10**decimals // 1000),  # 0.001 .. 10,000 units
            st.tuples(st.integers(0, 40), st.integers(0, 1000)).map(lambda kd: INT192_MAX // 10 ** kd[0] - kd[1]),  # near the top
            st.integers(1, INT192_MAX),
        )
    )
    prices = [_clamp(first)]
    length = spec.window + 1 + draw(st.integers(0, 24))
    while len(prices) < length:
        kind = draw(st.sampled_from(["ratio", "ratio", "flat", "tick", "half"]))
        last = prices[-1]
        if kind == "ratio":
            prices.append(_clamp(round(last * draw(_RATIOS))))
        elif kind == "flat":
            prices.extend([last] * draw(st.integers(1, 4)))
        elif kind == "tick":
            prices.append(_clamp(last + draw(st.integers(-3, 3))))
        else:
            m = draw(st.integers(1, min(10**12, INT192_MAX // (2 * half))))
            k = draw(st.integers(-(half // 2) + 1, min(half, 10**6)))  # keeps m * (half + 2k + 1) > 0
            prices.extend([m * half, _clamp(m * (half + 2 * k + 1))])
    return decimals, spec, prices[:length]


# 150 random paths on a real contract (~9 s); their shrinking finds the edge where a mismatch starts.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(path=_paths())
def test_mirror_equals_the_contract_on_random_paths(lab: Lab, path: tuple[int, ReturnsSpec, list[int]]) -> None:
    decimals, spec, prices = path
    source = lab.source(decimals, spec)
    newest = lab.push(decimals, prices)
    first = newest.round_id - len(prices) + 1
    epochs = list(range(first + spec.window, newest.round_id + 1))
    instances, timestamps = source_instances(lab.conn, source, epochs, contracts=lab.contracts)
    expected: list[int] = []
    for epoch in epochs:
        at = epoch - first
        expected += window_instances(prices[at - spec.window : at + 1], spec)
    assert instances == expected
    # One pushMany: every round of the path has the block time of that transaction.
    assert timestamps == [newest.updated_at] * len(epochs)
    # The independent recomputation over RPC (the prover's path) agrees on the newest epoch.
    if all(abs(felt_to_int(v)) < FLOAT_EXACT for v in instances[-spec.window :]):
        attested = attested_input(lab.conn, lab.feeds[decimals], epochs[-1], spec, contracts=lab.contracts)
        assert list(attested.instances) == instances[-spec.window :] and attested.timestamp == timestamps[-1]
        assert [encode_felt(round(v * 2**spec.scale)) for v in attested.values] == list(attested.instances)
    else:
        with pytest.raises(OracleError, match="not exact in a float"):
            attested_input(lab.conn, lab.feeds[decimals], epochs[-1], spec, contracts=lab.contracts)
