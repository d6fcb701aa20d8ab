"""``zkml estimate``: the circuit's cost predicted from its calibrated settings, before any key is made."""

from __future__ import annotations

import click
from zkml_cli.options import Target, circuit_target, json_flag


def _size(value: int | None) -> str:
    return "unknown" if value is None else f"{value / 2**20:,.0f} MB"


@click.command("estimate")
@circuit_target
@json_flag
def estimate_cmd(target: Target, as_json: bool) -> None:
    """Predict TARGET's rows, proving-key size, setup/prove memory and time, and verify gas.

    Exports and calibrates (reused from the workspace when current), then
    predicts from the settings with the fitted cost model; no key is made.
    Exit 2 when key setup would not fit in the memory available.
    """
    import json

    from zkml.estimate import check_fits, estimate_settings

    settings = target.pipeline().calibrate()
    est = estimate_settings(settings.path)
    if as_json:
        click.echo(json.dumps(est.as_dict(), indent=2))
    else:
        click.echo(f"estimate for {target.config.name} (settings {settings.path})")
        click.echo(f"  logrows          {est.logrows}  ({est.rows:,} rows used of {2**est.logrows:,})")
        click.echo(f"  proving key      {_size(est.pk_bytes)}")
        click.echo(f"  setup            peak {_size(est.setup_peak_bytes)}, {est.setup_seconds:.1f} s")
        click.echo(
            f"  prove            peak {_size(est.prove_peak_bytes)}, {est.prove_seconds:.1f} s (on the machine the model was fitted on)"
        )
        click.echo(f"  verify gas       {est.verify_gas:,} (plain verifier)")
        click.echo(f"  memory available {_size(est.available_bytes)}: setup {'fits' if est.fits else 'does NOT fit'}")
    check_fits(est)
