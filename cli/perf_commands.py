"""``prove-many``: many inputs proved with keys loaded once (warm, pooled, Ray, batched, GPU).

Thin: parse options, call :func:`zkml.proving.many.prove_many`, print; exit 1 when a proof does not verify.
The benchmark harness is not a CLI command: it lives in the checkout's
``benchmarks/`` and runs as ``python -m benchmarks.harness`` (``make bench``).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from zkml_cli.options import PATH, Target, circuit_target, json_file, ray_option, write_json_output

if TYPE_CHECKING:
    from zkml.proving.many import ProveManyEvent, ProveManySummary


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


def _backend_label(backend: str, workers: int) -> str:
    return {"ray": "ray", "pool": f"{workers} processes", "warm": "warm, in-process"}[backend]


class _ProvingBar:
    """The stderr progress bar, opened on the library's first event (when the device is known)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.bar: Any = None

    def __call__(self, event: ProveManyEvent) -> None:
        if self.bar is None:
            label = f"proving ({_backend_label(event.backend, self.workers)}, {event.device})"
            self.bar = click.progressbar(length=event.total, label=label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(event.done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


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
    """The body of ``zkml prove-many`` (also ``zkml prove --inputs``): :func:`zkml.proving.many.prove_many`, then print."""
    from zkml.proving.many import prove_many as prove_all

    bar = _ProvingBar(workers)
    try:
        summary = prove_all(
            target.pipeline(),
            inputs,
            out_dir=out_dir,
            workers=workers,
            # `--ray` alone is "local": start a Ray here; anything else is a cluster address.
            ray_address=None if ray_address in (None, "local") else ray_address,
            use_ray=ray_address is not None,
            device=device,
            batch_size=batch_size,
            verify=do_verify,
            progress=bar,
        )
    finally:
        bar.close()
    if not write_json_output(summary.as_dict(), json_path):
        _print_rows(summary)
    if summary.any_rejected:
        click.get_current_context().exit(1)


def _print_rows(summary: ProveManySummary) -> None:
    payload = summary.as_dict()
    for row in payload["proofs"]:
        mark = {True: "ok", False: "FAILED", None: "-"}[row["verified"]]
        outputs = ", ".join(f"{v:.6g}" for v in row["outputs"][:4]) + (" …" if len(row["outputs"]) > 4 else "")
        padding = f"  (last {row['padded_samples']} samples are padding: copies of the first)" if row["padded_samples"] else ""
        click.echo(f"  {row['index']:>4}  {Path(row['input']).name:<28} {row['prove_seconds']:>7.2f}s  {mark:<6}  {outputs}{padding}")
    batch, device, label = summary.batch_size, summary.device, _backend_label(summary.backend, summary.workers)
    click.echo(
        f"{payload['inputs']} proofs ({batch} inference{'s' if batch > 1 else ''} each) in {payload['prove_wall_seconds']:.2f}s "
        f"({payload['seconds_per_proof']}s/proof, {label}); device {device.used} ({device.reason}); proofs in {summary.out_dir}"
    )
    nodes = Counter(result.node for result in summary.proofs if result.node is not None)
    if nodes:
        click.echo("proofs per Ray node: " + ", ".join(f"{node} {count}" for node, count in sorted(nodes.items())))
