"""Older attested predictions: read back from their batch, which the oracle checks against its commitment."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.errors import OracleRevertError
from zkml.oracle.calls import view
from zkml.oracle.history import StoredBatch, find_batch

from .conftest import Market, World
from .steps import contract, increase_time, oracle_view, publish, push_flat, read, register_attested, set_max_age


def _batch_record(w: World, model_id: bytes, batch: StoredBatch, index: int = 0) -> orc.Prediction:
    (raw,) = view(w.conn, w.contracts, w.contracts.oracle, w.oracle, "batchRecord", model_id, batch.as_abi(), index, doing="reading")
    return orc.Prediction.from_record(raw)


def test_an_older_prediction_reads_from_its_batch(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market)
    latest = push_flat(chain, market, 9)
    assert not oracle_view(chain, "isEpochPublished", reg.model_id, latest - 1)
    first = publish(chain, reg.model_id, market.flat_proof, epochs=[latest - 1])
    second = publish(chain, reg.model_id, market.flat_proof, epochs=[latest])
    assert oracle_view(chain, "isEpochPublished", reg.model_id, latest - 1)
    assert oracle_view(chain, "isEpochPublished", reg.model_id, latest)
    assert not oracle_view(chain, "isEpochPublished", reg.model_id, latest + 1)
    # The newest is in storage; the older one only as its batch's commitment.
    assert read(chain, reg.model_id) == second.prediction
    batch = find_batch(chain.conn, contract(chain), reg.model_id, first.prediction.prediction_id, latest - 1)
    assert batch is not None and batch.tx_hash == first.tx_hash and [e.epoch for e in batch.entries] == [latest - 1]
    assert _batch_record(chain, reg.model_id, batch) == first.prediction
    assert read(chain, reg.model_id, epoch=latest - 1) == first.prediction
    assert orc.prediction_record(chain.conn, chain.oracle, reg.model_id, first.prediction.prediction_id, epoch=latest - 1,
                                 contracts=chain.contracts) == first.prediction  # fmt: skip


def test_a_forged_batch_is_refused(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market)
    latest = push_flat(chain, market, 9)
    pub = publish(chain, reg.model_id, market.flat_proof, epochs=[latest - 1])
    publish(chain, reg.model_id, market.flat_proof, epochs=[latest])
    batch = find_batch(chain.conn, contract(chain), reg.model_id, pub.prediction.prediction_id, latest - 1)
    assert batch is not None
    (entry,) = batch.entries
    forgeries = {
        "another output": dataclasses.replace(entry, values=(entry.values[0] + 1,)),
        "a later expiry (reviving a stale prediction)": dataclasses.replace(entry, expires_at=entry.expires_at + 10**6),
        "a newer data time": dataclasses.replace(entry, data_timestamp=entry.data_timestamp + 1),
        "an epoch never published": dataclasses.replace(entry, epoch=latest + 7),
    }
    for what, forged in forgeries.items():
        fake = dataclasses.replace(batch, entries=(forged,))
        with pytest.raises(OracleRevertError) as info:
            _batch_record(chain, reg.model_id, fake)
        assert info.value.error == "BatchMismatch", what
    # A genuine batch with an extra sample appended, and an index past the batch, are refused too.
    with pytest.raises(OracleRevertError) as info:
        _batch_record(chain, reg.model_id, dataclasses.replace(batch, entries=(entry, entry)))
    assert info.value.error == "BatchMismatch"
    with pytest.raises(OracleRevertError) as info:
        _batch_record(chain, reg.model_id, batch, index=1)
    assert info.value.error == "NoPrediction"


def test_the_checked_batch_reader_applies_expiry(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market)
    latest = push_flat(chain, market, 9)
    pub = publish(chain, reg.model_id, market.flat_proof, epochs=[latest - 1])
    publish(chain, reg.model_id, market.flat_proof, epochs=[latest])
    increase_time(chain, pub.prediction.expires_at - chain.conn.w3.eth.get_block("latest")["timestamp"] + 1)
    with pytest.raises(OracleRevertError) as info:
        read(chain, reg.model_id, epoch=latest - 1)
    assert info.value.error == "Stale"
    # Audits still read it, with no freshness rule.
    assert orc.prediction_record(chain.conn, chain.oracle, reg.model_id, pub.prediction.prediction_id, epoch=latest - 1,
                                 contracts=chain.contracts) == pub.prediction  # fmt: skip


def test_an_unpublished_epoch_is_named_by_the_oracle(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market)
    with pytest.raises(OracleRevertError) as info:
        read(chain, reg.model_id, epoch=market.latest)
    assert info.value.error == "NoPrediction"
    unknown = b"\x77" * 32
    with pytest.raises(OracleRevertError) as info:
        read(chain, unknown, epoch=market.latest)
    assert info.value.error == "UnknownModel"


UINT48_MAX = 2**48 - 1


def test_a_newest_prediction_past_the_packed_slot_is_stored_wide(market: Market, chain: World, mlp: Any) -> None:
    """An expiry past uint48 does not fit the model's packed slot: the newest record goes WIDE and reads back exactly.

    The chain's clock is moved to just below 2^48 s (a real anvil block time; the snapshot
    restores it), so a maxAge of an hour pushes the expiry past uint48 and five minutes does not.
    """
    reg = register_attested(chain, mlp, market, max_age=3600)
    chain.conn.w3.provider.make_request("evm_setNextBlockTimestamp", [UINT48_MAX - 600])
    chain.conn.w3.provider.make_request("evm_mine", [])
    latest = push_flat(chain, market, 12)  # flat for window + 1 rounds behind each of the three epochs
    wide = publish(chain, reg.model_id, market.flat_proof, epochs=[latest - 2])
    assert wide.prediction.expires_at > UINT48_MAX
    assert read(chain, reg.model_id) == wide.prediction
    # A narrow newest replaces it: the reader must not fall back on the WIDE record left behind.
    set_max_age(chain, reg.model_id, 300)
    narrow = publish(chain, reg.model_id, market.flat_proof, epochs=[latest - 1])
    assert narrow.prediction.expires_at <= UINT48_MAX
    assert read(chain, reg.model_id) == narrow.prediction
    assert read(chain, reg.model_id, epoch=latest - 2) == wide.prediction
    # And WIDE again after a narrow one.
    set_max_age(chain, reg.model_id, 3600)
    wide_again = publish(chain, reg.model_id, market.flat_proof, epochs=[latest])
    assert wide_again.prediction.expires_at > UINT48_MAX
    assert read(chain, reg.model_id) == wide_again.prediction
    assert read(chain, reg.model_id, epoch=latest - 1) == narrow.prediction
    assert [read(chain, reg.model_id, epoch=e).expires_at for e in (latest - 2, latest - 1, latest)] == [
        wide.prediction.expires_at, narrow.prediction.expires_at, wide_again.prediction.expires_at]  # fmt: skip
