"""The whole oracle flow on one chain: from a proved workspace to the DeFi consumer acting on it."""

from __future__ import annotations

from typing import Any

from zkml.config import ConsumerConfig
from zkml.errors import OracleError, OracleRevertError
from zkml.evm.records import Deployment
from zkml.evm.rpc import Connection, Sender, resolve_sender
from zkml.oracle.client import Publication, deploy_oracle, publish, read_prediction
from zkml.oracle.compile import compile_contracts
from zkml.oracle.consumer import consumer_act, consumer_state, deploy_consumer
from zkml.oracle.encoding import hex32
from zkml.oracle.registry import Registration, register_workspace, workspace_model

# A re-run on a long-lived chain: the stored prediction may be stale or already acted on.
_EXPECTED_ON_RERUN = ("Stale", "AlreadyApplied")


def demo_flow(
    source: Any,
    conn: Connection,
    *,
    consumer: ConsumerConfig | None = None,
    sender: Sender | None = None,
    verifier: str | None = None,
) -> dict[str, Any]:
    """From a proved, verifier-deployed workspace to the DeFi consumer acting on its prediction.

    Deploys (or reuses) the oracle and a consumer pinned to the model, registers the
    model (idempotent), submits the workspace's proof (when its input was already published
    on this chain, the stored prediction is read instead and ``replayed`` is True), lets the
    consumer rebalance, and reports gas and results. The oracle and consumer are recorded
    in the workspace's deployments record.

    Args:
        source: a :class:`zkml.pipeline.Pipeline` (or a workspace folder) whose proof is
            made and whose plain verifier is deployed on ``conn``.
        conn: the chain.
        consumer: the consumer and its policy (``[consumer]`` of zkml.toml); the defaults when None.
        sender: the account (owner of a newly deployed oracle).
        verifier: the plain verifier address; read from the deployments record when None.

    Returns:
        A JSON-ready dict: addresses, ``model_id``, ``replayed``, ``prediction`` (decoded
        on-chain values), ``gas`` (deploy_oracle, deploy_consumer, register, submit, read,
        act; None for steps that sent nothing), ``consumer`` (the vault's state) and
        ``consumer_note`` when the vault did not act (already applied, or stale).

    Raises:
        OracleError: the workspace has no proof, or the oracle refused a step.
        ChainError: the RPC, account or a transaction failed.
    """
    config = consumer or ConsumerConfig()
    sender = sender or resolve_sender(conn)
    contracts = compile_contracts()
    model = workspace_model(source)
    if not model.proof_path.is_file():
        raise OracleError(f"no proof in {model.root}", hint="run `zkml prove` first")
    oracle = deploy_oracle(conn, model.root, sender=sender, contracts=contracts)
    registration = register_workspace(
        conn, oracle.address, source, verifier=verifier, max_age=config.max_age, sender=sender, contracts=contracts
    )
    vault = deploy_consumer(conn, oracle.address, registration.model_id, model.root, config=config, sender=sender, contracts=contracts)
    publication = publish(
        conn, oracle.address, registration.model_id, model.proof_path, on_replay="read", sender=sender, contracts=contracts
    )
    gas = _sent_gas(oracle, vault, registration, publication)
    prediction = publication.prediction
    note = ""
    try:
        _, gas["read"] = read_prediction(
            conn, oracle.address, registration.model_id, commitment=prediction.input_commitment, contracts=contracts
        )
        state, gas["act"] = consumer_act(conn, vault.address, prediction=prediction.prediction_id, sender=sender, contracts=contracts)
    except OracleRevertError as exc:
        if exc.error not in _EXPECTED_ON_RERUN:
            raise
        note = str(exc)
        state = consumer_state(conn, vault.address, contracts=contracts)
    return {
        "oracle_address": oracle.address,
        "consumer_address": vault.address,
        "model_id": hex32(registration.model_id),
        "registration": registration.as_dict(),
        "replayed": publication.replayed,
        "tx_hash": publication.tx_hash,
        "prediction": prediction.as_dict(),
        "gas": gas,
        "consumer": state.as_dict(),
        "consumer_note": note,
    }


def _sent_gas(oracle: Deployment, vault: Deployment, registration: Registration, publication: Publication) -> dict[str, int | None]:
    """Gas of each step that sent a transaction (None for the steps that reused what was there)."""
    return {
        "deploy_oracle": None if oracle.reused else oracle.gas_used,
        "deploy_consumer": None if vault.reused else vault.gas_used,
        "register": None if registration.reused else registration.gas_used,
        "submit": publication.gas_used,
        "read": None,
        "act": None,
    }


__all__ = ["demo_flow"]
