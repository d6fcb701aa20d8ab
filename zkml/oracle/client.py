"""Deploy the oracle, publish proofs to it, and read predictions back.

``publish`` submits a proof: the oracle verifies it with the model's registered
verifier and stores the decoded outputs under
``predictionId = keccak256(abi.encode(modelId, inputCommitment))``. Readers see
what consumers see (freshness and activity enforced), or the raw history.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import sha256_bytes
from zkml.errors import OracleError, ReplayError
from zkml.evm.deploy import Deployable, deploy_contract
from zkml.evm.onchain import ProofData, read_proof
from zkml.evm.records import Deployment
from zkml.evm.rpc import Connection, Sender, call, estimate_gas, resolve_sender, transact
from zkml.oracle.calls import bind, decode_output, view
from zkml.oracle.compile import ORACLE_CONTRACT, OracleContracts, compile_contracts
from zkml.oracle.encoding import hex32, prediction_id
from zkml.oracle.reverts import HINTS

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
        model_id, prediction_id, input_commitment: the bindings.
        timestamp, block_number: when it was stored (0 if absent).
        scale: fixed-point bits; ``values[i] / 2**scale`` is the real output.
        values: the outputs as signed scaled integers.
        submitter: who published it.
    """

    model_id: bytes
    prediction_id: bytes
    input_commitment: bytes
    timestamp: int
    block_number: int
    scale: int
    submitter: str
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
            "input_commitment": hex32(self.input_commitment),
            "timestamp": self.timestamp,
            "block_number": self.block_number,
            "scale": self.scale,
            "submitter": self.submitter,
            "values": list(self.values),
            "floats": list(self.floats),
        }

    @classmethod
    def from_record(cls, raw: Sequence[Any]) -> Prediction:
        """From the contract's ``Prediction`` struct as eth-abi decodes it."""
        from eth_utils import to_checksum_address

        model_id, commitment, timestamp, block, scale, submitter, values = raw
        return cls(
            bytes(model_id),
            prediction_id(bytes(model_id), bytes(commitment)),
            bytes(commitment),
            int(timestamp),
            int(block),
            int(scale),
            to_checksum_address(submitter),
            tuple(int(v) for v in values),
        )


@dataclass(frozen=True)
class Publication:
    """The result of publishing a proof.

    Attributes:
        prediction: what the oracle holds for this model and input (a batch's last sample).
        gas_used: gas of the submission (None when it was a replay and nothing was sent).
        tx_hash: the submission.
        replayed: the input id was already used on this chain; ``prediction`` is the stored one.
        batch: every prediction the submission stored, in batch order (just ``prediction`` for B=1).
    """

    prediction: Prediction
    gas_used: int | None
    tx_hash: str | None
    replayed: bool = False
    batch: tuple[Prediction, ...] = ()

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
        return data


def submit_calldata(
    contract: Any, model_id: bytes, proof: ProofData, *, instances: Sequence[int] | None = None, vka_words: Sequence[bytes] | None = None
) -> str:
    """ABI-encoded ``submit`` (or ``submitWithVka``) call; ``instances`` overrides the proof's."""
    values = list(proof.instances if instances is None else instances)
    if vka_words is not None:
        return str(contract.encode_abi("submitWithVka", args=[bytes(model_id), proof.proof, values, list(vka_words)]))
    return str(contract.encode_abi("submit", args=[bytes(model_id), proof.proof, values]))


def publish(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    proof_path: Path,
    *,
    vka_words: Sequence[bytes] | None = None,
    on_replay: str = "raise",
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Publication:
    """Submit a proof to the oracle, which verifies it and stores the decoded prediction.

    Args:
        conn: the chain.
        oracle: the oracle address.
        model_id: the registered model.
        proof_path: an ezkl proof file.
        vka_words: the model's VKA words (reusable-verifier models).
        on_replay: ``raise`` a :class:`ReplayError`, or ``read`` the stored prediction
            when a prediction for this model and input already exists.
        sender: the account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        OracleRevertError: the oracle refused it (``VerificationFailed``, ``WrongInstanceCount``,
            ``Replay``, ``UnknownModel``, ``ModelInactive``, ...).
        ProofError: the proof file is unreadable.
    """
    if on_replay not in ("raise", "read"):
        raise OracleError(f"on_replay must be 'raise' or 'read', not {on_replay!r}")
    contracts = contracts or compile_contracts()
    contract = bind(conn, oracle, contracts.oracle)
    data = submit_calldata(contract, model_id, read_proof(proof_path), vka_words=vka_words)
    try:
        receipt = transact(conn, sender or resolve_sender(conn), data, "submitting the proof", to=contract.address, errors=contracts.errors)
    except ReplayError as exc:
        if on_replay == "raise":
            raise
        stored = prediction_record(conn, oracle, bytes(exc.values[0]), contracts=contracts)
        log.info("prediction 0x%s was already published; reading the stored one", stored.prediction_id.hex())
        return Publication(stored, None, None, replayed=True)
    logs = contract.events.PredictionPublished().process_receipt(receipt)
    if not logs:
        raise OracleError(f"the submission {bytes(receipt['transactionHash']).hex()} was mined but published nothing")
    batch = tuple(prediction_record(conn, oracle, bytes(entry["args"]["predictionId"]), contracts=contracts) for entry in logs)
    return Publication(batch[-1], int(receipt["gasUsed"]), "0x" + bytes(receipt["transactionHash"]).hex(), batch=batch)


def prediction_record(conn: Connection, oracle: str, pid: bytes, *, contracts: OracleContracts | None = None) -> Prediction:
    """A stored prediction by id with no freshness or activity rule (history, audits).

    Raises:
        OracleError: nothing is stored under that id.
    """
    contracts = contracts or compile_contracts()
    (record,) = view(conn, contracts, contracts.oracle, oracle, "predictionRecord", bytes(pid), doing="reading the prediction")
    prediction = Prediction.from_record(record)
    if prediction.timestamp == 0:
        raise OracleError(f"no prediction {hex32(pid)} on {oracle}", hint=HINTS["NoPrediction"])
    return prediction


def read_prediction(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    *,
    commitment: bytes | None = None,
    contracts: OracleContracts | None = None,
) -> tuple[Prediction, int]:
    """The latest prediction of a model (or its prediction for ``commitment``), as consumers see it.

    Returns:
        The prediction and the gas ``eth_estimateGas`` gives for the read (it includes the
        21,000 intrinsic gas of a transaction; a contract calling it pays the rest).

    Raises:
        StalePredictionError: older than the model's maxAge.
        OracleRevertError: unknown or retired model (``UnknownModel``, ``ModelInactive``), or nothing published (``NoPrediction``).
    """
    contracts = contracts or compile_contracts()
    contract = bind(conn, oracle, contracts.oracle)
    if commitment is None:
        fn, args = "latestPrediction", [bytes(model_id)]
    else:
        fn, args = "predictionFor", [bytes(model_id), bytes(commitment)]
    data = contract.encode_abi(fn, args=args)
    raw = call(conn, contract.address, data, "reading the prediction", errors=contracts.errors)
    (record,) = decode_output(contracts.oracle, fn, raw)
    gas = estimate_gas(conn, contract.address, data, "estimating the read", errors=contracts.errors)
    return Prediction.from_record(record), gas


__all__ = ["Prediction", "Publication", "deploy_oracle", "prediction_record", "publish", "read_prediction", "submit_calldata"]
