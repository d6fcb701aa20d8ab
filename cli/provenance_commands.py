"""``zkml provenance``: walk from an on-chain prediction to the files it came from, checking every link.

A thin wrapper over :func:`zkml.oracle.provenance.walk`. Exit 0 when every link
holds, 1 when one is broken; a bad argument (no such prediction) is the usual
ZkmlError exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from zkml_cli.options import PATH, chain_connection, emit, json_flag

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection
    from zkml.oracle.provenance import Walk

_TAGS = {"ok": "[ok]", "warning": "[WARN]", "broken": "[BROKEN]"}


def _lines(result: Walk) -> list[str]:
    """The human report: one line per link, then a summary."""
    sub = result.submission
    head = f"tx {sub.tx_hash} (block {sub.block}, from {sub.sender})"
    lines = [f"provenance of {len(result.samples)} prediction(s) on oracle {result.oracle} (chain {result.chain_id}), {head}"]
    if result.workspace is not None:
        lines.append(f"workspace {result.workspace} ({result.found_by})")
    width = max(len(link.name) for link in result.links) + 2
    lines += [f"{_TAGS.get(link.status, link.status):<9}{link.name:<{width}}{link.detail}" for link in result.links]
    counts = {status: sum(1 for link in result.links if link.status == status) for status in _TAGS}
    summary = f"{counts['ok']} ok, {counts['warning']} warning(s), {counts['broken']} broken"
    verdict = "every link holds" if result.ok else "BROKEN: do not trust this prediction's provenance"
    # What the walk took on trust, before the verdict (which stays the last line).
    lines.append(f"trusts: {result.trusts}")
    lines.append(f"{summary}: {verdict}")
    return lines


def _with_batched(roots: tuple[Path, ...]) -> tuple[Path, ...]:
    """The folders to search, plus the batched workspaces inside their workspaces (``build/<circuit>/batch-B``)."""
    from zkml.workspace import BATCH_DIR_PREFIX

    return roots + tuple(sorted(folder for root in roots for folder in Path(root).glob(f"*/{BATCH_DIR_PREFIX}*") if folder.is_dir()))


@click.command("provenance")
@click.option("--oracle", "oracle_address", required=True, help="The oracle the prediction was published on.")
@click.argument("ident", metavar="ID")
@click.option(
    "--workspace",
    type=PATH,
    default=None,
    help="The model's workspace (a batched one too), or a folder of workspaces (default: search build/*/ and "
    "build/*/batch-*/ for the prediction's model).",
)
@click.option(
    "--allow-unattested",
    is_flag=True,
    help="Report an unattested model's submitter-chosen inputs as a warning, not a broken link (apps that bind inputs themselves).",
)
@click.option(
    "--rederive",
    is_flag=True,
    help="Recompile model.onnx, re-derive the vk and the verifier, and compare them with vk.key and the code on chain "
    "(seconds; the default walk trusts the workspace manifest for the ONNX link).",
)
@chain_connection
@json_flag
def provenance_cmd(
    oracle_address: str, ident: str, workspace: Path | None, allow_unattested: bool, rederive: bool, conn: Connection, as_json: bool
) -> None:
    """Check every link from prediction ID (or its submit tx hash) back to the ONNX, SRS and feed data.

    Links: oracle, prediction, registration, verifier code, compiled verifier, verifying key,
    keys, settings, model id, srs, onnx, feature source, inputs, proof; with --rederive also
    rederived vk and rederived verifier. Exit 1 when one is broken.
    """
    from zkml.oracle.encoding import parse_bytes32
    from zkml.oracle.provenance import walk
    from zkml.oracle.provenance_links import is_workspace

    pid = parse_bytes32(ident)
    given = workspace if workspace is not None and is_workspace(workspace) else None
    search = _with_batched((workspace,) if workspace is not None and given is None else (Path("build"),))
    result = walk(conn, oracle_address, pid, workspace=given, search=search, allow_unattested=allow_unattested, rederive=rederive)
    emit(result.as_dict(), as_json, _lines(result))
    if not result.ok:
        click.get_current_context().exit(1)
