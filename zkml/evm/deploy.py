"""Deploy verifiers and register VKAs, keeping a deployments record.

``deployments.json`` (in a folder the caller chooses) lists every deployment and
VKA registration: chain id, address, transaction, gas, block, compiler settings
and the verifying-key digest. It is rewritten atomically, and a transaction is
recorded as *pending* the moment the node accepts it, so an RPC that dies
mid-deploy leaves a record that is intact and tells the retry which transaction
to look for instead of deploying a second copy.

RPC URLs are deliberately not recorded: hosted endpoints embed API keys in them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zkml.artifacts import sha256_bytes
from zkml.errors import ChainError
from zkml.evm.chain import Connection, Sender, get_receipt, resolve_sender, send_transaction, translate_error, wait_for_receipt
from zkml.errors import UnsafeSrsError
from zkml.evm.verifier import VerifierArtifact, Vka, check_runtime_size
from zkml.workspace import write_json_atomic

log = logging.getLogger(__name__)

RECORD_NAME = "deployments.json"
RECORD_VERSION = 1

Kind = Literal["verifier", "vka"]


@dataclass(frozen=True)
class Deployment:
    """One verifier deployment or VKA registration on one chain.

    Attributes:
        kind: ``verifier`` (a contract was created) or ``vka`` (a VKA was registered).
        chain_id: the chain.
        address: the verifier's address (for ``vka``: the reusable verifier it is registered on).
        tx_hash: the transaction, or the original one when reused.
        gas_used: gas of that transaction.
        block_number: block it was mined in.
        runtime_sha256: sha256 of the verifier's runtime code.
        vk_sha256: sha256 of the verifying key (plain verifier or VKA's model).
        vka_digest: keccak256 of the VKA words (``vka`` only).
        compiler: compiler settings the verifier was built with.
        srs_unsafe: the keys came from a development SRS.
        reused: True when nothing was sent because the record and the chain already had it.
    """

    kind: Kind
    chain_id: int
    address: str
    tx_hash: str
    gas_used: int
    block_number: int
    runtime_sha256: str
    vk_sha256: str
    vka_digest: str
    compiler: dict[str, Any]
    srs_unsafe: bool
    reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Record form (``reused`` is a property of the call, not of the deployment)."""
        return {
            "kind": self.kind,
            "status": "mined",
            "chain_id": self.chain_id,
            "address": self.address,
            "tx_hash": self.tx_hash,
            "gas_used": self.gas_used,
            "block_number": self.block_number,
            "runtime_sha256": self.runtime_sha256,
            "vk_sha256": self.vk_sha256,
            "vka_digest": self.vka_digest,
            "compiler": self.compiler,
            "srs_unsafe": self.srs_unsafe,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, reused: bool = False) -> Deployment:
        """Inverse of :meth:`as_dict`."""
        return cls(
            kind=data["kind"],
            chain_id=int(data["chain_id"]),
            address=data["address"],
            tx_hash=data["tx_hash"],
            gas_used=int(data["gas_used"]),
            block_number=int(data["block_number"]),
            runtime_sha256=data["runtime_sha256"],
            vk_sha256=data.get("vk_sha256", ""),
            vka_digest=data.get("vka_digest", ""),
            compiler=dict(data.get("compiler", {})),
            srs_unsafe=bool(data.get("srs_unsafe", False)),
            reused=reused,
        )


class DeploymentRecord:
    """``deployments.json`` in a folder: read, match and update entries atomically."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / RECORD_NAME

    def load(self) -> list[dict[str, Any]]:
        """All entries; a missing file is an empty record."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            # Refuse rather than overwrite: the record is the only memory of what is on chain.
            raise ChainError(f"{self.path} is unreadable ({exc})", hint="repair or move it away, then run again") from exc
        entries = data.get("deployments", []) if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ChainError(f"{self.path} has an unknown format", hint="repair or move it away, then run again")
        return entries

    def save(self, entries: list[dict[str, Any]]) -> None:
        """Rewrite the record atomically."""
        write_json_atomic(self.path, {"version": RECORD_VERSION, "deployments": entries})

    def deployments(self) -> list[Deployment]:
        """Mined entries as :class:`Deployment` objects."""
        return [Deployment.from_dict(e) for e in self.load() if e.get("status") == "mined"]

    def _replace(self, match: dict[str, Any], new: dict[str, Any] | None) -> None:
        entries = [e for e in self.load() if not all(e.get(k) == v for k, v in match.items())]
        if new is not None:
            entries.append(new)
        self.save(entries)


def _matches(entry: dict[str, Any], kind: Kind, chain_id: int, runtime_sha: str, vka_digest: str, address: str | None) -> bool:
    return (
        entry.get("kind") == kind
        and entry.get("chain_id") == chain_id
        and entry.get("runtime_sha256") == runtime_sha
        and entry.get("vka_digest", "") == vka_digest
        and (address is None or str(entry.get("address", "")).lower() == address.lower())
    )


def check_srs_guard(chain_id: int, *, srs_unsafe: bool, allow_unsafe_srs: bool) -> None:
    """Refuse to put a verifier made from a development SRS on a non-development chain.

    A locally generated SRS has known toxic waste: anyone who has it can forge
    proofs the verifier accepts. That is fine on anvil, never on a real chain.

    Raises:
        UnsafeSrsError: refused.
    """
    from zkml.evm.chain import is_dev_chain

    if srs_unsafe and not is_dev_chain(chain_id):
        if allow_unsafe_srs:
            log.warning("deploying a verifier made from a development SRS to chain %d: proofs can be forged", chain_id)
            return
        raise UnsafeSrsError(
            f"refusing to deploy to chain {chain_id}: the verifying key comes from a development SRS, "
            "whose secret is known, so anyone could forge proofs this verifier accepts",
            hint="make the keys with an SRS from the Perpetual Powers of Tau ceremony, or pass "
            "--i-understand-dev-srs-is-insecure for a throwaway test deployment",
        )


def _code_matches(conn: Connection, address: str, runtime_sha: str) -> bool:
    try:
        code = bytes(conn.w3.eth.get_code(conn.w3.to_checksum_address(address)))
    except Exception as exc:
        from zkml.evm.chain import translate_error

        raise translate_error(conn, exc, f"reading the code at {address}") from exc
    return bool(code) and sha256_bytes(code) == runtime_sha


def deploy_verifier(
    conn: Connection,
    artifact: VerifierArtifact,
    record_dir: Path,
    *,
    srs_unsafe: bool,
    allow_unsafe_srs: bool = False,
    allow_oversize: bool = False,
    sender: Sender | None = None,
) -> Deployment:
    """Deploy a compiled verifier, or reuse an identical one already on the chain.

    Args:
        conn: the chain.
        artifact: the verifier from :func:`zkml.evm.verifier.generate_verifier`.
        record_dir: folder holding ``deployments.json``.
        srs_unsafe: the verifying key came from a development SRS.
        allow_unsafe_srs: deploy such a verifier to a non-dev chain anyway.
        allow_oversize: skip the EIP-170 check (chains without the limit).
        sender: the account; :func:`zkml.evm.chain.resolve_sender` when None.

    Returns:
        The deployment (``reused=True`` when the recorded contract's code is on chain).

    Raises:
        ContractTooLargeError: runtime code over EIP-170 and not allowed.
        UnsafeSrsError: development SRS to a non-dev chain and not allowed.
        ChainError: the RPC, account or transaction failed.
    """
    # Both refusals happen before anything is sent.
    check_runtime_size(artifact.runtime_bytes, allow_oversize=allow_oversize)
    check_srs_guard(conn.chain_id, srs_unsafe=srs_unsafe, allow_unsafe_srs=allow_unsafe_srs)
    record = DeploymentRecord(record_dir)
    runtime_sha = artifact.runtime_sha256
    vk_sha = "" if artifact.reusable else artifact.vk_sha256

    for entry in record.load():
        if not _matches(entry, "verifier", conn.chain_id, runtime_sha, "", None):
            continue
        if entry.get("status") == "mined":
            if _code_matches(conn, entry["address"], runtime_sha):
                log.info("verifier already at %s on chain %d; reusing it", entry["address"], conn.chain_id)
                return Deployment.from_dict(entry, reused=True)
            # Chain reset (anvil restarted) or a different chain with the same id: deploy again.
            log.info("recorded verifier %s has no matching code on chain %d; deploying again", entry["address"], conn.chain_id)
            record._replace({"kind": "verifier", "chain_id": conn.chain_id, "address": entry["address"]}, None)
        elif entry.get("status") == "pending":
            resumed = _resume_pending(conn, record, entry, runtime_sha)
            if resumed is not None:
                return resumed

    sender = sender or resolve_sender(conn)
    pending_base = {
        "kind": "verifier",
        "status": "pending",
        "chain_id": conn.chain_id,
        "runtime_sha256": runtime_sha,
        "vka_digest": "",
        "vk_sha256": vk_sha,
        "compiler": artifact.compiler.as_dict(),
        "srs_unsafe": srs_unsafe,
    }

    def remember(tx_hash: str) -> None:
        record._replace({"tx_hash": tx_hash}, {**pending_base, "tx_hash": tx_hash})

    receipt = send_transaction(conn, sender, {"data": "0x" + artifact.creation_code().hex()}, on_sent=remember)
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        record._replace({"tx_hash": tx_hash}, None)
        raise ChainError(
            f"verifier deployment {tx_hash} reverted on chain {conn.chain_id} (gas used {receipt['gasUsed']})",
            hint="the chain may enforce a code-size or gas limit the verifier exceeds",
        )
    deployment = _mined(pending_base, receipt, vk_sha)
    record._replace({"tx_hash": tx_hash}, deployment.as_dict())
    log.info("verifier deployed at %s on chain %d (gas %d)", deployment.address, conn.chain_id, deployment.gas_used)
    return deployment


def _mined(base: dict[str, Any], receipt: Any, vk_sha: str, address: str | None = None) -> Deployment:
    return Deployment(
        kind=base["kind"],
        chain_id=base["chain_id"],
        address=address or str(receipt["contractAddress"]),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        gas_used=int(receipt["gasUsed"]),
        block_number=int(receipt["blockNumber"]),
        runtime_sha256=base["runtime_sha256"],
        vk_sha256=vk_sha,
        vka_digest=base.get("vka_digest", ""),
        compiler=dict(base.get("compiler", {})),
        srs_unsafe=bool(base.get("srs_unsafe", False)),
    )


def _transaction_known(conn: Connection, tx_hash: str) -> bool:
    """Whether the node still knows a transaction (mined or waiting in its mempool)."""
    try:
        conn.w3.eth.get_transaction(tx_hash)
    except Exception as exc:
        if type(exc).__name__ == "TransactionNotFound":
            return False
        raise translate_error(conn, exc, f"looking up transaction {tx_hash}") from exc
    return True


def _resume_pending(conn: Connection, record: DeploymentRecord, entry: dict[str, Any], runtime_sha: str) -> Deployment | None:
    """Finish a deployment whose receipt was never seen (the RPC died after sending)."""
    tx_hash = entry["tx_hash"]
    receipt = get_receipt(conn, tx_hash)
    if receipt is None and _transaction_known(conn, tx_hash):
        # Sent but not mined yet: deploying again now would deploy twice. Wait for it.
        log.info("pending transaction %s is still in the mempool of chain %d; waiting for it", tx_hash, conn.chain_id)
        receipt = wait_for_receipt(conn, tx_hash)
    if receipt is None:
        # Dropped (or the chain was reset): forget it and deploy afresh.
        log.info("pending transaction %s is unknown to chain %d; deploying again", tx_hash, conn.chain_id)
        record._replace({"tx_hash": tx_hash}, None)
        return None
    if receipt["status"] != 1 or not receipt.get("contractAddress") or not _code_matches(conn, receipt["contractAddress"], runtime_sha):
        record._replace({"tx_hash": tx_hash}, None)
        return None
    deployment = _mined(entry, receipt, entry.get("vk_sha256", ""))
    record._replace({"tx_hash": tx_hash}, deployment.as_dict())
    log.info("resumed pending deployment %s: verifier at %s", tx_hash, deployment.address)
    return Deployment.from_dict(deployment.as_dict(), reused=True)


def register_vka(
    conn: Connection,
    verifier: Deployment | str,
    artifact: VerifierArtifact,
    vka: Vka,
    record_dir: Path,
    *,
    srs_unsafe: bool,
    allow_unsafe_srs: bool = False,
    sender: Sender | None = None,
) -> Deployment:
    """Register one model's VKA on a deployed reusable verifier (once per chain).

    Args:
        conn: the chain.
        verifier: the reusable verifier's deployment, or its address.
        artifact: the reusable verifier artifact (for its runtime hash and compiler).
        vka: the model's VKA.
        record_dir: folder holding ``deployments.json``.
        srs_unsafe: the model's keys came from a development SRS.
        allow_unsafe_srs: register such a VKA on a non-dev chain anyway.
        sender: the account; resolved from the environment when None.

    Raises:
        EvmError: ``artifact`` is not a reusable verifier.
        UnsafeSrsError: development SRS on a non-dev chain and not allowed.
        ChainError: the verifier's code is not at the address, or the transaction failed.
    """
    from zkml.errors import EvmError

    if not artifact.reusable:
        raise EvmError("VKAs are registered on the reusable verifier", hint="generate it with --reusable")
    check_srs_guard(conn.chain_id, srs_unsafe=srs_unsafe, allow_unsafe_srs=allow_unsafe_srs)
    address = verifier.address if isinstance(verifier, Deployment) else verifier
    if not _code_matches(conn, address, artifact.runtime_sha256):
        raise ChainError(
            f"no reusable verifier matching {artifact.record_path} at {address} on chain {conn.chain_id}",
            hint="make it with `zkml verifier --reusable` and deploy that folder with `zkml deploy --verifier-dir`",
        )
    record = DeploymentRecord(record_dir)
    for entry in record.load():
        if (
            _matches(entry, "vka", conn.chain_id, artifact.runtime_sha256, vka.digest, address)
            and entry.get("status") == "mined"
            and _vka_registered(conn, address, artifact, vka)
        ):
            return Deployment.from_dict(entry, reused=True)
    contract = conn.w3.eth.contract(address=conn.w3.to_checksum_address(address), abi=artifact.abi())
    data = contract.encode_abi("registerVka", args=[list(vka.words)])
    sender = sender or resolve_sender(conn)
    receipt = send_transaction(conn, sender, {"to": contract.address, "data": data})
    if receipt["status"] != 1:
        raise ChainError(f"registerVka reverted on chain {conn.chain_id}")
    base = {
        "kind": "vka",
        "chain_id": conn.chain_id,
        "runtime_sha256": artifact.runtime_sha256,
        "vka_digest": vka.digest,
        "compiler": artifact.compiler.as_dict(),
        "srs_unsafe": srs_unsafe,
    }
    deployment = _mined(base, receipt, vka.vk_sha256, address=contract.address)
    record._replace({"kind": "vka", "chain_id": conn.chain_id, "vka_digest": vka.digest, "address": contract.address}, deployment.as_dict())
    return deployment


def _vka_registered(conn: Connection, address: str, artifact: VerifierArtifact, vka: Vka) -> bool:
    # registeredVkas is not public; a call with an empty proof tells "not registered"
    # (require message) apart from "registered but proof invalid" (bare revert).
    contract = conn.w3.eth.contract(address=conn.w3.to_checksum_address(address), abi=artifact.abi())
    try:
        contract.functions.verifyProof(b"", [], list(vka.words)).call()
    except Exception as exc:
        return "VKA not registered" not in str(exc)
    return True
