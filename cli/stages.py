"""The stage commands: ``run`` (the whole flow) and one command per pipeline stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from zkml_cli.options import PATH, Target, circuit_target, json_file, unsafe_srs_flag, write_json_output

from zkml.config import BACKENDS
from zkml.evm.context import RPC_URL_ENV

_no_dev_srs = click.option("--no-dev-srs", is_flag=True, help="Refuse the insecure development SRS; require an imported one.")


@click.command("run")
@circuit_target(batched=True)
@json_file
@_no_dev_srs
@click.option("--no-chain", is_flag=True, help="Stop after local verification (skip verifier, deploy, on-chain verify).")
@click.option(
    "--rpc-url",
    default=None,
    help=f"EVM JSON-RPC endpoint (default: ${RPC_URL_ENV}, else `zkml chain up`'s chain, else an embedded anvil).",
)
@unsafe_srs_flag
@click.option(
    "--no-reusable-fallback",
    is_flag=True,
    help="Refuse a plain verifier over EIP-170 instead of deploying the reusable verifier with this model's VKA.",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default=None,
    help="The proof backend on chain, over [circuit] backend: halo2, a circom system, or auto (measured, then chosen).",
)
@click.pass_context
def run_cmd(
    ctx: click.Context,
    target: Target,
    json_path: Path | None,
    no_dev_srs: bool,
    no_chain: bool,
    rpc_url: str | None,
    allow_unsafe_srs: bool,
    no_reusable_fallback: bool,
    backend: str | None,
) -> None:
    """Run the whole flow on TARGET: export ... prove, verify locally, then verifier, deploy, verify on-chain.

    A circuit whose zkml.toml declares a [consumer] then publishes the proof to the
    verified-prediction oracle and lets the consumer act. Ends with a summary table;
    exit code 1 when the proof is not accepted.
    """
    from zkml_cli.display import StageProgress, format_summary

    from zkml.flow import run_pipeline, stage_names

    # --backend halo2 only skips the choice on chain: the workspace keeps the calibration its zkml.toml
    # asks for (a circuit bound for circom rebases after every product), so nothing is remade.
    choose = backend != "halo2"
    if backend is not None and choose:
        from dataclasses import replace

        target = replace(target, config=replace(target.config, backend=backend))
    progress = StageProgress(len(stage_names(target.config, chain=not no_chain, choose_backend=choose)))
    try:
        pipeline = target.pipeline(progress=progress, allow_dev_srs=not no_dev_srs)
        summary = run_pipeline(
            pipeline,
            chain=not no_chain,
            rpc_url=rpc_url,
            allow_unsafe_srs=allow_unsafe_srs,
            reusable_fallback=not no_reusable_fallback,
            choose_backend=choose,
        )
    finally:
        progress.close()
    payload = summary.as_dict()
    if not write_json_output(payload, json_path):
        click.echo(format_summary(payload))
        for line in _intake_lines(payload):
            click.echo(line)
    if not summary.verified:
        ctx.exit(1)


def _intake_lines(payload: dict[str, Any]) -> list[str]:
    """What the summary table does not show: the float evaluator, export rewrites, per-output values, a verifier fallback."""
    lines = []
    evaluator = payload.get("reference_evaluator")
    if evaluator:
        why = payload.get("reference_fallback_reason")
        lines.append(f"  float ref      {evaluator}" + (f" (onnxruntime refused the graph: {why})" if why else ""))
    lines += _rewrite_lines(payload.get("rewrites") or ())
    by_name = payload.get("outputs_by_name") or {}
    if len(by_name) > 1:
        for name, values in by_name.items():
            label = f"output {name}"
            lines.append(f"  {label:<14} {', '.join(f'{v:.6g}' for v in values[:10])}")
    if payload.get("backend"):
        lines.append(f"  backend        {payload['backend']['reason']}")
    if payload.get("verifier_fallback"):
        lines.append(f"  verifier kind  reusable + VKA: {payload['verifier_fallback']}")
    if payload.get("batch_size"):
        taken = payload.get("batch_samples") or {}
        sources = ", ".join(f"{count} from {source}" for source, count in taken.items())
        note = "; the padding repeats the first sample: not predictions" if taken.get("padding") else ""
        lines.append(f"  batch          {payload['batch_size']} samples per proof ({sources}{note})")
    return lines


def _rewrite_lines(notes: Any) -> list[str]:
    """One line per export rewrite; what folding removed under its own label."""
    from zkml.rewrite.fold import NOTE_PREFIX

    return [
        f"  folded         {note.removeprefix(NOTE_PREFIX)}" if note.startswith(NOTE_PREFIX) else f"  rewritten      {note}"
        for note in notes
    ]


@click.command("export")
@circuit_target(batched=True)
@click.option("-o", "--out", type=PATH, help="Also copy the ONNX model here.")
def export_cmd(target: Target, out: Path | None) -> None:
    """Export TARGET to a checked ONNX model and keep float reference outputs."""
    model = target.pipeline().export()
    if out is not None:
        from zkml.workspace import write_bytes_atomic

        write_bytes_atomic(out, model.path.read_bytes())
    click.echo(f"exported {model.path} (opset {model.opset}, sha256 {model.sha256[:16]}…)")
    for spec in model.inputs:
        click.echo(f"  input  {spec.name}: {list(spec.shape)} {spec.dtype}")
    for spec in model.outputs:
        click.echo(f"  output {spec.name}: {list(spec.shape)} {spec.dtype}")
    for line in _rewrite_lines(model.rewrites):
        click.echo(line)
    if model.reference_path:
        click.echo(f"  float reference outputs: {model.reference_path}")


@click.command("preflight")
@circuit_target(required=False, batched=True)
@click.option("--list-ops", is_flag=True, help="List the ops zkml knows ezkl can compile, and with which conditions.")
def preflight_cmd(target: Target | None, list_ops: bool) -> None:
    """List every op in TARGET's graph and name the nodes the circuit compiler cannot handle."""
    from zkml import preflight as pf

    if list_ops:
        click.echo("supported: " + ", ".join(sorted(pf.SUPPORTED_OPS)))
        for op, condition in sorted(pf.CONDITIONAL_OPS.items()):
            click.echo(f"conditional: {op}: {condition}")
        for op, reason in sorted(pf.UNSUPPORTED_OPS.items()):
            click.echo(f"unsupported: {op}: {reason}")
        return
    if target is None:
        raise click.UsageError("give a TARGET or --list-ops")
    pipeline = target.pipeline()
    model = pipeline.export()
    report = pf.preflight(model, strict=False)
    for op, count in report.op_counts.items():
        click.echo(f"  {op:<24}{count:>4}")
    for name, op, condition in report.conditional:
        click.echo(f"  note: {name} ({op}): {condition}")
    click.echo(_circom_line(Path(pipeline.ws.root), pipeline.ws.settings))
    if not report.ok:
        pf.preflight(model)  # raises the one-line error
    click.echo(f"ok: all {sum(report.op_counts.values())} nodes can be compiled")


def _circom_line(workspace: Path, settings: Path) -> str:
    """The second backend's verdict (Groth16, PLONK, FFLONK through circom), at the calibrated scales when there are some.

    A batch workspace's circom circuit is its batch-1 model, B times: the verdict is that model's, per sample.
    """
    from zkml.circom.graph import ScaleSettings
    from zkml.circom.measure import circuit_source
    from zkml.circom.support import groth16_verdict
    from zkml.errors import CircuitError

    head = "  circom backend (groth16, plonk, fflonk): "
    try:
        onnx_path, batch = circuit_source(workspace)
    except CircuitError as exc:
        return head + f"no: {exc.message}"
    scales = ScaleSettings.read(settings) if settings.exists() else ScaleSettings(13, 13)
    verdict = groth16_verdict(onnx_path, scales)
    per_sample = f" per sample; the batch circuit is {batch} copies" if batch > 1 and verdict.ok else ""
    return head + verdict.line().split(": ", 1)[1] + per_sample


@click.command("calibrate")
@circuit_target(batched=True)
def calibrate_cmd(target: Target) -> None:
    """Generate and calibrate circuit settings for TARGET."""
    settings = target.pipeline().calibrate()
    click.echo(
        f"settings {settings.path}: logrows {settings.logrows}, input scales {list(settings.input_scales)}, param scale {settings.param_scale}"
    )
    click.echo(f"  visibility: input {settings.input_visibility}, params {settings.param_visibility}, output {settings.output_visibility}")


@click.command("compile")
@circuit_target(batched=True)
def compile_cmd(target: Target) -> None:
    """Compile TARGET's circuit and report its fidelity against the float model."""
    circuit = target.pipeline().compile()
    click.echo(f"compiled {circuit.path} (logrows {circuit.settings.logrows})")
    fidelity = circuit.settings.fidelity
    if fidelity:
        agreement = f", argmax agreement {fidelity.argmax_agreement:.1%}" if fidelity.argmax_agreement is not None else ""
        click.echo(
            f"  fidelity on {fidelity.samples} samples: max abs error {fidelity.max_abs_error:.4g}, mean {fidelity.mean_abs_error:.4g}{agreement}"
        )


@click.command("setup")
@circuit_target(batched=True)
@_no_dev_srs
def setup_cmd(target: Target, no_dev_srs: bool) -> None:
    """Make (or reuse) the proving and verifying keys for TARGET."""
    pipeline = target.pipeline(allow_dev_srs=not no_dev_srs)
    keys = pipeline.keys()
    reused = any(t.stage == "keys" and t.reused for t in pipeline.timings)
    click.echo(
        f"keys {keys.pk_path} ({keys.pk_path.stat().st_size:,} bytes), {keys.vk_path} ({keys.vk_path.stat().st_size:,} bytes){' — reused' if reused else ''}"
    )


@click.command("prove")
@circuit_target(batched=True)
@click.option(
    "--inputs",
    "many_inputs",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Many inputs: a folder of JSON files, a .jsonl, or a multi-sample .json, proved with keys loaded once (as prove-many).",
)
def prove_cmd(target: Target, many_inputs: Path | None) -> None:
    """Prove one input (default: the circuit's sample input), or --inputs on the warm path."""
    if many_inputs is not None:
        from zkml_cli.perf_commands import prove_many

        prove_many(target, many_inputs)
        return
    pipeline = target.pipeline()
    proof = pipeline.prove()
    click.echo(f"proof {proof.path} ({proof.size_bytes} bytes)")
    if pipeline.last_outputs:
        click.echo(f"  outputs: {', '.join(f'{v:.6g}' for v in pipeline.last_outputs)}")


@click.command("verify")
@circuit_target(batched=True)
@click.option("--proof", "proof_path", type=PATH, help="Proof to verify (default: the workspace's).")
@click.pass_context
def verify_cmd(ctx: click.Context, target: Target, proof_path: Path | None) -> None:
    """Verify a proof locally. Exit code 1 when it does not verify."""
    from zkml.prove import load_proof

    result = target.pipeline().verify(load_proof(proof_path) if proof_path else None)
    click.echo(f"verified: {str(result.verified).lower()}" + (f" ({result.reason})" if result.reason else ""))
    if not result.verified:
        ctx.exit(1)
