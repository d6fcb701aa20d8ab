"""Throughput commands: ``prove-many`` (warm, pooled, Ray, batched, GPU) and ``bench``.

Thin wrappers: parse options, call the library (zkml.prover, zkml.distributed,
zkml.batch, zkml.device) or the benchmark harness, print. Errors are ZkmlError
subclasses that the root group turns into one line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

_PATH = click.Path(path_type=Path)


def _target_options(func: Any) -> Any:
    from zkml_cli.main import target_options

    return target_options(func)


@click.command("prove-many")
@_target_options
@click.argument("inputs", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out_dir", type=_PATH, default=None, help="Folder for proofs and witnesses (default: WORKSPACE/proofs).")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Prover processes (or local Ray CPUs with --ray)."
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Prove on Ray: --ray alone starts a local Ray; --ray ADDRESS joins a cluster (e.g. auto, ray://head:10001).",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True, help="Proving device.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=1, show_default=True, help="Inferences per proof (builds a batched circuit)."
)
@click.option("--verify/--no-verify", "do_verify", default=True, show_default=True, help="Verify every proof locally.")
@click.option("--json", "json_path", type=_PATH, default=None, help="Also write the results as JSON ('-' for stdout).")
def prove_many_cmd(
    target: str,
    build_dir: Path,
    input_path: Path | None,
    example: str | None,
    input_shape: str | None,
    task: str | None,
    inputs: Path,
    out_dir: Path | None,
    workers: int,
    ray_address: str | None,
    device: str,
    batch_size: int,
    do_verify: bool,
    json_path: Path | None,
) -> None:
    """Prove many inputs with keys loaded once: INPUTS is a folder of JSON files, a .jsonl, or a multi-sample .json.

    --input names the circuit's sample input (as for the other stage commands), not the inputs to prove.
    Exit code 1 when any proof does not verify.
    """
    from zkml_cli.main import resolve_target

    from zkml.prover import ProverSpec, WarmProver, collect_inputs, prove_inputs

    config = resolve_target(target, input_path=input_path, example=example, input_shape=input_shape, task=task)
    started = time.perf_counter()
    if batch_size > 1:
        from zkml.batch import build_batched

        root = build_dir / config.name / f"batch-{batch_size}"
        spec = build_batched(config, batch_size, root, device=device).spec
    else:
        from zkml.pipeline import Pipeline
        from zkml.workspace import Workspace

        pipeline = Pipeline(config, Workspace(build_dir / config.name))
        spec = ProverSpec.from_pipeline(pipeline, device=device)
        root = pipeline.ws.root
    out = out_dir or root / "proofs"
    paths = collect_inputs(inputs, spec.inputs, out / "inputs")
    ready = time.perf_counter()
    label = "ray" if ray_address else f"{workers} process{'es' if workers > 1 else ''}" if workers > 1 else "warm, in-process"
    with click.progressbar(length=len(paths), label=f"proving ({label}, {spec.device.used})", file=sys.stderr) as bar:
        results = prove_inputs(
            spec,
            paths,
            out,
            workers=workers,
            ray_address=None if ray_address in (None, "local") else ray_address,
            use_ray=ray_address is not None,
            progress=lambda done, total: bar.update(done - bar.pos),
        )
    proved = time.perf_counter()
    verdicts: list[bool | None] = [None] * len(results)
    if do_verify:
        checker = WarmProver(spec, out)
        verdicts = [checker.verify(r.proof).verified for r in results]
    rows = [{**r.as_dict(), "verified": v} for r, v in zip(results, verdicts, strict=True)]
    summary = {
        "circuit": config.name,
        "batch_size": spec.batch_size,
        "inputs": len(results),
        "backend": "ray" if ray_address else "pool" if workers > 1 else "warm",
        "workers": workers,
        "device": spec.device.as_dict(),
        "setup_seconds": round(ready - started, 3),
        "prove_wall_seconds": round(proved - ready, 3),
        "seconds_per_proof": round((proved - ready) / max(len(results), 1), 3),
        "proofs": rows,
    }
    if json_path is not None:
        text = json.dumps(summary, indent=2)
        if str(json_path) == "-":
            click.echo(text)
        else:
            json_path.write_text(text + "\n")
    if str(json_path) != "-":
        for row in rows:
            mark = {True: "ok", False: "FAILED", None: "-"}[row["verified"]]
            outputs = ", ".join(f"{v:.6g}" for v in row["outputs"][:4]) + (" …" if len(row["outputs"]) > 4 else "")
            click.echo(f"  {row['index']:>4}  {Path(row['input']).name:<28} {row['prove_seconds']:>7.2f}s  {mark:<6}  {outputs}")
        click.echo(
            f"{len(results)} proofs ({spec.batch_size} inference{'s' if spec.batch_size > 1 else ''} each) in "
            f"{proved - ready:.2f}s ({summary['seconds_per_proof']}s/proof, {label}); device {spec.device.used} "
            f"({spec.device.reason}); proofs in {out}"
        )
    if do_verify and not all(verdicts):
        sys.exit(1)


@click.command("bench", context_settings={"ignore_unknown_options": True})
@click.argument("harness_args", nargs=-1, type=click.UNPROCESSED)
def bench_cmd(harness_args: tuple[str, ...]) -> None:
    """Run the benchmark harness (benchmarks/harness.py); `zkml bench --help-harness` lists its options."""
    import zkml

    # benchmarks/ is not installed with the package; it sits next to zkml/ in a checkout. Another
    # distribution (hummingbird-ml) installs a top-level `benchmarks` package, so put the checkout
    # first and drop that one if it was already imported.
    checkout = Path(zkml.__file__).resolve().parent.parent
    if (checkout / "benchmarks" / "harness.py").is_file():
        sys.path.insert(0, str(checkout))
        cached = sys.modules.get("benchmarks")
        if cached is not None and Path(getattr(cached, "__file__", None) or "").resolve().parent != checkout / "benchmarks":
            for name in [n for n in sys.modules if n == "benchmarks" or n.startswith("benchmarks.")]:
                del sys.modules[name]
    try:
        from benchmarks import harness
    except ImportError as exc:
        from zkml.errors import ConfigError

        raise ConfigError("the benchmark harness is not available", hint="run zkml bench from a source checkout of zkml") from exc
    args = ["--help" if a == "--help-harness" else a for a in harness_args]
    harness.main(list(args))


COMMANDS = (prove_many_cmd, bench_cmd)


def register(group: click.Group) -> None:
    """Add the throughput commands to the main ``zkml`` group."""
    for command in COMMANDS:
        group.add_command(command)
