"""``zkml``: a thin click front end over the library.

Each command parses its options, builds a config, calls one stage (or the
pipeline) and prints the result. Every ZkmlError becomes one line on stderr
and a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from zkml.errors import ZkmlError

log = logging.getLogger("zkml")


class ZkmlGroup(click.Group):
    """A group that turns ZkmlError into a one-line message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZkmlError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written was kept", err=True)
            ctx.exit(130)


@click.group(cls=ZkmlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
@click.version_option(package_name="zkml")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """zkml: from a trained model to a zero-knowledge proof a smart contract checks."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# -- shared options ------------------------------------------------------------------------

TARGET_HELP = "A circuit folder (with zkml.toml), a zkml.toml, an .onnx file, or file.py:factory."


def _parse_shape(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(part) for part in value.replace("x", ",").split(",") if part.strip())
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a shape like 1,8") from exc


def resolve_target(
    target: str, *, input_path: Path | None = None, example: str | None = None, input_shape: str | None = None, task: str | None = None
) -> Any:
    """Turn a CLI target into a CircuitConfig."""
    from dataclasses import replace

    from zkml.config import CircuitConfig, config_for_onnx, load_config
    from zkml.errors import ConfigError

    path = Path(target)
    if path.suffix == ".onnx":
        config = config_for_onnx(path, input_path=input_path)
    elif path.is_dir() or path.name.endswith(".toml"):
        config = load_config(path)
    elif ":" in target and Path(target.rpartition(":")[0]).suffix == ".py":
        file_part = Path(target.rpartition(":")[0]).resolve()
        config = CircuitConfig(
            name=file_part.parent.name if file_part.stem == "model" else file_part.stem,
            root=Path.cwd(),
            factory=f"{file_part}:{target.rpartition(':')[2]}",
            example_input=example,
            input_shape=_parse_shape(input_shape),
            input=input_path,
        )
    else:
        raise ConfigError(f"{target!r} is not a circuit folder, zkml.toml, .onnx file or file.py:factory", hint=TARGET_HELP)
    changes: dict[str, Any] = {}
    if input_path is not None:
        changes["input"] = input_path.resolve()
    if example is not None:
        changes["example_input"] = example
    if input_shape is not None:
        changes["input_shape"] = _parse_shape(input_shape)
    if task is not None:
        changes["task"] = task
    return replace(config, **changes) if changes else config


def target_options(func: Any) -> Any:
    """The options every stage command shares."""
    options = [
        click.argument("target"),
        click.option(
            "--build-dir",
            type=click.Path(path_type=Path),
            default=Path("build"),
            show_default=True,
            help="Workspaces go to BUILD_DIR/<circuit>.",
        ),
        click.option("--input", "input_path", type=click.Path(path_type=Path), help="Input JSON to prove (ezkl input_data format)."),
        click.option("--example", help="file.py:function returning the tracing input (torch factories)."),
        click.option("--input-shape", help="Shape of a seeded random tracing input, e.g. 1,8."),
        click.option("--task", type=click.Choice(["regression", "classification"]), help="How fidelity is measured."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class StageProgress:
    """Renders pipeline progress on stderr: a bar over the stages, a line per stage."""

    def __init__(self, total: int) -> None:
        self.bar = click.progressbar(length=total, label="zkml", file=sys.stderr, show_eta=False, show_pos=True, item_show_func=lambda s: s)
        self.bar.__enter__()
        self.current = ""

    def __call__(self, event: Any) -> None:
        if event.state == "start":
            self.current = event.stage
            self.bar.update(0, event.stage)
        elif event.state == "step":
            self.bar.update(0, f"{event.stage} {event.step}/{event.total}")
        elif event.state in ("done", "reused"):
            self.bar.update(1, f"{event.stage} {'reused' if event.state == 'reused' else f'{event.seconds:.1f}s'}")

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


def _pipeline(
    ctx: click.Context,
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
    progress: Any = None,
    **kwargs: Any,
) -> Any:
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = resolve_target(target, input_path=input_path, example=example, input_shape=input_shape, task=task)
    return Pipeline(config, Workspace(build_dir / config.name), progress=progress, **kwargs)


# -- commands ------------------------------------------------------------------------------


@cli.command()
@target_options
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the summary as JSON ('-' for stdout).")
@click.option("--no-dev-srs", is_flag=True, help="Refuse the insecure development SRS; require an imported one.")
@click.option("--no-chain", is_flag=True, help="Stop after local verification (skip verifier, deploy, on-chain verify).")
@click.option("--rpc-url", envvar="ZKML_RPC_URL", help="EVM JSON-RPC endpoint (default: `zkml chain up`'s chain, else an embedded anvil).")
@click.option(
    "--i-understand-dev-srs-is-insecure", "allow_unsafe_srs", is_flag=True, help="Allow deploying dev-SRS keys to a non-dev chain."
)
@click.pass_context
def run(
    ctx: click.Context,
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
    json_path: Path | None,
    no_dev_srs: bool,
    no_chain: bool,
    rpc_url: str | None,
    allow_unsafe_srs: bool,
) -> None:
    """Run the whole flow on TARGET: export ... prove, verify locally, then verifier, deploy, verify on-chain.

    Ends with a summary table; exit code 1 when the proof is not accepted.
    """
    from zkml.pipeline import EVM_STAGES, STAGES

    progress = StageProgress(len(STAGES) + (0 if no_chain else len(EVM_STAGES)))
    try:
        pipeline = _pipeline(
            ctx, target, build_dir, input_path, example, input_shape, task, progress=progress, allow_dev_srs=not no_dev_srs
        )
        summary = pipeline.run(chain=not no_chain, rpc_url=rpc_url, allow_unsafe_srs=allow_unsafe_srs)
    finally:
        progress.close()
    payload = summary.as_dict()
    if json_path is not None:
        text = json.dumps(payload, indent=2)
        if str(json_path) == "-":
            click.echo(text)
        else:
            from zkml.workspace import write_bytes_atomic

            write_bytes_atomic(json_path, (text + "\n").encode())
    if str(json_path) != "-":
        click.echo(format_summary(payload))
    if not summary.verified:
        ctx.exit(1)


def format_summary(payload: dict[str, Any]) -> str:
    """The run summary as a small text table."""
    lines = [f"circuit {payload['name']}  (workspace {payload['workspace']})", "", f"  {'stage':<16}{'seconds':>10}  note"]
    for stage in payload["stages"]:
        note = "reused" if stage["reused"] else ""
        lines.append(f"  {stage['stage']:<16}{stage['seconds']:>10.2f}  {note}")
    fidelity = payload.get("fidelity") or {}
    lines.append("")
    lines.append(f"  logrows        {payload['logrows']}")
    lines.append(f"  proof bytes    {payload['proof_bytes']}")
    if fidelity:
        agreement = fidelity.get("argmax_agreement")
        lines.append(
            f"  fidelity       max abs err {fidelity['max_abs_error']:.4g}, mean abs err {fidelity['mean_abs_error']:.4g} on {fidelity['samples']} samples"
            + (f", argmax agreement {agreement:.1%}" if agreement is not None else "")
        )
    if payload.get("outputs"):
        lines.append(f"  outputs        {', '.join(f'{v:.6g}' for v in payload['outputs'][:10])}")
    srs = payload.get("srs_provenance")
    lines.append(f"  srs            {srs}{'  (development only, unsafe)' if srs == 'dev-unsafe' else ''}")
    if "verifier_runtime_bytes" in payload:
        lines.append(f"  verifier       {payload['verifier_runtime_bytes']:,} runtime bytes (EIP-170 limit 24,576)")
        reused = " (already deployed, reused)" if payload.get("deploy_reused") else ""
        lines.append(
            f"  deployed       {payload['verifier_address']} on chain {payload['chain_id']}, {payload['deploy_gas']:,} gas{reused}"
        )
        verdict = "accepted" if payload["onchain_accepted"] else "REJECTED"
        lines.append(f"  on-chain       {verdict}, {payload['verify_gas']:,} gas, calldata {payload['calldata_bytes']:,} bytes")
        lines.append(f"  on-chain outs  {', '.join(f'{v:.6g}' for v in payload['onchain_outputs'][:10])}")
    oracle = payload.get("oracle")
    if oracle:
        gas = oracle.get("gas", {})
        prediction = oracle.get("prediction") or {}
        published = "already published, read back" if oracle.get("replayed") else f"published, {gas.get('submit') or 0:,} gas"
        values = ", ".join(f"{v:.6g}" for v in prediction.get("floats", [])[:10])
        lines.append(f"  oracle         {oracle['oracle_address']}: prediction [{values}] {published}")
        consumer = oracle.get("consumer") or {}
        note = oracle.get("consumer_note") or ""
        acted = f"target risky allocation {consumer.get('target_risky_bps')} bps" + (
            f" ({note})" if note else f", {gas.get('act') or 0:,} gas"
        )
        lines.append(f"  DeFi consumer  ForecastVault {oracle['consumer_address']}: {acted}")
    lines.append(f"  verified       {payload['verified']}" + (f" ({payload['verify_reason']})" if payload.get("verify_reason") else ""))
    return "\n".join(lines)


@cli.command()
@target_options
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Also copy the ONNX model here.")
@click.pass_context
def export(
    ctx: click.Context,
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
    out: Path | None,
) -> None:
    """Export TARGET to a checked ONNX model and keep float reference outputs."""
    pipeline = _pipeline(ctx, target, build_dir, input_path, example, input_shape, task)
    model = pipeline.export()
    if out is not None:
        from zkml.workspace import write_bytes_atomic

        write_bytes_atomic(out, model.path.read_bytes())
    click.echo(f"exported {model.path} (opset {model.opset}, sha256 {model.sha256[:16]}…)")
    for spec in model.inputs:
        click.echo(f"  input  {spec.name}: {list(spec.shape)} {spec.dtype}")
    for spec in model.outputs:
        click.echo(f"  output {spec.name}: {list(spec.shape)} {spec.dtype}")
    if model.reference_path:
        click.echo(f"  float reference outputs: {model.reference_path}")


@cli.command()
@click.argument("target", required=False)
@click.option("--build-dir", type=click.Path(path_type=Path), default=Path("build"), show_default=True)
@click.option("--list-ops", is_flag=True, help="List the ops zkml knows ezkl can compile, and with which conditions.")
@click.pass_context
def preflight(ctx: click.Context, target: str | None, build_dir: Path, list_ops: bool) -> None:
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
    pipeline = _pipeline(ctx, target, build_dir, None, None, None, None)
    model = pipeline.export()
    report = pf.preflight(model, strict=False)
    for op, count in report.op_counts.items():
        click.echo(f"  {op:<24}{count:>4}")
    for name, op, condition in report.conditional:
        click.echo(f"  note: {name} ({op}): {condition}")
    if not report.ok:
        pf.preflight(model)  # raises the one-line error
    click.echo(f"ok: all {sum(report.op_counts.values())} nodes can be compiled")


@cli.command()
@target_options
@click.pass_context
def calibrate(
    ctx: click.Context,
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
) -> None:
    """Generate and calibrate circuit settings for TARGET."""
    settings = _pipeline(ctx, target, build_dir, input_path, example, input_shape, task).calibrate()
    click.echo(
        f"settings {settings.path}: logrows {settings.logrows}, input scales {list(settings.input_scales)}, param scale {settings.param_scale}"
    )
    click.echo(f"  visibility: input {settings.input_visibility}, params {settings.param_visibility}, output {settings.output_visibility}")


@cli.command(name="compile")
@target_options
@click.pass_context
def compile_command(
    ctx: click.Context,
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
) -> None:
    """Compile TARGET's circuit and report its fidelity against the float model."""
    pipeline = _pipeline(ctx, target, build_dir, input_path, example, input_shape, task)
    circuit = pipeline.compile()
    click.echo(f"compiled {circuit.path} (logrows {circuit.settings.logrows})")
    fidelity = circuit.settings.fidelity
    if fidelity:
        agreement = f", argmax agreement {fidelity.argmax_agreement:.1%}" if fidelity.argmax_agreement is not None else ""
        click.echo(
            f"  fidelity on {fidelity.samples} samples: max abs error {fidelity.max_abs_error:.4g}, mean {fidelity.mean_abs_error:.4g}{agreement}"
        )


@cli.command()
@target_options
@click.option("--no-dev-srs", is_flag=True, help="Refuse the insecure development SRS.")
@click.pass_context
def setup(
    ctx: click.Context,
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
    no_dev_srs: bool,
) -> None:
    """Make (or reuse) the proving and verifying keys for TARGET."""
    pipeline = _pipeline(ctx, target, build_dir, input_path, example, input_shape, task, allow_dev_srs=not no_dev_srs)
    keys = pipeline.keys()
    reused = any(t.stage == "keys" and t.reused for t in pipeline.timings)
    click.echo(
        f"keys {keys.pk_path} ({keys.pk_path.stat().st_size:,} bytes), {keys.vk_path} ({keys.vk_path.stat().st_size:,} bytes){' — reused' if reused else ''}"
    )


@cli.command()
@target_options
@click.option(
    "--inputs",
    "many_inputs",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Many inputs: a folder of JSON files, a .jsonl, or a multi-sample .json, proved with keys loaded once (as prove-many).",
)
@click.pass_context
def prove(
    ctx: click.Context,
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
    many_inputs: Path | None,
) -> None:
    """Prove one input (default: the circuit's sample input), or --inputs on the warm path."""
    if many_inputs is not None:
        from zkml_cli.perf_commands import prove_many_cmd

        ctx.invoke(
            prove_many_cmd,
            target=target,
            build_dir=build_dir,
            input_path=input_path,
            example=example,
            input_shape=input_shape,
            task=task,
            inputs=many_inputs,
        )
        return
    pipeline = _pipeline(ctx, target, build_dir, input_path, example, input_shape, task)
    proof = pipeline.prove(input_path)
    outputs = pipeline.last_outputs
    click.echo(f"proof {proof.path} ({proof.size_bytes} bytes)")
    if outputs:
        click.echo(f"  outputs: {', '.join(f'{v:.6g}' for v in outputs)}")


@cli.command()
@target_options
@click.option("--proof", "proof_path", type=click.Path(path_type=Path), help="Proof to verify (default: the workspace's).")
@click.pass_context
def verify(
    ctx: click.Context,
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
    proof_path: Path | None,
) -> None:
    """Verify a proof locally. Exit code 1 when it does not verify."""
    from zkml.prove import load_proof

    pipeline = _pipeline(ctx, target, build_dir, input_path, example, input_shape, task)
    proof = load_proof(proof_path) if proof_path else None
    result = pipeline.verify(proof)
    click.echo(f"verified: {str(result.verified).lower()}" + (f" ({result.reason})" if result.reason else ""))
    if not result.verified:
        ctx.exit(1)


@cli.group()
def srs() -> None:
    """Manage structured reference strings (nothing is downloaded)."""


@srs.command(name="gen")
@click.option("--logrows", "-k", type=int, required=True, help="Circuit size 2**k rows.")
def srs_gen(logrows: int) -> None:
    """Generate a development SRS (insecure: its toxic waste is known locally)."""
    from zkml.srs import generate_dev_srs

    made = generate_dev_srs(logrows)
    click.echo(f"{made.path} logrows {made.logrows} sha256 {made.sha256} (development only, unsafe)")


@srs.command(name="import")
@click.argument("source", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--sha256", help="The digest the file must have (recommended).")
def srs_import(source: Path, sha256: str | None) -> None:
    """Import an SRS file (e.g. from the Perpetual Powers of Tau), checked by hash."""
    from zkml.srs import import_srs

    made = import_srs(source, sha256=sha256)
    click.echo(f"imported {made.path} logrows {made.logrows} sha256 {made.sha256}")
    if sha256 is None:
        click.echo("warning: no --sha256 given; the file's origin is not pinned", err=True)


@srs.command(name="list")
def srs_list() -> None:
    """List cached SRS files."""
    from zkml.srs import list_cached, srs_dir

    found = list_cached()
    if not found:
        click.echo(f"no SRS cached in {srs_dir()}")
    for item in found:
        click.echo(f"logrows {item.logrows:>2}  {item.provenance:<10}  {item.sha256[:16]}…  {item.path}")


def _register_optional_commands() -> None:
    """Add commands from optional modules (EVM, oracle) when they are present."""
    import importlib

    for name in ("evm_commands", "oracle_commands", "tune_commands", "perf_commands"):
        try:
            module = importlib.import_module(f"zkml_cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"zkml_cli.{name}":
                raise  # a broken import inside the module must not be hidden
            continue
        module.register(cli)


_register_optional_commands()


def main() -> None:
    """Console-script entry point."""
    cli(obj={})


if __name__ == "__main__":
    main()
