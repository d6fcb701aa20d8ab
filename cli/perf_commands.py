"""``prove-many``: many inputs proved with keys loaded once (warm, pooled, Ray, batched, GPU).

Thin: parse options, call :func:`zkml.proving.backends.prove_inputs`, print.
The benchmark harness is not a CLI command: it lives in the checkout's
``benchmarks/`` and runs as ``python -m benchmarks.harness`` (``make bench``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from zkml_cli.options import PATH, Target, circuit_target, json_file, ray_option, write_json_output


@click.command("prove-many")
@circuit_target
@click.argument("inputs", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out_dir", type=PATH, default=None, help="Folder for proofs and witnesses (default: WORKSPACE/proofs).")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Prover processes (or local Ray CPUs with --ray)."
)
@ray_option
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True, help="Proving device.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=1, show_default=True, help="Inferences per proof (builds a batched circuit)."
)
@click.option("--verify/--no-verify", "do_verify", default=True, show_default=True, help="Verify every proof locally.")
@json_file
def prove_many_cmd(target: Target, inputs: Path, **options: Any) -> None:
    """Prove many inputs with keys loaded once: INPUTS is a folder of JSON files, a .jsonl, or a multi-sample .json.

    --input names the circuit's sample input (as for the other stage commands), not the inputs to prove.
    Exit code 1 when any proof does not verify.
    """
    prove_many(target, inputs, **options)


def _prover_spec(target: Target, batch_size: int, device: str) -> tuple[Any, Path]:
    """The prover spec (batch-1 workspace, or a batched circuit beside it) and the folder it lives in."""
    if batch_size > 1:
        from zkml.proving.batch import build_batched

        root = target.workspace / f"batch-{batch_size}"
        return build_batched(target.config, batch_size, root, device=device).spec, root
    from zkml.proving.warm import ProverSpec

    pipeline = target.pipeline()
    return ProverSpec.from_pipeline(pipeline, device=device), pipeline.ws.root


def prove_many(
    target: Target,
    inputs: Path,
    *,
    out_dir: Path | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    device: str = "auto",
    batch_size: int = 1,
    do_verify: bool = True,
    json_path: Path | None = None,
) -> None:
    """The body of ``zkml prove-many`` (also ``zkml prove --inputs``)."""
    from zkml.proving.backends import prove_inputs
    from zkml.proving.warm import WarmProver, collect_inputs

    started = time.perf_counter()
    spec, root = _prover_spec(target, batch_size, device)
    out = out_dir or root / "proofs"
    paths = collect_inputs(inputs, spec.inputs, out / "inputs")
    ready = time.perf_counter()
    label = "ray" if ray_address else f"{workers} processes" if workers > 1 else "warm, in-process"
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
    verdicts: list[bool | None] = [WarmProver(spec, out).verify(r.proof).verified for r in results] if do_verify else [None] * len(results)
    summary = {
        "circuit": target.config.name,
        "batch_size": spec.batch_size,
        "inputs": len(results),
        "backend": "ray" if ray_address else "pool" if workers > 1 else "warm",
        "workers": workers,
        "device": spec.device.as_dict(),
        "setup_seconds": round(ready - started, 3),
        "prove_wall_seconds": round(proved - ready, 3),
        "seconds_per_proof": round((proved - ready) / max(len(results), 1), 3),
        "proofs": [{**r.as_dict(), "verified": v} for r, v in zip(results, verdicts, strict=True)],
    }
    if not write_json_output(summary, json_path):
        _print_rows(summary, label, out, spec)
    if do_verify and not all(verdicts):
        sys.exit(1)


def _print_rows(summary: dict[str, Any], label: str, out: Path, spec: Any) -> None:
    for row in summary["proofs"]:
        mark = {True: "ok", False: "FAILED", None: "-"}[row["verified"]]
        outputs = ", ".join(f"{v:.6g}" for v in row["outputs"][:4]) + (" …" if len(row["outputs"]) > 4 else "")
        click.echo(f"  {row['index']:>4}  {Path(row['input']).name:<28} {row['prove_seconds']:>7.2f}s  {mark:<6}  {outputs}")
    batch = spec.batch_size
    click.echo(
        f"{summary['inputs']} proofs ({batch} inference{'s' if batch > 1 else ''} each) in {summary['prove_wall_seconds']:.2f}s "
        f"({summary['seconds_per_proof']}s/proof, {label}); device {spec.device.used} ({spec.device.reason}); proofs in {out}"
    )
