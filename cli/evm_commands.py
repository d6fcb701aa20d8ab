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
    from zkml.evm.chain import connect, resolve_rpc_url

    return connect(resolve_rpc_url(rpc_url), expected_chain_id=chain_id)


_rpc_option = click.option("--rpc-url", envvar="ZKML_RPC_URL", help="JSON-RPC endpoint (default: the chain from `zkml chain up`).")
_chain_id_option = click.option("--chain-id", type=int, default=None, help="Refuse the endpoint unless it serves this chain id.")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.command("verifier")
@click.option("--vk", "vk_path", type=_EXISTING, required=True, help="Verifying key.")
@click.option("--settings", "settings_path", type=_EXISTING, required=True, help="Circuit settings.json.")
@click.option("--srs", "srs_path", type=_EXISTING, required=True, help="SRS the keys were made with.")
@click.option("--out", "out_dir", type=_PATH, required=True, help="Folder for Verifier.sol/.abi.json/.bin.")
@click.option("--reusable", is_flag=True, help="Circuit-independent verifier plus a per-model VKA (model.vka).")
@click.option("--solc", "solc_path", type=_PATH, default=None, help="Native solc binary or npm solc package folder.")
@click.option("--optimizer-runs", type=int, default=1, show_default=True)
@click.option("--evm-version", default="cancun", show_default=True)
@click.option("--decimals", type=int, default=18, show_default=True, help="VKA rescaling decimals (--reusable).")
@_json_option
def verifier_cmd(
    vk_path: Path, settings_path: Path, srs_path: Path, out_dir: Path, reusable: bool, solc_path: Path | None,
    optimizer_runs: int, evm_version: str, decimals: int, as_json: bool,
) -> None:
    """Generate and compile the Solidity verifier for a verifying key."""
    from zkml.evm.solc import find_compiler
    from zkml.evm.verifier import EIP170_LIMIT, create_vka, generate_verifier

    compiler = find_compiler(solc_path)
    artifact = generate_verifier(vk_path, settings_path, srs_path, out_dir, reusable=reusable, compiler=compiler,
                                 optimizer_runs=optimizer_runs, evm_version=evm_version)
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
@click.option("--verifier-dir", type=_PATH, required=True, help="Folder written by `zkml verifier`.")
@click.option("--records", "record_dir", type=_PATH, default=None, help="Folder for deployments.json (default: --verifier-dir).")
@click.option("--vka", "vka_path", type=_EXISTING, default=None, help="Register this VKA on the (reusable) verifier.")
@click.option("--srs-unsafe/--srs-imported", default=True, show_default=True,
              help="Whether the keys came from a locally generated development SRS.")
@click.option("--i-understand-dev-srs-is-insecure", "allow_unsafe_srs", is_flag=True,
              help="Deploy a dev-SRS verifier to a non-development chain anyway.")
@click.option("--allow-oversize", is_flag=True, help="Skip the EIP-170 size check (chains without the limit).")
@click.option("--keystore", type=_EXISTING, default=None, help="Encrypted keystore (password in ZKML_KEYSTORE_PASSWORD).")
@_rpc_option
@_chain_id_option
@_json_option
def deploy_cmd(
    verifier_dir: Path, record_dir: Path | None, vka_path: Path | None, srs_unsafe: bool, allow_unsafe_srs: bool,
    allow_oversize: bool, keystore: Path | None, rpc_url: str | None, chain_id: int | None, as_json: bool,
) -> None:
    """Deploy a compiled verifier (reusing an identical one already recorded) and record it."""
    from zkml.evm.chain import resolve_sender
    from zkml.evm.deploy import deploy_verifier, register_vka
    from zkml.evm.verifier import load_verifier, read_vka

    artifact = load_verifier(verifier_dir)
    record_dir = record_dir or verifier_dir
    conn = _connect(rpc_url, chain_id)
    sender = resolve_sender(conn, keystore=keystore)
    deployment = deploy_verifier(conn, artifact, record_dir, srs_unsafe=srs_unsafe, allow_unsafe_srs=allow_unsafe_srs,
                                 allow_oversize=allow_oversize, sender=sender)
    payload: dict[str, Any] = {"verifier": {**deployment.as_dict(), "reused": deployment.reused}}
    state = "reused" if deployment.reused else f"deployed (gas {deployment.gas_used:,}, tx {deployment.tx_hash})"
    lines = [f"verifier {deployment.address} on chain {deployment.chain_id}: {state}"]
    if vka_path is not None:
        vka = read_vka(vka_path)
        reg = register_vka(conn, deployment, artifact, vka, record_dir, srs_unsafe=srs_unsafe,
                           allow_unsafe_srs=allow_unsafe_srs, sender=sender)
        payload["vka"] = {**reg.as_dict(), "reused": reg.reused}
        lines.append(f"VKA {vka.digest}: {'already registered' if reg.reused else f'registered (gas {reg.gas_used:,})'}")
    lines.append(f"recorded in {Path(record_dir) / 'deployments.json'}")
    _emit(payload, as_json, lines)


@click.command("verify-onchain")
@click.option("--address", required=True, help="Deployed verifier address.")
@click.option("--proof", "proof_path", type=_EXISTING, required=True, help="ezkl proof.json.")
@click.option("--vka", "vka_path", type=_EXISTING, default=None, help="The model's VKA (reusable verifier).")
@click.option("--settings", "settings_path", type=_EXISTING, default=None, help="settings.json, to decode the outputs.")
@click.option("--send", is_flag=True, help="Also send an accepted proof as a transaction (measures real gas).")
@_rpc_option
@_chain_id_option
@_json_option
@click.pass_context
def verify_onchain_cmd(
    ctx: click.Context, address: str, proof_path: Path, vka_path: Path | None, settings_path: Path | None,
    send: bool, rpc_url: str | None, chain_id: int | None, as_json: bool,
) -> None:
    """Check a proof against a deployed verifier; exit code 1 when it is rejected."""
    from zkml.evm.onchain import decode_instances, verify_onchain
    from zkml.evm.verifier import read_vka

    conn = _connect(rpc_url, chain_id)
    vka = read_vka(vka_path) if vka_path else None
    result = verify_onchain(conn, address, proof_path, vka=vka, send=send)
    payload = result.as_dict()
    if result.accepted:
        lines = [f"accepted by {address} on chain {conn.chain_id}: gas {result.gas_estimate:,} (estimate)"
                 + (f", {result.gas_used:,} used in {result.tx_hash}" if result.gas_used else "")]
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
    from zkml.evm.chain import chain_up

    node, started = chain_up(chain_id=chain_id, port=port)
    verb = "started" if started else "already running"
    click.echo(f"anvil {verb}: {node.url} (chain id {node.chain_id}, pid {node.pid})")


@chain_group.command("down")
def chain_down_cmd() -> None:
    """Stop the anvil started by `zkml chain up`."""
    from zkml.evm.chain import chain_down

    node = chain_down()
    click.echo(f"stopped anvil pid {node.pid} ({node.url})" if node else "no local chain was running")


@chain_group.command("status")
@_json_option
def chain_status_cmd(as_json: bool) -> None:
    """Show the local chain, if one is running."""
    from zkml.evm.chain import chain_status

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
