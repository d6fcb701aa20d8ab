"""Deploy the oracle, publish proofs to it, and read predictions back.

``publish`` submits a proof: the oracle checks its inputs (against the feature
source's data for an attested model, against the registered bounds always),
verifies it with the model's registered verifier and stores the decoded outputs
under ``predictionId = keccak256(abi.encode(modelId, epoch))`` (attested) or
``keccak256(abi.encode(modelId, inputCommitment))`` (unattested). Readers see
what consumers see (expiry and activity enforced), or the raw history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.artifacts import sha256_bytes
from zkml.errors import OracleError, ReplayError
from zkml.evm.deploy import Deployable, deploy_contract
from zkml.evm.onchain import ProofData, read_proof
from zkml.evm.records import Deployment
from zkml.evm.rpc import Connection, Sender, call, estimate_gas, resolve_sender, transact
from zkml.oracle.calls import bind, decode_output, view
from zkml.oracle.compile import ORACLE_CONTRACT, OracleContracts, compile_contracts
from zkml.oracle.encoding import feed_key, hex32, prediction_id
from zkml.oracle.history import StoredBatch, find_batch

if TYPE_CHECKING:
    from web3.contract import Contract
    from web3.types import TxReceipt

log = logging.getLogger(__name__)


def deploy_oracle(
    conn: Connection, record_dir: Path, *, sender: Sender | None = None, contracts: OracleContracts | None = None
) -> Deployment:
    """Deploy the oracle, or reuse the recorded one whose code is on chain.

    Args:
        conn: the chain.
        record_dir: the folder whose deployments record holds it (a workspace).
        sender: the account (it becomes the oracle owner); resolved from the environment when None.
        contracts: compiled contracts (compiled when None).

    Raises:
        OracleRevertError: the deployment reverted.
        ChainError: the RPC, account or transaction failed.
    """
    contracts = contracts or compile_contracts()
    compiled = contracts.oracle
    oracle = Deployable(
        kind="oracle",
        name=ORACLE_CONTRACT,
        creation_code=compiled.bytecode,
        runtime_sha256=sha256_bytes(compiled.deployed_bytecode),
        slot={"name": ORACLE_CONTRACT},
        fields={"compiler": compiled.compiler.as_dict()},
        errors=contracts.errors,
    )
    return deploy_contract(conn, record_dir, oracle, sender=sender)


@dataclass(frozen=True)
class Prediction:
    """A prediction as the oracle stores it.

    Attributes:
        model_id, prediction_id: the bindings (the id is keccak256(modelId, epoch or input commitment)).
        epoch: the data epoch of an attested model's prediction (0: unattested).
        data_timestamp: when its input data was made (attested) or it was stored (unattested).
        expires_at: fixed when it was stored; checked readers refuse it afterwards.
        scale: fixed-point bits; ``values[i] / 2**scale`` is the real output.
        values: the outputs as signed scaled integers.
    """

    model_id: bytes
    prediction_id: bytes
    epoch: int
    data_timestamp: int
    expires_at: int
    scale: int
    values: tuple[int, ...]

    @property
    def floats(self) -> tuple[float, ...]:
        """The outputs as floats (as ``zkml.evm.onchain.decode_instances`` gives them)."""
        return tuple(v / 2.0**self.scale for v in self.values)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "model_id": hex32(self.model_id),
            "prediction_id": hex32(self.prediction_id),
            "epoch": self.epoch,
            "data_timestamp": self.data_timestamp,
            "expires_at": self.expires_at,
            "scale": self.scale,
            "values": list(self.values),
            "floats": list(self.floats),
        }

    @classmethod
    def from_record(cls, raw: Sequence[Any]) -> Prediction:
        """From the contract's ``Prediction`` struct as eth-abi decodes it."""
        model_id, pid, epoch, data_time, expires, scale, values = raw
        return cls(bytes(model_id), bytes(pid), int(epoch), int(data_time), int(expires), int(scale), tuple(int(v) for v in values))


@dataclass(frozen=True)
class Publication:
    """The result of publishing a proof.

    Attributes:
        prediction: the newest prediction the submission stored (or, for a replay, the stored one).
        gas_used: gas of the submission (None when it was a replay and nothing was stored).
        tx_hash: the submission.
        replayed: every sample was already published; ``prediction`` is the stored one.
        batch: every prediction the submission stored, in batch order (just ``prediction`` for B=1).
        skipped: ids of the batch's samples that were already published and were skipped.
    """

    prediction: Prediction
    gas_used: int | None
    tx_hash: str | None
    replayed: bool = False
    batch: tuple[Prediction, ...] = ()
    skipped: tuple[bytes, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        data: dict[str, Any] = {
            "prediction": self.prediction.as_dict(),
            "gas_used": self.gas_used,
            "tx_hash": self.tx_hash,
            "replayed": self.replayed,
        }
        if len(self.batch) > 1:
            data["batch"] = [p.as_dict() for p in self.batch]
        if self.skipped:
            data["skipped"] = [hex32(pid) for pid in self.skipped]
        return data


def submit_calldata(
    contract: Contract,
    model_id: bytes,
    proof: ProofData,
    *,
    instances: Sequence[int] | None = None,
    vka_words: Sequence[bytes] | None = None,
    epochs: Sequence[int] | None = None,
) -> str:
    """ABI-encoded ``submit``/``submitWithVka`` (or, with ``epochs``, the attested variants); ``instances`` overrides the proof's."""
    values = list(proof.instances if instances is None else instances)
    head: list[Any] = [bytes(model_id)] + ([[int(e) for e in epochs]] if epochs is not None else [])
    name = "submitAttested" if epochs is not None else "submit"
    if vka_words is not None:
        return str(contract.encode_abi(name + "WithVka", args=[*head, proof.proof, values, list(vka_words)]))
    return str(contract.encode_abi(name, args=[*head, proof.proof, values]))


def publish(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    proof_path: Path,
    *,
    epochs: Sequence[int] | None = None,
    vka_words: Sequence[bytes] | None = None,
    on_replay: str = "raise",
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
    on_sent: Callable[[str], None] | None = None,
) -> Publication:
    """Submit a proof to the oracle, which verifies it and stores the decoded prediction(s).

    Args:
        conn: the chain.
        oracle: the oracle address.
        model_id: the registered model.
        proof_path: an ezkl proof file.
        epochs: the data epoch of each sample (attested models; increasing).
        vka_words: the model's VKA words (reusable-verifier models).
        on_replay: ``raise`` a :class:`ReplayError`, or ``read`` the stored prediction
            when every sample is already published.
        sender: the account; resolved from the environment when None.
        contracts: compiled contracts.
        on_sent: called with the transaction hash before the transaction is sent (with a local key;
            see :func:`zkml.evm.rpc.send_transaction`): the service records it there, and an
            exception raised there stops the send.

    Raises:
        OracleRevertError: the oracle refused it (``VerificationFailed``, ``InputNotAttested``,
            ``InputOutOfRange``, ``EpochTooOld``, ``Replay``, ``UnknownModel``, ...).
        ProofError: the proof file is unreadable.
    """
    if on_replay not in ("raise", "read"):
        raise OracleError(f"on_replay must be 'raise' or 'read', not {on_replay!r}")
    for epoch in epochs or ():
        _check_epoch(epoch)
    contracts = contracts or compile_contracts()
    contract = bind(conn, oracle, contracts.oracle)
    data = submit_calldata(contract, model_id, read_proof(proof_path), vka_words=vka_words, epochs=epochs)
    doing = "submitting the proof" + (f" for epoch{'s' if len(epochs) > 1 else ''} {', '.join(map(str, epochs))}" if epochs else "")
    try:
        receipt = transact(conn, sender or resolve_sender(conn), data, doing, to=contract.address, errors=contracts.errors, on_sent=on_sent)
    except ReplayError as exc:
        if on_replay == "raise":
            raise name_replayed_epoch(exc, model_id, epochs or ()) from None
        pid = bytes(exc.values[0])
        epoch = next((e for e in (epochs or ()) if prediction_id(model_id, int(e)) == pid), 0)
        if epochs and not epoch:  # a multi-feed sample's id: read per feed (`read_feed_prediction`)
            raise name_replayed_epoch(exc, model_id, epochs) from None
        stored = prediction_record(conn, oracle, model_id, pid, epoch=epoch, contracts=contracts)
        log.info("prediction %s was already published; reading the stored one", hex32(pid))
        return Publication(stored, None, None, replayed=True)
    return publication_from_receipt(conn, oracle, model_id, receipt, contracts=contracts)


def _check_epoch(epoch: object) -> None:
    """Refuse what is no epoch at all (not an integer, negative, beyond uint256) before anything is sent."""
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise OracleError(f"epoch {epoch!r} is not an integer", hint="an epoch is a feed round id")
    if not 0 <= epoch < 2**256:
        raise OracleError(f"epoch {epoch} is {'negative' if epoch < 0 else 'beyond uint256'}", hint="an epoch is a feed round id")


def name_replayed_epoch(exc: ReplayError, model_id: bytes, epochs: Sequence[int]) -> ReplayError:
    """``exc`` (a ``Replay(predictionId)`` revert) with the epoch it is about named, when it is one of ``epochs``."""
    pid = bytes(exc.values[0]) if exc.values else b""
    epoch = next((int(e) for e in epochs if prediction_id(model_id, int(e)) == pid), None)
    feed = next((k for k, e in enumerate(epochs) if prediction_id(feed_key(model_id, k), int(e)) == pid), None) if epochs else None
    if epoch is None and feed is not None:
        hint = f"feed {feed} is already published at epoch {epochs[feed]}: read it with `zkml oracle read --index {feed}`"
        return ReplayError(exc.error, exc.values, f"submitting the proof for epoch {epochs[feed]}", hint=hint)
    if epoch is None:
        return exc
    hint = f"epoch {epoch} is already published for this model: read it with `zkml oracle read --epoch {epoch}`"
    return ReplayError(exc.error, exc.values, f"submitting the proof for epoch {epoch}", hint=hint)


def publication_from_receipt(
    conn: Connection, oracle: str, model_id: bytes, receipt: TxReceipt, *, contracts: OracleContracts | None = None
) -> Publication:
    """The predictions a mined submission stored, decoded from its receipt's events exactly as
    :func:`publish` does (for callers that send the transaction themselves, such as the service,
    which records the hash before sending).

    Raises:
        OracleError: the submission published nothing on this oracle.
    """
    contracts = contracts or compile_contracts()
    contract = bind(conn, oracle, contracts.oracle)
    return _publication(contract, receipt, scale=_model_scale(conn, oracle, model_id, contracts))


def _model_scale(conn: Connection, oracle: str, model_id: bytes, contracts: OracleContracts) -> int:
    from zkml.oracle.registry import CONFIG_FIELDS

    config, *_ = view(conn, contracts, contracts.oracle, oracle, "models", bytes(model_id), doing="reading the model")
    return int(config[CONFIG_FIELDS.index("scale")])


def _publication(contract: Contract, receipt: TxReceipt, *, scale: int) -> Publication:
    """The predictions a mined submission stored (from its events: no second read)."""
    from web3.logs import DISCARD

    # DISCARD: each event type skips the other's logs quietly (web3 warns on them otherwise).
    published = contract.events.PredictionPublished().process_receipt(receipt, errors=DISCARD)
    skipped = contract.events.PredictionSkipped().process_receipt(receipt, errors=DISCARD)
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    if not published:
        raise OracleError(f"the submission {tx_hash} was mined but published nothing")
    batch = tuple(
        Prediction(
            bytes(e["args"]["modelId"]),
            bytes(e["args"]["predictionId"]),
            int(e["args"]["epoch"]),
            int(e["args"]["dataTimestamp"]),
            int(e["args"]["expiresAt"]),
            scale,
            tuple(int(v) for v in e["args"]["values"]),
        )
        for e in published
    )
    newest = max(batch, key=lambda p: p.epoch) if batch[-1].epoch else batch[-1]
    return Publication(
        newest, int(receipt["gasUsed"]), tx_hash, batch=batch, skipped=tuple(bytes(e["args"]["predictionId"]) for e in skipped)
    )


def _batch_args(batch: StoredBatch | None, epoch: int) -> list[Any]:
    """The (batch, index) arguments of the oracle's batch readers; an empty batch when none was
    published, which the oracle refuses with the reason (unknown, retired, unattested, none)."""
    return [[], 0] if batch is None else [batch.as_abi(), batch.index_of(epoch)]


def prediction_record(
    conn: Connection, oracle: str, model_id: bytes, pid: bytes, *, epoch: int = 0, contracts: OracleContracts | None = None
) -> Prediction:
    """A stored prediction by id with no freshness or activity rule (history, audits).

    An attested model's prediction (``epoch`` > 0) is read from its batch: found in the
    oracle's events and checked by the oracle against the batch's stored commitment.

    Args:
        epoch: the prediction's data epoch (attested models); 0 for unattested models.

    Raises:
        OracleError: nothing is stored under that id for that model.
        OracleRevertError: the oracle refused the batch (``BatchMismatch``) or the model is unknown.
    """
    contracts = contracts or compile_contracts()
    if epoch:
        batch = find_batch(conn, bind(conn, oracle, contracts.oracle), model_id, pid, epoch)
        args: list[Any] = [bytes(model_id), *_batch_args(batch, epoch)]
        (record,) = view(conn, contracts, contracts.oracle, oracle, "batchRecord", *args, doing="reading the prediction")
        return Prediction.from_record(record)
    (record,) = view(
        conn, contracts, contracts.oracle, oracle, "predictionRecord", bytes(model_id), bytes(pid), 0, doing="reading the prediction"
    )
    return Prediction.from_record(record)


def read_prediction(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    *,
    epoch: int | None = None,
    commitment: bytes | None = None,
    contracts: OracleContracts | None = None,
) -> tuple[Prediction, int]:
    """The latest prediction of a model (or its prediction at ``epoch`` / for ``commitment``), as consumers see it.

    A prediction at an ``epoch`` comes from its batch (found in the oracle's events, checked
    on chain against the stored commitment by ``predictionFromBatch``).

    Returns:
        The prediction and the gas ``eth_estimateGas`` gives for the read (it includes the
        21,000 intrinsic gas of a transaction; a contract calling it pays the rest).

    Raises:
        StalePredictionError: past its expiry.
        OracleError: nothing published at that epoch.
        OracleRevertError: unknown or retired model (``UnknownModel``, ``ModelInactive``), nothing
            published (``NoPrediction``), or the wrong reader for the model's mode.
    """
    if epoch is not None:
        _check_epoch(epoch)
    contracts = contracts or compile_contracts()
    contract = bind(conn, oracle, contracts.oracle)
    args: list[Any]
    if epoch is not None:
        batch = find_batch(conn, contract, model_id, prediction_id(model_id, int(epoch)), int(epoch))
        fn, args = "predictionFromBatch", [bytes(model_id), *_batch_args(batch, int(epoch))]
    elif commitment is not None:
        fn, args = "predictionFor", [bytes(model_id), bytes(commitment)]
    else:
        fn, args = "latestPrediction", [bytes(model_id)]
    data = contract.encode_abi(fn, args=args)
    doing = "reading the prediction" + (f" at epoch {epoch}" if epoch is not None else "")
    raw = call(conn, contract.address, data, doing, errors=contracts.errors)
    (record,) = decode_output(contracts.oracle, fn, raw)
    gas = estimate_gas(conn, contract.address, data, "estimating the read", errors=contracts.errors)
    return Prediction.from_record(record), gas


__all__ = [
    "Prediction",
    "Publication",
    "deploy_oracle",
    "name_replayed_epoch",
    "prediction_record",
    "publication_from_receipt",
    "publish",
    "read_prediction",
    "submit_calldata",
]
