"""Older predictions of attested models: found in the oracle's events, checked by its commitment.

The oracle keeps an attested model's newest prediction in storage and, for each
submitted batch, one commitment (keccak256 over its samples' leaves) instead of
a slot per prediction. To read an older one, a reader finds the batch in the
oracle's logs (the ``PredictionPublished`` event whose predictionId topic is the
prediction's id, then every sample of that batch in the same transaction) and
passes it back to ``predictionFromBatch`` / ``batchRecord``, which recompute the
commitment: a batch altered in any field is refused (``BatchMismatch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from zkml.errors import OracleError
from zkml.evm.rpc import Connection, get_receipt, translate_error
from zkml.oracle.encoding import hex32

if TYPE_CHECKING:
    from web3.contract import Contract
    from web3.types import FilterParams, LogReceipt, TxReceipt


@dataclass(frozen=True)
class BatchEntry:
    """One stored sample of a batch, as its event gives it (the contract's ``BatchEntry``)."""

    epoch: int
    data_timestamp: int
    expires_at: int
    values: tuple[int, ...]

    def as_abi(self) -> tuple[int, int, int, list[int]]:
        return (self.epoch, self.data_timestamp, self.expires_at, list(self.values))


@dataclass(frozen=True)
class StoredBatch:
    """The stored samples of one submission, in the order the commitment covers them."""

    model_id: bytes
    entries: tuple[BatchEntry, ...]
    tx_hash: str

    def as_abi(self) -> list[tuple[int, int, int, list[int]]]:
        return [e.as_abi() for e in self.entries]

    def index_of(self, epoch: int) -> int:
        return next(i for i, e in enumerate(self.entries) if e.epoch == epoch)


def published_log(conn: Connection, contract: Contract, prediction_id: bytes, *, from_block: int = 0) -> LogReceipt | None:
    """The ``PredictionPublished`` log whose predictionId topic is ``prediction_id`` (None: none).

    Raises:
        ChainError: the RPC failed (a provider that caps ``eth_getLogs`` ranges may refuse a search from block 0).
    """
    topics = [contract.events.PredictionPublished.topic, None, hex32(prediction_id)]
    params = {"fromBlock": from_block, "toBlock": "latest", "address": contract.address, "topics": topics}
    try:
        logs = conn.w3.eth.get_logs(cast("FilterParams", params))
    except Exception as exc:
        raise translate_error(conn, exc, f"searching the oracle's logs for prediction {hex32(prediction_id)}") from exc
    return logs[0] if logs else None


def batches_in_receipt(contract: Contract, receipt: TxReceipt, model_id: bytes) -> list[StoredBatch]:
    """Every attested batch of ``model_id`` a mined submission stored, from its events.

    Each ``BatchPublished(modelId, firstEpoch, root, count)`` closes a batch: its samples are
    the ``count`` PredictionPublished events of the model just before it (a transaction that
    submits several batches, through a multicall for instance, yields several).
    """
    from web3.logs import DISCARD

    ours = contract.address.lower()
    published = contract.events.PredictionPublished().process_receipt(receipt, errors=DISCARD)
    closing = contract.events.BatchPublished().process_receipt(receipt, errors=DISCARD)
    events = sorted(
        (e for e in [*published, *closing] if str(e["address"]).lower() == ours and bytes(e["args"]["modelId"]) == bytes(model_id)),
        key=lambda e: int(e["logIndex"]),
    )
    tx_hash = hex32(bytes(receipt["transactionHash"]))
    batches: list[StoredBatch] = []
    pending: list[BatchEntry] = []
    for event in events:
        args = event["args"]
        if event["event"] == "PredictionPublished":
            values = tuple(int(v) for v in args["values"])
            pending.append(BatchEntry(int(args["epoch"]), int(args["dataTimestamp"]), int(args["expiresAt"]), values))
            continue
        count = int(args["count"])
        entries = tuple(pending[-count:]) if count else ()
        if len(entries) != count or (entries and entries[0].epoch != int(args["firstEpoch"])):
            raise OracleError(f"transaction {tx_hash}: a BatchPublished event does not close {count} published samples of its model")
        batches.append(StoredBatch(bytes(model_id), entries, tx_hash))
        pending = []
    return batches


def find_batch(conn: Connection, contract: Contract, model_id: bytes, prediction_id: bytes, epoch: int) -> StoredBatch | None:
    """The stored batch holding the attested prediction ``prediction_id`` (at ``epoch``); None if none was published.

    Callers pass an empty batch to the oracle when this is None, so its own error says why
    (``UnknownModel``, ``ModelInactive``, ``NotAttested`` or ``NoPrediction``).

    Raises:
        OracleError: the prediction's transaction is gone or holds no batch with that epoch.
        ChainError: the RPC failed.
    """
    log = published_log(conn, contract, prediction_id)
    if log is None:
        return None
    tx_hash = hex32(bytes(log["transactionHash"]))
    receipt = get_receipt(conn, tx_hash)
    if receipt is None:
        raise OracleError(f"the transaction {tx_hash} of prediction {hex32(prediction_id)} has no receipt on chain {conn.chain_id}")
    for batch in batches_in_receipt(contract, receipt, model_id):
        if any(e.epoch == epoch for e in batch.entries):
            return batch
    raise OracleError(f"transaction {tx_hash} has no stored batch of model {hex32(model_id)} holding epoch {epoch}")


__all__ = ["BatchEntry", "StoredBatch", "batches_in_receipt", "find_batch", "published_log"]
