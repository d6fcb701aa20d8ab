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
        if result.accepted and choose_backend and pipeline.config.backend != "halo2" and pipeline.batch_size == 1:
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

    # The point of it all: a DeFi contract acting on the verified prediction (through the VKA when reusable).
    def demo() -> DemoResult:
        if pipeline.batch_size > 1:
            return batched_demo(pipeline, conn, verifier=verifier, consumer=consumer, reusable=reusable)
        return demo_flow(pipeline, conn, verifier=verifier, consumer=consumer, reusable=reusable)

    return pipeline.runner.timed(DEMO_STAGE, demo)


def batched_demo(pipeline: Pipeline, conn: Any, *, verifier: str, consumer: Any, reusable: bool = False) -> DemoResult:
    """The oracle demo for a batch-B workspace: one proof over the demo feed's latest B epochs, published at once.

    As :func:`zkml.oracle.demo.demo_flow` (a fresh feed filled with the ``[feed]`` demo series,
    its feature source, the attested registration, the vault), except that the model is proved
    on B consecutive epochs' windows and registered with ``max_epoch_lag`` at least B - 1 (the
    oracle bounds every sample's epoch by the source's latest); the vault acts on the newest.

    Raises:
        AttestationError: a window outside the registered bounds, or proved inputs that differ from the source's.
        OracleError, ChainError: a refused step.
    """
    from dataclasses import replace

    from zkml.evm.rpc import resolve_sender
    from zkml.oracle.attest import ATTESTED_DIR, check_bounds, proof_inputs
    from zkml.oracle.client import deploy_oracle, publish, read_prediction
    from zkml.oracle.compile import compile_contracts
    from zkml.oracle.consumer import consumer_act, deploy_consumer
    from zkml.oracle.demo import demo_prices, fill_demo_feed
    from zkml.oracle.feed import attested_input, deploy_source, latest_epoch
    from zkml.oracle.oracle_model import OracleModel
    from zkml.oracle.registry import register_workspace, workspace_vka
    from zkml.proving.warm import ProverSpec, WarmProver
    from zkml.workspace import write_json_atomic

    b, model, sender, contracts = pipeline.batch_size, OracleModel.of(pipeline), resolve_sender(conn), compile_contracts()
    spec = model.returns_spec()
    feed = replace(model.feed, demo_rounds=max(model.feed.demo_rounds, b + spec.window + 1))
    oracle = deploy_oracle(conn, model.root, sender=sender, contracts=contracts)
    price_feed, push_gas = fill_demo_feed(conn, model.root, demo_prices(pipeline, feed), feed, sender=sender, contracts=contracts)
    source = deploy_source(conn, model.root, price_feed.address, spec, sender=sender, contracts=contracts)
    registration = register_workspace(
        conn, oracle.address, pipeline, verifier=verifier, feature_source=source.address, max_epoch_lag=max(model.max_epoch_lag, b - 1),
        max_age=model.max_age, reusable=reusable, sender=sender, contracts=contracts,
    )  # fmt: skip
    vault = deploy_consumer(conn, oracle.address, registration.model_id, model.root, config=consumer, sender=sender, contracts=contracts)
    top = latest_epoch(conn, price_feed.address, contracts=contracts)
    epochs = list(range(top - b + 1, top + 1))
    windows = [attested_input(conn, price_feed.address, epoch, spec, contracts=contracts) for epoch in epochs]
    for window in windows:
        check_bounds(window.instances, registration.bounds, epoch=window.epoch)
    folder, name = model.root / ATTESTED_DIR, f"epochs-{epochs[0]}-{epochs[-1]}"
    write_json_atomic(folder / f"{name}.input.json", {"input_data": [[v for w in windows for v in w.values]]})
    proof = WarmProver(ProverSpec.from_pipeline(pipeline), folder).prove(folder / f"{name}.input.json", name=name).proof
    if tuple(proof_inputs(proof.path, model.spec)) != tuple(v for w in windows for v in w.instances):
        from zkml.errors import AttestationError

        raise AttestationError(f"the batch proof's inputs differ from the source's at epochs {epochs[0]}..{epochs[-1]}")
    words = workspace_vka(model.root).words if reusable else None
    publication = publish(
        conn, oracle.address, registration.model_id, proof.path, epochs=epochs, on_replay="read", vka_words=words,
        sender=sender, contracts=contracts,
    )  # fmt: skip
    _, read_gas = read_prediction(conn, oracle.address, registration.model_id, epoch=top, contracts=contracts)
    state, act_gas = consumer_act(conn, vault.address, sender=sender, contracts=contracts)
    sent = {"deploy_oracle": oracle, "deploy_feed": price_feed, "deploy_source": source, "deploy_consumer": vault}
    gas = {key: None if d.reused else d.gas_used for key, d in sent.items()}
    gas |= {"push_rounds": push_gas, "register": None if registration.reused else registration.gas_used}
    gas |= {"submit": publication.gas_used, "submit_per_prediction": (publication.gas_used or 0) // b, "read": read_gas, "act": act_gas}
    return {
        "oracle_address": oracle.address, "feed_address": price_feed.address, "source_address": source.address,
        "consumer_address": vault.address, "model_id": "0x" + registration.model_id.hex(), "epoch": top,
        "input": [v for w in windows for v in w.values], "proof": str(proof.path),
        "verifier_kind": "reusable+vka" if reusable else "plain", "registration": registration.as_dict(),
        "replayed": publication.replayed, "tx_hash": publication.tx_hash, "prediction": publication.prediction.as_dict(),
        "gas": gas, "consumer": state.as_dict(), "consumer_note": "",
    }  # fmt: skip


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


__all__ = ["BACKEND_STAGE", "DEMO_STAGE", "batched_demo", "intake_details", "run", "run_onchain", "run_pipeline", "stage_names"]
