"""``zkml backends``: which proof backends can take a model, and why not."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("backends")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--settings",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The circuit's ezkl settings.json (its scales); default: input and param scale 13.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
def backends_cmd(model: Path, settings: Path | None, as_json: bool) -> None:
    """Say which proof backends (halo2; groth16, whose verdict covers plonk and fflonk) can take MODEL, an .onnx file, and why not."""
    from zkml.circom.support import backend_verdicts

    verdicts = backend_verdicts(model, settings)
    if as_json:
        click.echo(json.dumps([{"backend": v.backend, "ok": v.ok, "reason": v.reason, **v.details} for v in verdicts], indent=2))
        return
    for verdict in verdicts:
        click.echo(verdict.line())
