"""The deployments record of a folder: every contract deployed from it, per chain and name.

One record type (:class:`Deployment`) and one store (:class:`DeploymentStore`)
serve every contract zkml puts on a chain: verifiers, VKA registrations, the
oracle and its consumers, and whatever comes next. The store is the folder's
``deployments.json`` (:attr:`zkml.workspace.Layout.deployments`). Entries are
looked up by chain id and contract name, as ape's deployments cache does, plus
the fields that tell two deployments of one kind apart (a verifier's runtime
hash, a VKA's digest, a consumer's oracle and model).

The file is rewritten atomically, and a transaction is recorded as *pending* the
moment the node accepts it, so an RPC that dies mid-deploy leaves a record that
is intact and tells the retry which transaction to look for instead of deploying
a second copy. A file that exists but cannot be read is never overwritten: it is
the only memory of what is on chain.

RPC URLs are deliberately not recorded: hosted endpoints embed API keys in them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import ChainError
from zkml.workspace import Layout, write_json_atomic

if TYPE_CHECKING:
    from web3.types import TxReceipt

RECORD_VERSION = 1
MINED = "mined"
PENDING = "pending"
# Kind-specific fields: absent from an entry means this default.
_OPTIONAL: dict[str, Any] = {"name": "", "vk_sha256": "", "vka_digest": "", "srs_unsafe": False, "oracle": "", "model_id": ""}


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """One contract deployment (or VKA registration) on one chain.

    Attributes:
        kind: ``verifier``, ``vka`` (a VKA registered on a reusable verifier),
            ``oracle`` or ``consumer``.
        name: the contract (``Halo2Verifier``, ``VerifiedPredictionOracle``, ``ForecastVault``, ...).
        chain_id: the chain.
        address: the contract (for ``vka``: the reusable verifier it is registered on).
        tx_hash: the transaction, or the original one when reused.
        gas_used: gas of that transaction.
        block_number: block it was mined in.
        runtime_sha256: sha256 of the compiled runtime code.
        vk_sha256: a verifier's (or VKA's) verifying key; empty for the reusable verifier.
        vka_digest: keccak256 of the VKA words (``vka`` only).
        compiler: the compiler settings the contract was built with.
        srs_unsafe: a verifier's keys came from a development SRS.
        oracle: a consumer's oracle.
        model_id: a consumer's model id (``0x`` hex).
        reused: nothing was sent because the recorded contract is on chain (a property of the call).
    """

    kind: str
    name: str = ""
    chain_id: int
    address: str
    tx_hash: str
    gas_used: int
    block_number: int
    runtime_sha256: str
    vk_sha256: str = ""
    vka_digest: str = ""
    compiler: dict[str, Any] = field(default_factory=dict)
    srs_unsafe: bool = False
    oracle: str = ""
    model_id: str = ""
    reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Record form: kind-specific fields only when set (``reused`` is never recorded)."""
        data: dict[str, Any] = {"status": MINED, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name != "reused" and (item.name not in _OPTIONAL or value != _OPTIONAL[item.name]) and value != {}:
                data[item.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, reused: bool = False) -> Deployment:
        """Inverse of :meth:`as_dict`."""
        return cls(
            kind=str(data["kind"]),
            name=str(data.get("name", "")),
            chain_id=int(data["chain_id"]),
            address=str(data["address"]),
            tx_hash=str(data["tx_hash"]),
            gas_used=int(data["gas_used"]),
            block_number=int(data["block_number"]),
            runtime_sha256=str(data["runtime_sha256"]),
            vk_sha256=str(data.get("vk_sha256", "")),
            vka_digest=str(data.get("vka_digest", "")),
            compiler=dict(data.get("compiler", {})),
            srs_unsafe=bool(data.get("srs_unsafe", False)),
            oracle=str(data.get("oracle", "")),
            model_id=str(data.get("model_id", "")),
            reused=reused,
        )

    @classmethod
    def mined(cls, pending: Mapping[str, Any], receipt: TxReceipt, *, address: str | None = None) -> Deployment:
        """The deployment a pending entry became, from its receipt."""
        return cls.from_dict(
            {
                **pending,
                "address": address or str(receipt["contractAddress"]),
                "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
                "gas_used": int(receipt["gasUsed"]),
                "block_number": int(receipt["blockNumber"]),
            }
        )

    def as_reused(self) -> Deployment:
        """The same deployment, flagged as found rather than made by this call."""
        return dataclasses.replace(self, reused=True)


def matches(entry: Mapping[str, Any], match: Mapping[str, Any]) -> bool:
    """Whether a record entry has every field of ``match`` (text compared case-insensitively: addresses)."""
    for key, wanted in match.items():
        value = entry.get(key, _OPTIONAL.get(key))
        if isinstance(value, str) and isinstance(wanted, str):
            if value.lower() != wanted.lower():
                return False
        elif value != wanted:
            return False
    return True


class DeploymentStore:
    """A folder's ``deployments.json``: read, look up and update entries atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def of(cls, folder: Path) -> DeploymentStore:
        """The store of a workspace (or any record folder)."""
        return cls(Layout(folder).deployments)

    def load(self) -> list[dict[str, Any]]:
        """Every entry, pending and mined, oldest first; a missing file is an empty record.

        Raises:
            ChainError: the file exists but is unreadable (it is never silently overwritten).
        """
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ChainError(f"{self.path} is unreadable ({exc})", hint="repair or move it away, then run again") from exc
        entries = data.get("deployments", []) if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ChainError(f"{self.path} has an unknown format", hint="repair or move it away, then run again")
        return entries

    def save(self, entries: list[dict[str, Any]]) -> None:
        """Rewrite the record atomically."""
        write_json_atomic(self.path, {"version": RECORD_VERSION, "deployments": entries})

    def find(self, chain_id: int, name: str | None = None, **match: object) -> list[Deployment]:
        """The mined deployments on ``chain_id`` (of contract ``name``, with the given fields), oldest first."""
        wanted = {"chain_id": chain_id, "status": MINED, **({"name": name} if name is not None else {}), **match}
        return [Deployment.from_dict(entry) for entry in self.load() if matches(entry, wanted)]

    def latest(self, chain_id: int, name: str | None = None, **match: object) -> Deployment | None:
        """The newest of :meth:`find`, or None."""
        found = self.find(chain_id, name, **match)
        return found[-1] if found else None

    def verifiers(self, chain_id: int, *, reusable: bool) -> list[Deployment]:
        """The plain (made for one vk) or reusable (recorded without a vk) verifiers on ``chain_id``, oldest first."""
        return [d for d in self.find(chain_id, kind="verifier") if bool(d.vk_sha256) != reusable]

    def replace(self, match: Mapping[str, Any], new: Deployment | Mapping[str, Any] | None) -> None:
        """Drop the entries matching ``match``, then append ``new`` (if any)."""
        entries = [entry for entry in self.load() if not matches(entry, match)]
        if new is not None:
            entries.append(new.as_dict() if isinstance(new, Deployment) else dict(new))
        self.save(entries)

    def remember_pending(self, fields: Mapping[str, Any], tx_hash: str) -> None:
        """Record a transaction the node accepted, before its receipt is known."""
        self.replace({"tx_hash": tx_hash}, {**fields, "status": PENDING, "tx_hash": tx_hash})

    def forget(self, tx_hash: str) -> None:
        """Drop the entry of a transaction (reverted, dropped, or its contract gone)."""
        self.replace({"tx_hash": tx_hash}, None)


__all__ = ["MINED", "PENDING", "Deployment", "DeploymentStore", "matches"]
