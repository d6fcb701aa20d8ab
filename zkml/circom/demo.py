"""The oracle demo through a circom verifier: what ``zkml run`` does when ``backend = "auto"`` picks Groth16, PLONK or FFLONK.

As :func:`zkml.oracle.demo.demo_flow` (a fresh feed filled with the ``[feed]`` demo series, its
feature source, the attested registration, the ForecastVault), except that the model is
registered with the circom system's adapter as its verifier (:func:`zkml.circom.oracle.register_groth16`)
and the feed's window is proved with snarkjs. The circuit's public signals are the halo2 circuit's
instances, so the oracle's input check against the feature source is the same.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from zkml.artifacts import DemoResult

log = logging.getLogger(__name__)

ATTESTED_SUBDIR = "attested"


def deploy_chosen(pipeline: Any, conn: Any, system: str, *, allow_unsafe_srs: bool = False) -> tuple[Any, Any, Any]:
    """The workspace's circom circuit, its ``system`` keys (both reused when current) and its verifier + adapter on ``conn``.

    Returns:
        (:class:`zkml.circom.build.CircomCircuit`, :class:`zkml.circom.build.SnarkKeys`,
        :class:`zkml.circom.evm.Groth16Deployment`).
    """
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.circom.measure import CIRCOM_DIR, load_or_compile, load_or_setup_keys

    ws = pipeline.ws
    circuit = load_or_compile(Path(ws.onnx), Path(ws.settings), Path(ws.root) / CIRCOM_DIR)
    keys = load_or_setup_keys(circuit, system)
    contracts = compile_contracts(keys, circuit.public_signals, circuit.folder / f"evm-{system}")
    return circuit, keys, deploy(conn, contracts, keys, circuit.folder / "records", allow_unsafe_srs=allow_unsafe_srs)


def circom_demo_flow(pipeline: Any, conn: Any, system: str, *, allow_unsafe_srs: bool = False) -> tuple[DemoResult, str]:
    """The oracle demo proved with the circom system ``system`` on the halo2 workspace's model.

    Args:
        pipeline: the run's :class:`zkml.pipeline.Pipeline` (workspace and config).
        conn: the chain (the circom verifier and adapter are deployed there, or reused when recorded).
        system: ``groth16``, ``plonk`` or ``fflonk``.

    Returns:
        The demo's result (as :func:`zkml.oracle.demo.demo_flow`'s) and the adapter's address.

    Raises:
        UnsafeSrsError: development keys on a non-development chain.
        OracleError, ChainError, ProofError: a refused step.
    """
    from zkml.circom.oracle import register_groth16
    from zkml.circom.prove import prove
    from zkml.evm.rpc import resolve_sender
    from zkml.oracle.client import deploy_oracle, publish
    from zkml.oracle.compile import compile_contracts
    from zkml.oracle.consumer import deploy_consumer
    from zkml.oracle.demo import demo_prices, fill_demo_feed, read_and_act
    from zkml.oracle.feed import attested_input, deploy_source, latest_epoch
    from zkml.oracle.oracle_model import OracleModel

    ws, model = pipeline.ws, OracleModel.of(pipeline)
    circuit, keys, adapter = deploy_chosen(pipeline, conn, system, allow_unsafe_srs=allow_unsafe_srs)
    sender, contracts = resolve_sender(conn), compile_contracts()
    oracle = deploy_oracle(conn, model.root, sender=sender, contracts=contracts)
    price_feed, push_gas = fill_demo_feed(
        conn, model.root, demo_prices(pipeline, model.feed), model.feed, sender=sender, contracts=contracts
    )
    source = deploy_source(conn, model.root, price_feed.address, model.returns_spec(), sender=sender, contracts=contracts)
    registration = register_groth16(
        conn, oracle.address, Path(ws.root), keys, adapter, feature_source=source.address, max_epoch_lag=model.max_epoch_lag,
        max_age=model.max_age, allow_unsafe_srs=allow_unsafe_srs, sender=sender,
    )  # fmt: skip
    vault = deploy_consumer(
        conn, oracle.address, registration.model_id, model.root, config=model.consumer, sender=sender, contracts=contracts
    )
    epoch = latest_epoch(conn, price_feed.address, contracts=contracts)
    window = attested_input(conn, price_feed.address, epoch, model.returns_spec(), contracts=contracts)
    proof = prove(circuit, keys, window.instances, Path(ws.root) / ATTESTED_SUBDIR / system)
    publication = publish(
        conn, oracle.address, registration.model_id, proof.path, epochs=[epoch], on_replay="read", sender=sender, contracts=contracts
    )
    gas: dict[str, int | None] = {
        "deploy_oracle": None if oracle.reused else oracle.gas_used,
        "deploy_feed": price_feed.gas_used,
        "push_rounds": push_gas,
        "deploy_source": None if source.reused else source.gas_used,
        "deploy_consumer": None if vault.reused else vault.gas_used,
        "deploy_verifier": None if adapter.verifier.reused else adapter.verifier.gas_used,
        "deploy_adapter": None if adapter.adapter.reused else adapter.adapter.gas_used,
        "register": None if registration.reused else registration.gas_used,
        "submit": publication.gas_used,
    }
    state, note = read_and_act(conn, oracle.address, registration.model_id, vault.address, epoch, gas, sender=sender, contracts=contracts)
    result: DemoResult = {
        "oracle_address": oracle.address, "feed_address": price_feed.address, "source_address": source.address,
        "consumer_address": vault.address, "model_id": "0x" + registration.model_id.hex(), "epoch": epoch,
        "input": list(window.values), "proof": str(proof.path), "verifier_kind": f"{system}+adapter",
        "registration": registration.as_dict(), "replayed": publication.replayed, "tx_hash": publication.tx_hash,
        "prediction": publication.prediction.as_dict(), "gas": gas, "consumer": state.as_dict(), "consumer_note": note,
    }  # fmt: skip
    return result, adapter.adapter.address
