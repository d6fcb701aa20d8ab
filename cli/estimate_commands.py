"""``zkml estimate``: the circuit's cost predicted from its calibrated settings, before any key is made."""

from __future__ import annotations

import click
from zkml_cli.options import Target, circuit_target, json_flag


def _size(value: int | None) -> str:
    return "unknown" if value is None else f"{value / 2**20:,.0f} MB"


@click.command("estimate")
@circuit_target(batched=True)
@click.option(
    "--compile-circom", is_flag=True, help="Compile the circom circuit (seconds for small models) for exact constraints and PLONK gates."
)
@json_flag
def estimate_cmd(target: Target, compile_circom: bool, as_json: bool) -> None:
    """Predict TARGET's rows, proving-key size, setup/prove memory and time, and gas per proof and per prediction.

    Exports and calibrates (reused from the workspace when current), then
    predicts from the settings with the fitted cost model; no key is made.
    With --batch-size B the figures are the batch-B circuit's: per proof of B
    samples, and per prediction. The circom backend's figures follow (its
    constraints, powers of tau, and prove seconds and verify gas per snarkjs
    system), or why it cannot take the model. Exit 2 when key setup would not
    fit in the memory available.
    """
    import json

    from zkml.circom.estimate import estimate_workspace
    from zkml.estimate import ORACLE_OVERHEAD_MEASURED, check_fits, estimate_batch

    pipeline = target.pipeline()
    settings = pipeline.calibrate()
    batch = estimate_batch(settings.path, target.batch_size)
    est = batch.proof
    circom = estimate_workspace(pipeline.ws.root, settings.path, compile_circuit=compile_circom)
    if as_json:
        click.echo(json.dumps({**batch.as_dict(), "circom": circom.as_dict()}, indent=2))
    else:
        b = batch.batch_size
        per = batch.per_prediction()
        samples = f", {b} samples per proof" if b > 1 else ""
        click.echo(f"estimate for {target.config.name}{samples} (settings {settings.path})")
        click.echo(f"  logrows          {est.logrows}  ({est.rows:,} rows used of {2**est.logrows:,})  [exact]")
        click.echo(f"  proving key      {_size(est.pk_bytes)}  [model]")
        click.echo(f"  setup            peak {_size(est.setup_peak_bytes)}, {est.setup_seconds:.1f} s  [model]")
        click.echo(
            f"  prove            peak {_size(est.prove_peak_bytes)}, {est.prove_seconds:.1f} s per proof "
            f"(on the machine the model was fitted on)  [model]"
        )
        click.echo(f"  verify gas       {est.verify_gas:,} per proof (plain verifier)  [model]")
        click.echo(
            f"  oracle submit    {batch.submit_gas:,} per proof: verify + {batch.oracle_overhead_gas:,} oracle overhead "
            f"[{batch.oracle_basis}: measured at B={', '.join(map(str, sorted(ORACLE_OVERHEAD_MEASURED)))} in oracle_gas.md]"
        )
        click.echo(
            f"  per prediction   prove {per['prove_seconds']:.2f} s, verify gas {per['verify_gas']:,}, "
            f"attested submit gas {per['submit_gas']:,}"
        )
        click.echo(f"  memory available {_size(est.available_bytes)}: setup {'fits' if est.fits else 'does NOT fit'}")
        for line in circom.lines():
            click.echo(f"  {line}")
    check_fits(est)
