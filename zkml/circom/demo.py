"""The oracle demo through a circom verifier: what ``zkml run`` does when ``backend = "auto"`` picks Groth16, PLONK or FFLONK.

It is :func:`zkml.oracle.demo.demo_flow` (a fresh feed filled with the ``[feed]`` demo series, its
feature source, the attested registration, the ForecastVault) with :class:`CircomDemo` as its
backend: the model is registered with the circom system's adapter as its verifier
(:func:`zkml.circom.oracle.register_groth16`) and the feed's windows are proved with snarkjs. The
circuit's public signals are the halo2 circuit's instances, so the oracle's input check against
the feature source is the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
    from zkml.circom.measure import CIRCOM_DIR, circuit_source, load_or_compile, load_or_setup_keys

    ws = pipeline.ws
    onnx_path, batch = circuit_source(Path(ws.root))  # a batch workspace: its batch-1 model's batch circuit
    circuit = load_or_compile(onnx_path, Path(ws.settings), Path(ws.root) / CIRCOM_DIR, batch_size=batch)
    keys = load_or_setup_keys(circuit, system)
    contracts = compile_contracts(keys, circuit.public_signals, circuit.folder / f"evm-{system}")
    return circuit, keys, deploy(conn, contracts, keys, circuit.folder / "records", allow_unsafe_srs=allow_unsafe_srs)


@dataclass(frozen=True)
class CircomDemo:
    """A circom system's adapter as the model's verifier, and snarkjs proofs of the feed's windows (a :class:`DemoBackend`)."""

    pipeline: Any
    circuit: Any
    keys: Any
    deployment: Any
    system: str
    allow_unsafe_srs: bool = False

    @property
    def kind(self) -> str:
        return f"{self.system}+adapter"

    def register(self, conn: Any, oracle: str, model: Any, *, feature_source: str, max_epoch_lag: int, sender: Any, contracts: Any) -> Any:
        from zkml.circom.oracle import register_groth16

        return register_groth16(
            conn, oracle, Path(self.pipeline.ws.root), self.keys, self.deployment, feature_source=feature_source,
            max_epoch_lag=max_epoch_lag, max_age=model.max_age, allow_unsafe_srs=self.allow_unsafe_srs, sender=sender,
        )  # fmt: skip

    def prove(
        self, conn: Any, model: Any, feed: str, epochs: list[int], bounds: tuple[tuple[int, int], ...], contracts: Any
    ) -> tuple[Path, list[float]]:
        from zkml.circom.prove import prove
        from zkml.oracle.attest import check_bounds
        from zkml.oracle.multi_feed import epochs_batch

        batch = epochs_batch(conn, feed, epochs, model.returns_spec(), contracts=contracts)
        for item in batch.inputs if bounds else ():
            check_bounds(item.instances, bounds, epoch=item.epoch)
        # The circuit's public inputs are the source's instances themselves: nothing to re-check after proving.
        folder = Path(self.pipeline.ws.root) / ATTESTED_SUBDIR / self.system / batch.name
        proof = prove(self.circuit, self.keys, batch.instances, folder)
        return proof.path, [v for item in batch.inputs for v in item.values]

    def vka_words(self, model: Any) -> None:
        return None


def circom_demo_flow(pipeline: Any, conn: Any, system: str, *, allow_unsafe_srs: bool = False) -> tuple[DemoResult, str]:
    """The oracle demo (:func:`zkml.oracle.demo.demo_flow`) proved with the circom system ``system`` on the workspace's model.

    A batch-B workspace proves the feed's B newest epochs in one proof of the batch circuit.

    Args:
        pipeline: the run's :class:`zkml.pipeline.Pipeline` (workspace and config).
        conn: the chain (the circom verifier and adapter are deployed there, or reused when recorded).
        system: ``groth16``, ``plonk`` or ``fflonk``.

    Returns:
        The demo's result (with the verifier's and adapter's deploy gas) and the adapter's address.

    Raises:
        UnsafeSrsError: development keys on a non-development chain.
        OracleError, ChainError, ProofError: a refused step.
    """
    from zkml.oracle.demo import demo_flow

    circuit, keys, adapter = deploy_chosen(pipeline, conn, system, allow_unsafe_srs=allow_unsafe_srs)
    result = demo_flow(pipeline, conn, backend=CircomDemo(pipeline, circuit, keys, adapter, system, allow_unsafe_srs))
    result["gas"]["deploy_verifier"] = None if adapter.verifier.reused else adapter.verifier.gas_used
    result["gas"]["deploy_adapter"] = None if adapter.adapter.reused else adapter.adapter.gas_used
    return result, adapter.adapter.address


__all__ = ["CircomDemo", "circom_demo_flow", "deploy_chosen"]
