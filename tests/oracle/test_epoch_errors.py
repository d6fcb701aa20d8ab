"""Every refusal of a bad epoch is one line that names the epoch (and, where known, the valid range).

Issue 22, item 5: ``zkml oracle attest --epoch -1`` failed with "VerifiedPredictionOracle.models
returned 0 bytes that do not decode". The refusals come from three places: the tooling before
anything is sent (:func:`zkml.oracle.attest.check_epoch`, :func:`zkml.oracle.feed.attested_input`,
:func:`zkml.oracle.client.publish`), and the contracts' reverts as :mod:`zkml.oracle.reverts`
decodes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkml.errors import AttestationError, OracleError, ReplayError, ZkmlError
from zkml.evm.rpc import Connection
from zkml.oracle.attest import check_epoch
from zkml.oracle.client import publish, read_prediction
from zkml.oracle.compile import compile_contracts
from zkml.oracle.encoding import prediction_id
from zkml.oracle.feed import attested_input, deploy_feed, push_prices
from zkml.oracle.mirror import ReturnsSpec

MODEL = bytes(range(32))
ORACLE = "0x" + "11" * 20
NOT_INTEGERS: list[Any] = [1.5, "48", True, None]


def _one_line(exc: BaseException, *parts: str) -> str:
    text = str(exc)
    assert "\n" not in text, text
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"
    return text


# --------------------------------------------------------------------------- the contracts' reverts


@pytest.mark.parametrize(
    ("error", "values", "parts"),
    [
        ("EpochTooOld", (53, 48, 8), ("epoch 53 is past the feed's latest epoch 48", "epochs 40..48")),
        ("EpochTooOld", (39, 48, 8), ("epoch 39 is more than 8 rounds behind the feed's latest epoch 48", "epochs 40..48")),
        ("EpochTooOld", (9, 5, 8), ("epoch 9 is past the feed's latest epoch 5", "epochs 0..5")),
        ("EpochOutOfRange", (3,), ("epoch 3 has fewer than window + 1",)),
        ("BadRound", (7,), ("round 7 of the feed",)),
        ("StaleData", (48, 1000, 1900), ("the data of epoch 48",)),
        ("InputNotAttested", (48, 2, 5, 6), ("feature 2", "epoch 48")),
        ("NotLatestEpoch", (46, 48), ("epoch 46", "the feed's latest epoch 48")),
        ("NotNewer", (48, 48), ("epoch 48",)),
        ("BatchMismatch", (MODEL, 44), ("epoch 44",)),
    ],
)
def test_decoded_reverts_name_the_epoch(error: str, values: tuple[Any, ...], parts: tuple[str, ...]) -> None:
    exc = compile_contracts().errors.exception(error, values, "submitting the proof")
    assert isinstance(exc, OracleError) and exc.error == error and exc.values == values
    _one_line(exc, error, *parts)


def test_a_replay_names_the_epoch() -> None:
    from zkml.oracle.client import name_replayed_epoch

    pid = prediction_id(MODEL, 48)
    exc = compile_contracts().errors.exception("Replay", (pid,), "submitting the proof")
    named = name_replayed_epoch(exc, MODEL, [47, 48])
    assert isinstance(named, ReplayError) and named.values == (pid,)
    _one_line(named, "epoch 48 is already published")
    # An id of no epoch given: the error is returned as it was.
    assert name_replayed_epoch(exc, MODEL, [47]) is exc


# --------------------------------------------------------------------------- the tooling, before sending


@pytest.mark.parametrize(
    ("epoch", "parts"),
    [
        (53, ("epoch 53 is past the feed's latest epoch 48", "epochs 40..48")),
        (39, ("epoch 39 is more than 8 rounds behind the feed's latest epoch 48", "epochs 40..48")),
        (-1, ("epoch -1 is negative",)),
        (2**80, (f"epoch {2**80} is beyond", "2^80 - 1")),
    ],
)
def test_check_epoch_names_the_epoch_and_the_range(epoch: int, parts: tuple[str, ...]) -> None:
    with pytest.raises(AttestationError) as info:
        check_epoch(epoch, latest=48, max_epoch_lag=8)
    _one_line(info.value, *parts)


def test_check_epoch_accepts_the_range_and_refuses_non_integers() -> None:
    for epoch in (40, 44, 48):
        check_epoch(epoch, latest=48, max_epoch_lag=8)
    check_epoch(48)  # no feed known: only the type and the round-id range
    for bad in NOT_INTEGERS:
        with pytest.raises(AttestationError) as info:
            check_epoch(bad, latest=48, max_epoch_lag=8)
        _one_line(info.value, f"epoch {bad!r} is not an integer")


@pytest.fixture
def feed(conn: Connection, tmp_path: Path) -> str:
    address = deploy_feed(conn, tmp_path).address
    push_prices(conn, address, [100, 101, 102, 103, 104, 105])  # epochs 1..6
    return address


SPEC = ReturnsSpec(window=2, scale=0)


@pytest.mark.parametrize(
    ("epoch", "parts"),
    [
        (9, ("epoch 9 is past the feed's latest epoch 6",)),
        (2, ("epoch 2 has no complete window of 2 returns", "the first epoch with one is 3")),
        (-1, ("epoch -1 is negative",)),
        (2**80, (f"epoch {2**80} is beyond", "2^80 - 1")),
    ],
)
def test_attested_input_names_the_epoch(conn: Connection, feed: str, epoch: int, parts: tuple[str, ...]) -> None:
    with pytest.raises(OracleError) as info:
        attested_input(conn, feed, epoch, SPEC)
    _one_line(info.value, *parts)


def test_attested_input_refuses_non_integer_epochs(conn: Connection, feed: str) -> None:
    for bad in NOT_INTEGERS:
        with pytest.raises(OracleError) as info:
            attested_input(conn, feed, bad, SPEC)
        _one_line(info.value, f"epoch {bad!r} is not an integer")
    assert attested_input(conn, feed, 6, SPEC).epoch == 6


@pytest.mark.parametrize("epoch", [-1, 2**256, 1.5, "48"])
def test_publish_and_read_refuse_a_bad_epoch_before_sending(conn: Connection, tmp_path: Path, epoch: Any) -> None:
    proof = tmp_path / "no_proof.json"  # never read: the epoch is refused first
    for call in (
        lambda: publish(conn, ORACLE, MODEL, proof, epochs=[47, epoch]),
        lambda: read_prediction(conn, ORACLE, MODEL, epoch=epoch),
    ):
        with pytest.raises(ZkmlError) as info:
            call()
        _one_line(info.value, f"epoch {epoch!r}" if not isinstance(epoch, int) else f"epoch {epoch}")
