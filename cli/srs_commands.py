"""``zkml srs``: the structured reference strings in the user cache (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from zkml.artifacts import Srs


@click.group("srs")
def srs_group() -> None:
    """Manage structured reference strings (nothing is downloaded)."""


@srs_group.command(name="gen")
@click.option("--logrows", "-k", type=int, required=True, help="Circuit size 2**k rows.")
def srs_gen(logrows: int) -> None:
    """Generate a development SRS (insecure: its toxic waste is known locally)."""
    from zkml.srs import generate_dev_srs

    made = generate_dev_srs(logrows)
    click.echo(f"{made.path} logrows {made.logrows} sha256 {made.sha256} (development only, unsafe)")


@srs_group.command(name="import")
@click.argument("source", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--sha256", help="The digest the file must have; without it the SRS is unpinned and treated as unsafe.")
def srs_import(source: Path, sha256: str | None) -> None:
    """Import an SRS file (e.g. from the Perpetual Powers of Tau), checked by hash."""
    from zkml.srs import import_srs

    made = import_srs(source, sha256=sha256)
    click.echo(f"imported {made.path} logrows {made.logrows} sha256 {made.sha256} ({'pinned' if made.pinned else 'unpinned'})")
    if not made.pinned:
        click.echo(
            "warning: no --sha256 given; this SRS is unpinned and will be treated as unsafe (like a development SRS) on non-dev chains",
            err=True,
        )


@srs_group.command(name="import-ptau")
@click.argument("source", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--sha256", help="The digest the file must have; without it the ptau is unpinned and treated as unsafe.")
def srs_import_ptau(source: Path, sha256: str | None) -> None:
    """Import a powers-of-tau file for the circom backend (e.g. powersOfTau28_hez_final_NN.ptau), checked by hash."""
    from zkml.circom.ptau import import_ptau, read_ptau

    made = import_ptau(source, sha256=sha256)
    prepared = "prepared" if read_ptau(made.path).prepared else "powers only: FFLONK only"
    click.echo(f"imported {made.path} power {made.logrows} ({prepared}) sha256 {made.sha256} ({'pinned' if made.pinned else 'unpinned'})")
    if not made.pinned:
        click.echo(
            "warning: no --sha256 given; this ptau is unpinned and will be treated as unsafe (like a development one) on non-dev chains",
            err=True,
        )


def _status(item: Srs) -> str:
    return "unsafe" if item.provenance == "dev-unsafe" else "pinned" if item.pinned else "unpinned"


@srs_group.command(name="list")
def srs_list() -> None:
    """List cached SRS files (halo2) and powers-of-tau files (circom)."""
    from zkml.circom.ptau import list_cached_ptau, ptau_dir
    from zkml.srs import list_cached, srs_dir

    found = list_cached()
    if not found:
        click.echo(f"no SRS cached in {srs_dir()}")
    for item in found:
        click.echo(f"logrows {item.logrows:>2}  {item.provenance:<10}  {_status(item):<8}  {item.sha256[:16]}…  {item.path}")
    ptaus = list_cached_ptau()
    if not ptaus:
        click.echo(f"no ptau cached in {ptau_dir()}")
    for ptau, prepared in ptaus:
        kind = "prepared" if prepared else "powers"
        click.echo(f"ptau 2^{ptau.logrows:<2}  {ptau.provenance:<10}  {_status(ptau):<8}  {kind:<8}  {ptau.sha256[:16]}…  {ptau.path}")
