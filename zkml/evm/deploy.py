"""Deploy contracts, or reuse the recorded ones whose code is on chain; register VKAs.

:func:`deploy_contract` is the one deployment path: it looks the contract up in
the folder's :class:`~zkml.evm.records.DeploymentStore`, reuses a recorded
deployment that is still live, resumes a pending one whose receipt was never
seen, and otherwise dry-runs, sends and records the deployment (pending first,
mined once the receipt is in). :func:`deploy_verifier` puts the size and SRS
guards in front of it for verifiers; the oracle and its consumer call it directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkml.artifacts import sha256_bytes
from zkml.errors import ChainError, ContractRevertError, EvmError, UnsafeSrsError
from zkml.evm.onchain import ProofData, encode_calldata
from zkml.evm.records import MINED, PENDING, Deployment, DeploymentStore, matches
from zkml.evm.reverts import ErrorTable
from zkml.evm.rpc import (
    Connection,
    Sender,
    call,
    code_at,
    get_receipt,
    is_dev_chain,
    resolve_sender,
    reverted,
    succeeded,
    transact,
    transaction_known,
    wait_for_receipt,
)
from zkml.evm.verifier import VerifierArtifact, Vka, check_runtime_size

log = logging.getLogger(__name__)

LiveCheck = Callable[[Connection, Deployment], bool]


@dataclass(frozen=True)
class Deployable:
    """A compiled contract to deploy, and how its deployment is recorded.

    Attributes:
        kind: the record kind (``verifier``, ``oracle``, ``consumer``, ...).
        name: the contract name.
        creation_code: creation bytecode with the constructor arguments appended.
        runtime_sha256: sha256 of the compiled runtime code.
        slot: the fields that tell this deployment apart from others of its kind on a
            chain (a verifier's runtime hash, a consumer's pins); a recorded deployment
            with the same kind, chain and slot is reused or replaced.
        fields: more fields to record (``compiler``, ``vk_sha256``, ...).
        errors: the contract's errors, to decode a reverting constructor.
        revert_hint: what to say when the mined deployment failed.
    """

    kind: str
    name: str
    creation_code: bytes
    runtime_sha256: str
    slot: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    errors: ErrorTable | None = None
    revert_hint: str | None = None


def code_matches(conn: Connection, deployment: Deployment) -> bool:
    """The default liveness check: the recorded runtime code is at the recorded address."""
    code = code_at(conn, deployment.address)
    return bool(code) and sha256_bytes(code) == deployment.runtime_sha256


def deploy_contract(
    conn: Connection,
    record_dir: Path,
    contract: Deployable,
    *,
    sender: Sender | None = None,
    is_live: LiveCheck = code_matches,
) -> Deployment:
    """Deploy a compiled contract, or reuse the recorded one that is still live.

    Args:
        conn: the chain.
        record_dir: the folder whose deployments record (:attr:`zkml.workspace.Layout.deployments`) it goes to.
        contract: what to deploy and how to record it.
        sender: the account; resolved from the environment when None (and only if needed).
        is_live: whether a recorded deployment of the same runtime code still serves
            (default: that code is at its address); contracts with immutables check
            their pins instead.

    Returns:
        The deployment (``reused=True`` when nothing was sent).

    Raises:
        ContractRevertError: the constructor reverted (decoded with ``contract.errors``).
        ChainError: the RPC, account or transaction failed; the record is unreadable.
    """
    store = DeploymentStore.of(record_dir)
    slot = {"kind": contract.kind, "chain_id": conn.chain_id, **contract.slot}

    def live(conn: Connection, recorded: Deployment) -> bool:
        # Code compiled from other sources is another contract, even in the same slot.
        return recorded.runtime_sha256 == contract.runtime_sha256 and is_live(conn, recorded)

    for entry in store.load():
        if not matches(entry, slot):
            continue
        if entry.get("status") == MINED:
            recorded = Deployment.from_dict(entry)
            if live(conn, recorded):
                log.info("%s already at %s on chain %d; reusing it", contract.name, recorded.address, conn.chain_id)
                return recorded.as_reused()
            # Chain reset (anvil restarted) or another chain with the same id: deploy again.
            log.info("recorded %s %s is gone from chain %d; deploying again", contract.name, recorded.address, conn.chain_id)
            store.forget(recorded.tx_hash)
        elif entry.get("status") == PENDING:
            resumed = _resume_pending(conn, store, entry, live)
            if resumed is not None:
                return resumed
    return _deploy_new(conn, store, contract, {**slot, "name": contract.name}, sender or resolve_sender(conn))


def _deploy_new(conn: Connection, store: DeploymentStore, contract: Deployable, slot: dict[str, Any], sender: Sender) -> Deployment:
    pending = {**slot, "runtime_sha256": contract.runtime_sha256, **contract.fields}
    doing = f"deploying {contract.name}"
    receipt = transact(
        conn,
        sender,
        contract.creation_code,
        doing,
        errors=contract.errors,
        on_sent=lambda tx_hash: store.remember_pending(pending, tx_hash),
        check=False,
    )
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    if not succeeded(receipt, creation=True):
        store.forget(tx_hash)
        raise reverted(conn, sender, contract.creation_code, doing, receipt, errors=contract.errors, hint=contract.revert_hint)
    deployment = Deployment.mined(pending, receipt)
    store.replace({"tx_hash": tx_hash}, deployment)
    log.info("%s deployed at %s on chain %d (gas %d)", contract.name, deployment.address, conn.chain_id, deployment.gas_used)
    return deployment


def _resume_pending(conn: Connection, store: DeploymentStore, entry: dict[str, Any], is_live: LiveCheck) -> Deployment | None:
    """Finish a deployment whose receipt was never seen (the RPC died after sending)."""
    tx_hash = str(entry["tx_hash"])
    receipt = get_receipt(conn, tx_hash)
    if receipt is None and transaction_known(conn, tx_hash):
        # Sent but not mined yet: deploying again now would deploy twice. Wait for it.
        log.info("pending transaction %s is still in the mempool of chain %d; waiting for it", tx_hash, conn.chain_id)
        receipt = wait_for_receipt(conn, tx_hash)
    if receipt is None:
        # Dropped (or the chain was reset): forget it and deploy afresh.
        log.info("pending transaction %s is unknown to chain %d; deploying again", tx_hash, conn.chain_id)
        store.forget(tx_hash)
        return None
    deployment = Deployment.mined(entry, receipt) if succeeded(receipt, creation=True) else None
    if deployment is None or not is_live(conn, deployment):
        store.forget(tx_hash)
        return None
    store.replace({"tx_hash": tx_hash}, deployment)
    log.info("resumed pending deployment %s: %s at %s", tx_hash, deployment.name, deployment.address)
    return deployment.as_reused()


# --------------------------------------------------------------------------- verifiers


def check_srs_guard(chain_id: int, *, srs_unsafe: bool, allow_unsafe_srs: bool, reason: str | None = None) -> None:
    """Refuse to put a verifier made from an unsafe SRS on a non-development chain.

    A locally generated SRS has known toxic waste: anyone who has it can forge
    proofs the verifier accepts. That is fine on anvil, never on a real chain.
    An SRS imported without a pinned sha256 is refused the same way: its origin
    is unknown, so it may be just such an SRS made elsewhere.

    Args:
        chain_id: the chain the verifier or VKA goes to.
        srs_unsafe: the keys came from an unsafe SRS (:attr:`zkml.artifacts.Srs.unsafe`).
        allow_unsafe_srs: go ahead anyway (a throwaway test deployment).
        reason: :attr:`zkml.artifacts.Srs.unsafe_reason`, ``"dev-unsafe"`` or
            ``"unpinned"``; it picks the message, and any reason counts as unsafe.
            None reads as a development SRS, as before the reason existed.

    Raises:
        UnsafeSrsError: refused.
    """
    if not (srs_unsafe or reason is not None) or is_dev_chain(chain_id):
        return
    unpinned = reason == "unpinned"
    what = "an unpinned SRS (imported without a pinned sha256)" if unpinned else "a development SRS"
    if allow_unsafe_srs:
        log.warning("deploying a verifier made from %s to chain %d: proofs can be forged", what, chain_id)
        return
    if unpinned:
        raise UnsafeSrsError(
            f"refusing to deploy to chain {chain_id}: the verifying key comes from {what}, whose origin is unknown "
            "(it may be a development SRS made elsewhere), so it is treated like one: proofs this verifier accepts could be forged",
            hint="import the SRS again pinned to the digest its source publishes (zkml srs import FILE --sha256 HEX), or pass "
            "--i-understand-dev-srs-is-insecure for a throwaway test deployment",
        )
    raise UnsafeSrsError(
        f"refusing to deploy to chain {chain_id}: the verifying key comes from {what}, "
        "whose secret is known, so anyone could forge proofs this verifier accepts",
        hint="make the keys with an SRS from the Perpetual Powers of Tau ceremony, or pass "
        "--i-understand-dev-srs-is-insecure for a throwaway test deployment",
    )


def deploy_verifier(
    conn: Connection,
    artifact: VerifierArtifact,
    record_dir: Path,
    *,
    srs_unsafe: bool,
    srs_reason: str | None = None,
    allow_unsafe_srs: bool = False,
    allow_oversize: bool = False,
    sender: Sender | None = None,
) -> Deployment:
    """Deploy a compiled verifier, or reuse an identical one already on the chain.

    Args:
        conn: the chain.
        artifact: the verifier from :func:`zkml.evm.verifier.generate_verifier`.
        record_dir: the folder whose deployments record (:attr:`zkml.workspace.Layout.deployments`) it goes to.
        srs_unsafe: the verifying key came from an unsafe SRS (development, or imported unpinned).
        srs_reason: why (``dev-unsafe`` or ``unpinned``: :attr:`zkml.artifacts.Srs.unsafe_reason`); picks the message.
        allow_unsafe_srs: deploy such a verifier to a non-dev chain anyway.
        allow_oversize: skip the EIP-170 check (chains without the limit).
        sender: the account; :func:`zkml.evm.rpc.resolve_sender` when None.

    Returns:
        The deployment (``reused=True`` when the recorded contract's code is on chain).

    Raises:
        ContractTooLargeError: runtime code over EIP-170 and not allowed.
        UnsafeSrsError: development SRS to a non-dev chain and not allowed.
        ChainError: the RPC, account or transaction failed.
    """
    # Both refusals happen before anything is sent.
    check_runtime_size(artifact.runtime_bytes, allow_oversize=allow_oversize)
    check_srs_guard(conn.chain_id, srs_unsafe=srs_unsafe, allow_unsafe_srs=allow_unsafe_srs, reason=srs_reason)
    contract = Deployable(
        kind="verifier",
        name=artifact.contract_name,
        creation_code=artifact.creation_code(),
        runtime_sha256=artifact.runtime_sha256,
        slot={"runtime_sha256": artifact.runtime_sha256},
        fields={
            "vk_sha256": "" if artifact.reusable else artifact.vk_sha256,
            "compiler": artifact.compiler.as_dict(),
            "srs_unsafe": srs_unsafe,
        },
        revert_hint="the chain may enforce a code-size or gas limit the verifier exceeds",
    )
    return deploy_contract(conn, record_dir, contract, sender=sender)


def register_vka(
    conn: Connection,
    verifier: Deployment | str,
    artifact: VerifierArtifact,
    vka: Vka,
    record_dir: Path,
    *,
    srs_unsafe: bool,
    srs_reason: str | None = None,
    allow_unsafe_srs: bool = False,
    sender: Sender | None = None,
) -> Deployment:
    """Register one model's VKA on a deployed reusable verifier (once per chain).

    Args:
        conn: the chain.
        verifier: the reusable verifier's deployment, or its address.
        artifact: the reusable verifier artifact (for its runtime hash and compiler).
        vka: the model's VKA.
        record_dir: the folder whose deployments record (:attr:`zkml.workspace.Layout.deployments`) it goes to.
        srs_unsafe: the model's keys came from an unsafe SRS (development, or imported unpinned).
        srs_reason: why (``dev-unsafe`` or ``unpinned``); picks the message.
        allow_unsafe_srs: register such a VKA on a non-dev chain anyway.
        sender: the account; resolved from the environment when None.

    Raises:
        EvmError: ``artifact`` is not a reusable verifier.
        UnsafeSrsError: development SRS on a non-dev chain and not allowed.
        ChainError: the verifier's code is not at the address, or the transaction failed.
    """
    if not artifact.reusable:
        raise EvmError("VKAs are registered on the reusable verifier", hint="generate it with --reusable")
    check_srs_guard(conn.chain_id, srs_unsafe=srs_unsafe, allow_unsafe_srs=allow_unsafe_srs, reason=srs_reason)
    address = conn.w3.to_checksum_address(verifier.address if isinstance(verifier, Deployment) else verifier)
    code = code_at(conn, address)
    if not code or sha256_bytes(code) != artifact.runtime_sha256:
        raise ChainError(
            f"no reusable verifier matching {artifact.record_path} at {address} on chain {conn.chain_id}",
            hint="make it with `zkml verifier --reusable` and deploy that folder with `zkml deploy --verifier-dir`",
        )
    store = DeploymentStore.of(record_dir)
    slot = {"kind": "vka", "runtime_sha256": artifact.runtime_sha256, "vka_digest": vka.digest, "address": address}
    recorded = store.latest(conn.chain_id, **slot)
    if recorded is not None and _vka_registered(conn, address, vka):
        return recorded.as_reused()
    contract = conn.w3.eth.contract(address=address, abi=artifact.abi())
    data = contract.encode_abi("registerVka", args=[list(vka.words)])
    receipt = transact(conn, sender or resolve_sender(conn), data, "registering the VKA", to=address)
    fields = {**slot, "chain_id": conn.chain_id, "name": artifact.contract_name, "vk_sha256": vka.vk_sha256}
    deployment = Deployment.mined({**fields, "compiler": artifact.compiler.as_dict(), "srs_unsafe": srs_unsafe}, receipt, address=address)
    store.replace({**slot, "chain_id": conn.chain_id}, deployment)
    return deployment


def _vka_registered(conn: Connection, address: str, vka: Vka) -> bool:
    # registeredVkas is not public; a call with an empty proof tells "not registered"
    # (require message) apart from "registered but proof invalid" (bare revert).
    try:
        call(conn, address, encode_calldata(ProofData(b"", ()), vka=vka), "checking the VKA registration")
    except ContractRevertError as exc:
        return "VKA not registered" not in str(exc)
    return True


__all__ = ["Deployable", "Deployment", "check_srs_guard", "code_matches", "deploy_contract", "deploy_verifier", "register_vka"]
