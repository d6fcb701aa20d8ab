"""``zkml run``: the pipeline, then the EVM stages, then (only when declared) the DeFi demo.

The core pipeline ends with on-chain verification and knows nothing of the
oracle. A circuit whose ``zkml.toml`` declares a ``[consumer]`` table goes one
step further here: its proof is published to the verified-prediction oracle and
the consumer acts on it (:func:`zkml.oracle.demo.demo_flow`). Any other model
stops after on-chain verification.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from zkml.artifacts import BackendReport, DemoResult, OnchainRun, RunSummary
from zkml.config import CircuitConfig
from zkml.pipeline import EVM_STAGES, STAGES, Pipeline, ProgressCallback

DEMO_STAGE = "oracle"
BACKEND_STAGE = "backend"


def stage_names(config: CircuitConfig, *, chain: bool, choose_backend: bool = True) -> tuple[str, ...]:
    """The stages ``zkml run`` goes through for ``config`` (for a progress display)."""
    names = STAGES + (EVM_STAGES if chain else ())
    names += (BACKEND_STAGE,) if chain and choose_backend and config.backend != "halo2" else ()
    return names + ((DEMO_STAGE,) if chain and config.consumer is not None else ())


def run_onchain(
    pipeline: Pipeline,
    summary: RunSummary,
    *,
    rpc_url: str | None = None,
    allow_unsafe_srs: bool = False,
    reusable_fallback: bool = True,
    choose_backend: bool = True,
) -> None:
    """Verifier, deployment, on-chain verification, and the declared consumer's demo: ``summary.onchain`` and ``summary.demo``.

    With ``[circuit] backend`` other than halo2 (and ``choose_backend``), the backends are then
    measured and the chosen one carries the demo; ``choose_backend=False`` stops at halo2's verification.

    The chain is :func:`zkml.evm.context.chain_context`'s: ``rpc_url``, ``$ZKML_RPC_URL``,
    the ``zkml chain up`` chain, else an anvil started for the duration. A plain verifier over EIP-170 is
    replaced by the reusable verifier with this model's VKA (said in
    ``summary.onchain.fallback_note``) unless ``reusable_fallback`` is
    False, when the deployment is refused with :class:`zkml.errors.ContractTooLargeError`.
    The demo goes through whichever verifier was deployed.
    """
    from zkml.evm.context import chain_context
    from zkml.evm.onchain import decode_instances, read_proof
    from zkml.evm.verifier import choose_verifier_kind

    artifact = pipeline.verifier()
    reusable = choose_verifier_kind(artifact.runtime_bytes, fallback=reusable_fallback) == "reusable"
    fallback: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(chain_context(rpc_url, embedded=True))
        if reusable:
            deployment, registration, vka = pipeline.deploy_reusable(conn, allow_unsafe_srs=allow_unsafe_srs)
            fallback = _fallback(pipeline, artifact.runtime_bytes, vka.digest, registration.gas_used)
            result = pipeline.verify_onchain(conn, deployment.address, vka=vka)
        else:
            deployment = pipeline.deploy(conn, allow_unsafe_srs=allow_unsafe_srs)
            result = pipeline.verify_onchain(conn, deployment.address)
        # The demo proves the feed's window into attested/, so the workspace's proof is still the run's.
        decoded = decode_instances(read_proof(pipeline.ws.proof).instances, pipeline.compile().settings)
        consumer = pipeline.config.consumer
        if result.accepted and choose_backend and pipeline.config.backend != "halo2":
            gas = result.gas_used or result.gas_estimate or 0
            summary.backend = _choose_backend(pipeline, summary, conn, gas, deployment.address, allow_unsafe_srs=allow_unsafe_srs)
        if result.accepted and summary.backend is not None and summary.backend.chosen != "halo2":
            _circom_onchain(pipeline, summary, conn, summary.backend, allow_unsafe_srs=allow_unsafe_srs)
        elif result.accepted and consumer is not None:
            summary.demo = _demo(pipeline, conn, deployment.address, consumer, reusable=reusable)
    summary.timings = list(pipeline.timings)
    summary.onchain = OnchainRun(
        chain_id=deployment.chain_id,
        verifier_address=deployment.address,
        verifier_runtime_bytes=artifact.runtime_bytes,
        deploy_gas=deployment.gas_used,
        deploy_reused=deployment.reused,
        verify_gas=result.gas_used or result.gas_estimate,
        calldata_bytes=result.calldata_bytes,
        accepted=result.accepted,
        outputs=tuple(v for values in decoded.outputs for v in values),
        **fallback,
    )
    if not result.accepted:
        summary.verified = False
        summary.verify_reason = f"rejected on-chain: {result.reason}"


def _choose_backend(
    pipeline: Pipeline, summary: RunSummary, conn: Any, gas: int, verifier: str, *, allow_unsafe_srs: bool
) -> BackendReport:
    """``[circuit] backend`` other than halo2: measure the frontier (or read it from the workspace) and choose."""
    from zkml.circom.auto import choose_for_run

    def choose() -> BackendReport:
        return choose_for_run(pipeline, summary, conn, verify_gas=gas, verifier=verifier, allow_unsafe_srs=allow_unsafe_srs)

    return pipeline.runner.timed(BACKEND_STAGE, choose, reused=lambda report: report.cached)


def _circom_onchain(pipeline: Pipeline, summary: RunSummary, conn: Any, report: BackendReport, *, allow_unsafe_srs: bool) -> None:
    """The chosen circom system from here on: its adapter is the verifier the oracle demo registers and goes through."""
    from dataclasses import replace

    from zkml.circom.demo import circom_demo_flow, deploy_chosen

    if pipeline.config.consumer is None:
        _, _, deployed = deploy_chosen(pipeline, conn, report.chosen, allow_unsafe_srs=allow_unsafe_srs)
        summary.backend = replace(report, verifier_address=deployed.adapter.address)
        return

    def demo() -> DemoResult:
        result, adapter = circom_demo_flow(pipeline, conn, report.chosen, allow_unsafe_srs=allow_unsafe_srs)
        summary.backend = replace(report, verifier_address=adapter)
        return result

    summary.demo = pipeline.runner.timed(DEMO_STAGE, demo)


def _fallback(pipeline: Pipeline, plain_bytes: int, digest: str, register_gas: int | None) -> dict[str, Any]:
    """The reusable path's fields of :class:`OnchainRun`."""
    from zkml.evm.verifier import EIP170_LIMIT

    reusable = pipeline.verifier(reusable=True)
    note = (
        f"the plain verifier is {plain_bytes:,} runtime bytes, over the EIP-170 limit of {EIP170_LIMIT:,}: deployed the reusable "
        f"verifier ({reusable.runtime_bytes:,} bytes) and registered this model's VKA {digest[:18]}…"
    )
    return {
        "verifier_kind": "reusable+vka",
        "fallback_note": note,
        "reusable_verifier_runtime_bytes": reusable.runtime_bytes,
        "vka_digest": digest,
        "vka_register_gas": register_gas,
    }


def _demo(pipeline: Pipeline, conn: Any, verifier: str, consumer: Any, *, reusable: bool) -> DemoResult:
    from zkml.oracle.demo import demo_flow

    # The point of it all: a DeFi contract acting on the verified prediction (through the VKA when reusable);
    # a batch-B workspace proves and publishes its feed's B newest epochs at once.
    return pipeline.runner.timed(DEMO_STAGE, lambda: demo_flow(pipeline, conn, verifier=verifier, consumer=consumer, reusable=reusable))


def run_pipeline(
    pipeline: Pipeline,
    *,
    chain: bool = False,
    rpc_url: str | None = None,
    allow_unsafe_srs: bool = False,
    reusable_fallback: bool = True,
    choose_backend: bool = True,
) -> RunSummary:
    """Every stage to local verification, then, with ``chain`` and a verified proof, the EVM stages (and the declared demo)."""
    summary = pipeline.run()
    summary.extra.update(intake_details(pipeline))
    if chain and summary.verified:
        run_onchain(
            pipeline, summary, rpc_url=rpc_url, allow_unsafe_srs=allow_unsafe_srs, reusable_fallback=reusable_fallback,
            choose_backend=choose_backend,
        )  # fmt: skip
    return summary


def intake_details(pipeline: Pipeline) -> dict[str, Any]:
    """Which evaluator gave the float reference, the export's rewrites, and the proved outputs split per model output."""
    import json

    model = pipeline.export()
    details: dict[str, Any] = {}
    if model.reference_path is not None and model.reference_path.is_file():
        reference = json.loads(model.reference_path.read_text())
        details["reference_evaluator"] = reference.get("evaluator")
        if reference.get("fallback_reason"):
            details["reference_fallback_reason"] = reference["fallback_reason"]
    if model.rewrites:
        details["rewrites"] = list(model.rewrites)
    values = list(pipeline.last_outputs)
    per_output: dict[str, list[float]] = {}
    for spec in model.outputs:
        per_output[spec.name], values = values[: spec.size], values[spec.size :]
    details["outputs_by_name"] = per_output
    return details


def run(
    config: CircuitConfig,
    build_dir: Path = Path("build"),
    *,
    progress: ProgressCallback | None = None,
    allow_dev_srs: bool = True,
    chain: bool = False,
    rpc_url: str | None = None,
    allow_unsafe_srs: bool = False,
    reusable_fallback: bool = True,
    batch_size: int = 1,
) -> RunSummary:
    """Run a circuit end to end in ``build_dir/<name>`` (``build_dir/<name>/batch-B`` for ``batch_size`` B > 1).

    A batched run proves one batch of the circuit's example samples (:func:`zkml.proving.batch_workspace.example_batch`).

    Raises:
        ZkmlError: any stage's failure, with what to do about it.
    """
    from zkml.workspace import Layout, Workspace

    root = Layout(Path(build_dir) / config.name).batch_dir(batch_size)
    pipeline = Pipeline(config, Workspace(root), progress=progress, allow_dev_srs=allow_dev_srs, batch_size=batch_size)
    return run_pipeline(pipeline, chain=chain, rpc_url=rpc_url, allow_unsafe_srs=allow_unsafe_srs, reusable_fallback=reusable_fallback)


__all__ = ["BACKEND_STAGE", "DEMO_STAGE", "intake_details", "run", "run_onchain", "run_pipeline", "stage_names"]
