"""EVM commands: ``verifier``, ``deploy``, ``verify-onchain`` and the ``chain`` group.

Thin wrappers: parse options, call one library function, print. Errors are
ZkmlError subclasses that the root group turns into a one-line message. Private
keys come only from the environment (ZKML_PRIVATE_KEY, or ZKML_KEYSTORE +
ZKML_KEYSTORE_PASSWORD), never from options.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

_PATH = click.Path(path_type=Path)
_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


def _emit(payload: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


def _connect(rpc_url: str | None, chain_id: int | None) -> Any:
    from zkml.evm.anvil import resolve_rpc_url
    from zkml.evm.rpc import connect

    return connect(resolve_rpc_url(rpc_url), expected_chain_id=chain_id)


_rpc_option = click.option("--rpc-url", envvar="ZKML_RPC_URL", help="JSON-RPC endpoint (default: the chain from `zkml chain up`).")
_chain_id_option = click.option("--chain-id", type=int, default=None, help="Refuse the endpoint unless it serves this chain id.")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


_workspace_option = click.option(
    "-w",
    "--workspace",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A zkml workspace (build/<circuit>) to take keys, settings, SRS, proof and records from.",
)


def _workspace_facts(workspace: Path) -> dict[str, Any]:
    """What the EVM commands need from a workspace made by `zkml run`/`zkml setup`."""
    from zkml.errors import ConfigError

    manifest_path = workspace / "manifest.json"
    try:
        info = json.loads(manifest_path.read_text()).get("info", {})
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{workspace} is not a zkml workspace (no readable manifest.json)", hint="run zkml setup or zkml run first"
        ) from exc
    srs = info.get("srs") or {}
    if not srs.get("path"):
        raise ConfigError(f"{workspace} has no keys yet", hint="run zkml setup TARGET first")
    return {
        "vk": workspace / "vk.key",
        "settings": workspace / "settings.json",
        "srs": Path(srs["path"]),
        "srs_unsafe": srs.get("provenance") == "dev-unsafe",
        "proof": workspace / "proof.json",
    }


def _recorded_address(record_dir: Path, chain_id: int, *, reusable: bool) -> str | None:
    """The newest mined verifier address recorded for this chain, if any."""
    try:
        entries = json.loads((record_dir / "deployments.json").read_text()).get("deployments", [])
    except (OSError, ValueError):
        return None
    for entry in reversed(entries):
        # A reusable verifier is recorded without a vk digest: it serves any model's VKA.
        is_reusable = not entry.get("vk_sha256")
        if (
            entry.get("kind") == "verifier"
            and entry.get("chain_id") == chain_id
            and entry.get("status") == "mined"
            and is_reusable == reusable
        ):
            return str(entry["address"])
    return None


@click.command("verifier")
@_workspace_option
@click.option("--vk", "vk_path", type=_EXISTING, default=None, help="Verifying key (default: the workspace's).")
@click.option("--settings", "settings_path", type=_EXISTING, default=None, help="Circuit settings.json (default: the workspace's).")
@click.option("--srs", "srs_path", type=_EXISTING, default=None, help="SRS the keys were made with (default: the workspace's).")
@click.option(
    "--out", "out_dir", type=_PATH, default=None, help="Folder for Verifier.sol/.abi.json/.bin (default: WORKSPACE/evm/plain or /reusable)."
)
@click.option("--reusable", is_flag=True, help="Circuit-independent verifier plus a per-model VKA (model.vka).")
@click.option("--solc", "solc_path", type=_PATH, default=None, help="Native solc binary or npm solc package folder.")
@click.option("--optimizer-runs", type=int, default=1, show_default=True)
@click.option("--evm-version", default="cancun", show_default=True)
@click.option("--decimals", type=int, default=18, show_default=True, help="VKA rescaling decimals (--reusable).")
@_json_option
def verifier_cmd(
    workspace: Path | None,
    vk_path: Path | None,
    settings_path: Path | None,
    srs_path: Path | None,
    out_dir: Path | None,
    reusable: bool,
    solc_path: Path | None,
    optimizer_runs: int,
    evm_version: str,
    decimals: int,
    as_json: bool,
) -> None:
    """Generate and compile the Solidity verifier for a verifying key (give -w WORKSPACE or --vk/--settings/--srs/--out)."""
    from zkml.evm.solc import find_compiler
    from zkml.evm.verifier import EIP170_LIMIT, create_vka, generate_verifier

    if workspace is not None:
        facts = _workspace_facts(workspace)
        vk_path = vk_path or facts["vk"]
        settings_path = settings_path or facts["settings"]
        srs_path = srs_path or facts["srs"]
        out_dir = out_dir or workspace / "evm" / ("reusable" if reusable else "plain")
    if vk_path is None or settings_path is None or srs_path is None or out_dir is None:
        raise click.UsageError("give -w WORKSPACE, or all of --vk, --settings, --srs and --out")

    compiler = find_compiler(solc_path)
    artifact = generate_verifier(
        vk_path,
        settings_path,
        srs_path,
        out_dir,
        reusable=reusable,
        compiler=compiler,
        optimizer_runs=optimizer_runs,
        evm_version=evm_version,
    )
    payload = artifact.as_dict()
    lines = [
        f"{artifact.contract_name}: {artifact.runtime_bytes:,} runtime bytes (EIP-170 limit {EIP170_LIMIT:,}), "
        f"{artifact.compiler.kind} {artifact.compiler.version}, {artifact.compile_seconds:.1f} s",
        f"wrote {artifact.sol_path}, {artifact.abi_path}, {artifact.bin_path}",
    ]
    if artifact.runtime_bytes > EIP170_LIMIT:
        lines.append("warning: too large for chains enforcing EIP-170; consider --reusable")
    if reusable:
        vka = create_vka(vk_path, settings_path, srs_path, out_dir / "model.vka", decimals=decimals)
        payload["vka"] = {"path": str(vka.path), "digest": vka.digest, "words": len(vka.words)}
        lines.append(f"VKA {vka.path} digest {vka.digest}")
    _emit(payload, as_json, lines)


@click.command("deploy")
@_workspace_option
@click.option("--verifier-dir", type=_PATH, default=None, help="Folder written by `zkml verifier` (default: WORKSPACE/evm/plain).")
@click.option("--records", "record_dir", type=_PATH, default=None, help="Folder for deployments.json (default: --verifier-dir).")
@click.option("--vka", "vka_path", type=_EXISTING, default=None, help="Register this VKA on the (reusable) verifier.")
@click.option(
    "--srs-unsafe/--srs-imported",
    default=None,
    help="Whether the keys came from a locally generated development SRS (default: the workspace's record; else unsafe).",
)
@click.option(
    "--i-understand-dev-srs-is-insecure",
    "allow_unsafe_srs",
    is_flag=True,
    help="Deploy a dev-SRS verifier to a non-development chain anyway.",
)
@click.option("--allow-oversize", is_flag=True, help="Skip the EIP-170 size check (chains without the limit).")
@click.option("--keystore", type=_EXISTING, default=None, help="Encrypted keystore (password in ZKML_KEYSTORE_PASSWORD).")
@_rpc_option
@_chain_id_option
@_json_option
def deploy_cmd(
    workspace: Path | None,
    verifier_dir: Path | None,
    record_dir: Path | None,
    vka_path: Path | None,
    srs_unsafe: bool | None,
    allow_unsafe_srs: bool,
    allow_oversize: bool,
    keystore: Path | None,
    rpc_url: str | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Deploy a compiled verifier (reusing an identical one already recorded) and record it."""
    from zkml.evm.deploy import deploy_verifier, register_vka
    from zkml.evm.rpc import resolve_sender
    from zkml.evm.verifier import load_verifier, read_vka

    if workspace is not None:
        facts = _workspace_facts(workspace)
        verifier_dir = verifier_dir or workspace / "evm" / "plain"
        record_dir = record_dir or workspace
        srs_unsafe = facts["srs_unsafe"] if srs_unsafe is None else srs_unsafe
    if verifier_dir is None:
        raise click.UsageError("give -w WORKSPACE or --verifier-dir")
    # Unknown provenance is treated as the dangerous case.
    srs_unsafe = True if srs_unsafe is None else srs_unsafe

    artifact = load_verifier(verifier_dir)
    record_dir = record_dir or verifier_dir
    conn = _connect(rpc_url, chain_id)
    sender = resolve_sender(conn, keystore=keystore)
    deployment = deploy_verifier(
        conn, artifact, record_dir, srs_unsafe=srs_unsafe, allow_unsafe_srs=allow_unsafe_srs, allow_oversize=allow_oversize, sender=sender
    )
    payload: dict[str, Any] = {"verifier": {**deployment.as_dict(), "reused": deployment.reused}}
    state = "reused" if deployment.reused else f"deployed (gas {deployment.gas_used:,}, tx {deployment.tx_hash})"
    lines = [f"verifier {deployment.address} on chain {deployment.chain_id}: {state}"]
    if vka_path is not None:
        vka = read_vka(vka_path)
        reg = register_vka(
            conn, deployment, artifact, vka, record_dir, srs_unsafe=srs_unsafe, allow_unsafe_srs=allow_unsafe_srs, sender=sender
        )
        payload["vka"] = {**reg.as_dict(), "reused": reg.reused}
        lines.append(f"VKA {vka.digest}: {'already registered' if reg.reused else f'registered (gas {reg.gas_used:,})'}")
    lines.append(f"recorded in {Path(record_dir) / 'deployments.json'}")
    _emit(payload, as_json, lines)


@click.command("verify-onchain")
@_workspace_option
@click.option("--address", default=None, help="Deployed verifier address (default: the workspace's recorded one on this chain).")
@click.option("--proof", "proof_path", type=_EXISTING, default=None, help="ezkl proof.json (default: the workspace's).")
@click.option("--vka", "vka_path", type=_EXISTING, default=None, help="The model's VKA (reusable verifier).")
@click.option("--settings", "settings_path", type=_EXISTING, default=None, help="settings.json, to decode the outputs.")
@click.option("--send", is_flag=True, help="Also send an accepted proof as a transaction (measures real gas).")
@_rpc_option
@_chain_id_option
@_json_option
@click.pass_context
def verify_onchain_cmd(
    ctx: click.Context,
    workspace: Path | None,
    address: str | None,
    proof_path: Path | None,
    vka_path: Path | None,
    settings_path: Path | None,
    send: bool,
    rpc_url: str | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Check a proof against a deployed verifier; exit code 1 when it is rejected."""
    from zkml.errors import ConfigError
    from zkml.evm.onchain import decode_instances, verify_onchain
    from zkml.evm.verifier import read_vka

    conn = _connect(rpc_url, chain_id)
    if workspace is not None:
        facts = _workspace_facts(workspace)
        proof_path = proof_path or facts["proof"]
        settings_path = settings_path or facts["settings"]
        address = address or _recorded_address(workspace, conn.chain_id, reusable=vka_path is not None)
        if address is None:
            raise ConfigError(
                f"no verifier of {workspace} is recorded on chain {conn.chain_id}",
                hint="run zkml deploy -w WORKSPACE first, or pass --address",
            )
    if address is None or proof_path is None:
        raise click.UsageError("give -w WORKSPACE, or --address and --proof")
    vka = read_vka(vka_path) if vka_path else None
    result = verify_onchain(conn, address, proof_path, vka=vka, send=send)
    payload = result.as_dict()
    if result.accepted:
        lines = [
            f"accepted by {address} on chain {conn.chain_id}: gas {result.gas_estimate:,} (estimate)"
            + (f", {result.gas_used:,} used in {result.tx_hash}" if result.gas_used else "")
        ]
    else:
        lines = [f"rejected by {address} on chain {conn.chain_id}: {result.reason}"]
    if settings_path is not None:
        decoded = decode_instances(result.instances, settings_path)
        payload["outputs"] = [list(o) for o in decoded.outputs]
        lines.append(f"public outputs: {payload['outputs']}")
    _emit(payload, as_json, lines)
    if not result.accepted:
        ctx.exit(1)


@click.group("chain")
def chain_group() -> None:
    """Run a local anvil chain that other commands use when --rpc-url is not given."""


@chain_group.command("up")
@click.option("--chain-id", type=int, default=31337, show_default=True)
@click.option("--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: a free one).")
def chain_up_cmd(chain_id: int, port: int | None) -> None:
    """Start a detached anvil on 127.0.0.1."""
    from zkml.evm.anvil import chain_up

    node, started = chain_up(chain_id=chain_id, port=port)
    verb = "started" if started else "already running"
    click.echo(f"anvil {verb}: {node.url} (chain id {node.chain_id}, pid {node.pid})")


@chain_group.command("down")
def chain_down_cmd() -> None:
    """Stop the anvil started by `zkml chain up`."""
    from zkml.evm.anvil import chain_down

    node = chain_down()
    click.echo(f"stopped anvil pid {node.pid} ({node.url})" if node else "no local chain was running")


@chain_group.command("status")
@_json_option
def chain_status_cmd(as_json: bool) -> None:
    """Show the local chain, if one is running."""
    from zkml.evm.anvil import chain_status

    node = chain_status()
    if as_json:
        click.echo(json.dumps(node.as_dict() if node else None))
    elif node:
        click.echo(f"running: {node.url} (chain id {node.chain_id}, pid {node.pid})")
    else:
        click.echo("no local chain is running (start one with `zkml chain up`)")


COMMANDS = (verifier_cmd, deploy_cmd, verify_onchain_cmd, chain_group)


def register(group: click.Group) -> None:
    """Add the EVM commands to the main ``zkml`` group."""
    for command in COMMANDS:
        group.add_command(command)
