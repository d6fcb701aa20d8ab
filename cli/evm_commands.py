"""EVM commands: ``verifier``, ``deploy``, ``verify-onchain`` and the ``chain`` group.

Thin wrappers: parse options, call one library function, print. TARGET addresses
the workspace as for every command (a circuit, or a workspace folder such as
``build/mlp_regressor``); without it, explicit files can be given instead. Private
keys come only from the environment (ZKML_PRIVATE_KEY, or ZKML_KEYSTORE +
ZKML_KEYSTORE_PASSWORD) or ``--keystore``, never from options.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from zkml_cli.options import EXISTING_FILE, PATH, Target, chain_connection, circuit_target, emit, json_flag, unsafe_srs_flag

if TYPE_CHECKING:
    from pathlib import Path

    from zkml.evm.rpc import Connection, Sender


@click.command("verifier")
@circuit_target(required=False, batched=True, prebuild=True)
@click.option("--vk", "vk_path", type=EXISTING_FILE, default=None, help="Verifying key (default: the workspace's).")
@click.option("--settings", "settings_path", type=EXISTING_FILE, default=None, help="Circuit settings.json (default: the workspace's).")
@click.option("--srs", "srs_path", type=EXISTING_FILE, default=None, help="SRS the keys were made with (default: the workspace's).")
@click.option(
    "--out", "out_dir", type=PATH, default=None, help="Folder for Verifier.sol/.abi.json/.bin (default: WORKSPACE/evm/plain or /reusable)."
)
@click.option("--reusable", is_flag=True, help="Circuit-independent verifier plus a per-model VKA (model.vka).")
@click.option("--solc", "solc_path", type=PATH, default=None, help="Native solc binary or npm solc package folder.")
@click.option("--optimizer-runs", type=int, default=1, show_default=True)
@click.option("--evm-version", default="cancun", show_default=True)
@click.option("--decimals", type=int, default=18, show_default=True, help="VKA rescaling decimals (--reusable).")
@json_flag
def verifier_cmd(target: Target | None, **options: Any) -> None:
    """Generate and compile the Solidity verifier for a verifying key (give TARGET, or --vk/--settings/--srs/--out)."""
    from zkml.evm.solc import find_compiler
    from zkml.evm.verifier import EIP170_LIMIT, create_vka, generate_verifier

    reusable = options["reusable"]
    paths = {k: options[k] for k in ("vk_path", "settings_path", "srs_path", "out_dir")}
    if target is not None:
        from zkml.srs import keys_srs
        from zkml.workspace import Layout

        layout = Layout(target.workspace)
        defaults = (layout.vk, layout.settings, keys_srs(target.workspace).path, layout.evm_dir(reusable=reusable))
        paths = {k: v or d for (k, v), d in zip(paths.items(), defaults, strict=True)}
    if any(v is None for v in paths.values()):
        raise click.UsageError("give TARGET, or all of --vk, --settings, --srs and --out")
    vk_path, settings_path, srs_path, out_dir = paths.values()
    artifact = generate_verifier(
        vk_path,
        settings_path,
        srs_path,
        out_dir,
        reusable=reusable,
        compiler=find_compiler(options["solc_path"]),
        optimizer_runs=options["optimizer_runs"],
        evm_version=options["evm_version"],
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
        from zkml.workspace import VKA_NAME

        vka = create_vka(vk_path, settings_path, srs_path, out_dir / VKA_NAME, decimals=options["decimals"])
        payload["vka"] = {"path": str(vka.path), "digest": vka.digest, "words": len(vka.words)}
        lines.append(f"VKA {vka.path} digest {vka.digest}")
    emit(payload, options["as_json"], lines)


@click.command("deploy")
@circuit_target(required=False, batched=True, prebuild=True)
@click.option("--verifier-dir", type=PATH, default=None, help="Folder written by `zkml verifier` (default: WORKSPACE/evm/plain).")
@click.option(
    "--records", "record_dir", type=PATH, default=None, help="Folder for deployments.json (default: the workspace, else --verifier-dir)."
)
@click.option("--vka", "vka_path", type=EXISTING_FILE, default=None, help="Register this VKA on the (reusable) verifier.")
@click.option(
    "--srs-unsafe/--srs-imported",
    default=None,
    help="Whether the keys came from a locally generated development SRS (default: the workspace's record; else unsafe).",
)
@unsafe_srs_flag
@click.option("--allow-oversize", is_flag=True, help="Skip the EIP-170 size check (chains without the limit).")
@chain_connection(sender=True)
@json_flag
def deploy_cmd(target: Target | None, conn: Connection, sender: Sender, **options: Any) -> None:
    """Deploy a compiled verifier (reusing an identical one already recorded) and record it."""
    from zkml.evm.deploy import deploy_verifier, register_vka
    from zkml.evm.verifier import load_verifier, read_vka
    from zkml.srs import declared_unsafe_reason, keys_srs
    from zkml.workspace import Layout

    verifier_dir, record_dir = options["verifier_dir"], options["record_dir"]
    recorded = None
    if target is not None:
        recorded = keys_srs(target.workspace)
        verifier_dir = verifier_dir or Layout(target.workspace).evm_dir()
        record_dir = record_dir or target.workspace
    if verifier_dir is None:
        raise click.UsageError("give TARGET or --verifier-dir")
    reason = declared_unsafe_reason(recorded, declared_unsafe=options["srs_unsafe"])
    srs_unsafe = reason is not None
    artifact = load_verifier(verifier_dir)
    record_dir = record_dir or verifier_dir
    allow_unsafe = options["allow_unsafe_srs"]
    deployment = deploy_verifier(
        conn,
        artifact,
        record_dir,
        srs_unsafe=srs_unsafe,
        srs_reason=reason,
        allow_unsafe_srs=allow_unsafe,
        allow_oversize=options["allow_oversize"],
        sender=sender,
    )
    payload: dict[str, Any] = {"verifier": {**deployment.as_dict(), "reused": deployment.reused}}
    state = "reused" if deployment.reused else f"deployed (gas {deployment.gas_used:,}, tx {deployment.tx_hash})"
    lines = [f"verifier {deployment.address} on chain {deployment.chain_id}: {state}"]
    if options["vka_path"] is not None:
        vka = read_vka(options["vka_path"])
        reg = register_vka(
            conn,
            deployment,
            artifact,
            vka,
            record_dir,
            srs_unsafe=srs_unsafe,
            srs_reason=reason,
            allow_unsafe_srs=allow_unsafe,
            sender=sender,
        )
        payload["vka"] = {**reg.as_dict(), "reused": reg.reused}
        lines.append(f"VKA {vka.digest}: {'already registered' if reg.reused else f'registered (gas {reg.gas_used:,})'}")
    lines.append(f"recorded in {Layout(record_dir).deployments}")
    emit(payload, options["as_json"], lines)


def _recorded_verifier(target: Target, chain_id: int, *, reusable: bool) -> str:
    """The newest verifier of TARGET's workspace recorded on this chain (a reusable one has no vk digest)."""
    from zkml.errors import ConfigError
    from zkml.evm.records import DeploymentStore

    found = DeploymentStore.of(target.workspace).verifiers(chain_id, reusable=reusable)
    if not found:
        raise ConfigError(
            f"no verifier of {target.workspace} is recorded on chain {chain_id}", hint="run zkml deploy TARGET first, or pass --address"
        )
    return found[-1].address


@click.command("verify-onchain")
@circuit_target(required=False, batched=True, prebuild=True)
@click.option("--address", default=None, help="Deployed verifier address (default: the workspace's recorded one on this chain).")
@click.option("--proof", "proof_path", type=EXISTING_FILE, default=None, help="ezkl proof.json (default: the workspace's).")
@click.option("--vka", "vka_path", type=EXISTING_FILE, default=None, help="The model's VKA (reusable verifier).")
@click.option("--settings", "settings_path", type=EXISTING_FILE, default=None, help="settings.json, to decode the outputs.")
@click.option("--send", is_flag=True, help="Also send an accepted proof as a transaction (measures real gas).")
@chain_connection
@json_flag
@click.pass_context
def verify_onchain_cmd(
    ctx: click.Context,
    target: Target | None,
    conn: Connection,
    address: str | None,
    proof_path: Path | None,
    vka_path: Path | None,
    settings_path: Path | None,
    send: bool,
    as_json: bool,
) -> None:
    """Check a proof against a deployed verifier; exit code 1 when it is rejected."""
    from zkml.evm.onchain import decode_instances, verify_onchain
    from zkml.evm.verifier import read_vka
    from zkml.workspace import Layout

    if target is not None:
        layout = Layout(target.workspace)
        proof_path = proof_path or layout.proof
        settings_path = settings_path or layout.settings
        address = address or _recorded_verifier(target, conn.chain_id, reusable=vka_path is not None)
    if address is None or proof_path is None:
        raise click.UsageError("give TARGET, or --address and --proof")
    result = verify_onchain(conn, address, proof_path, vka=read_vka(vka_path) if vka_path else None, send=send)
    payload = result.as_dict()
    if result.accepted:
        used = f", {result.gas_used:,} used in {result.tx_hash}" if result.gas_used else ""
        lines = [f"accepted by {address} on chain {conn.chain_id}: gas {result.gas_estimate:,} (estimate){used}"]
    else:
        lines = [f"rejected by {address} on chain {conn.chain_id}: {result.reason}"]
    if settings_path is not None:
        payload["outputs"] = [list(o) for o in decode_instances(result.instances, settings_path).outputs]
        lines.append(f"public outputs: {payload['outputs']}")
    emit(payload, as_json, lines)
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
@json_flag
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
