"""The oracle's model registry: register a model once, retire it, read its binding.

A model id binds one verifier (and, for a reusable verifier, one VKA digest) and
one instance layout forever; registering the same binding again is a no-op, a
different one under the same id is refused. A workspace's model is registered
with its default id (:func:`zkml.oracle.encoding.default_model_id`) and the plain
verifier its deployments record holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import sha256_file
from zkml.errors import OracleError
from zkml.evm.records import DeploymentStore
from zkml.evm.rpc import Connection, Sender, code_at, resolve_sender, transact
from zkml.oracle.calls import bind, view
from zkml.oracle.compile import OracleContracts, compile_contracts
from zkml.oracle.encoding import default_model_id, hex32
from zkml.oracle.layout import ModelSpec, model_spec
from zkml.oracle.reverts import HINTS
from zkml.workspace import Layout

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 3600
NO_VKA = b"\x00" * 32
# The ModelConfig struct's fields, in order (as read_model returns them).
CONFIG_FIELDS = (
    "verifier",
    "vka_digest",
    "binding",
    "instance_count",
    "input_offset",
    "input_count",
    "output_offset",
    "output_count",
    "batch_size",
    "scale",
    "max_age",
)


@dataclass(frozen=True)
class Registration:
    """A model registered on an oracle.

    Attributes:
        model_id: the id consumers pin.
        verifier: the verifier address it is bound to.
        spec: the instance layout.
        max_age: seconds a prediction stays fresh.
        active: False once retired.
        gas_used: gas of the registration (0 when reused).
        reused: it was already registered with the same binding.
        vka_digest: keccak256 of the VKA words (zero for a plain verifier).
    """

    model_id: bytes
    verifier: str
    spec: ModelSpec
    max_age: int
    active: bool
    gas_used: int = 0
    reused: bool = False
    vka_digest: bytes = NO_VKA

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "model_id": hex32(self.model_id),
            "verifier": self.verifier,
            "binding": self.spec.binding,
            "instance_count": self.spec.instance_count,
            "inputs": [self.spec.input_offset, self.spec.input_count],
            "outputs": [self.spec.output_offset, self.spec.output_count],
            "batch_size": self.spec.batch_size,
            "scale": self.spec.scale,
            "max_age": self.max_age,
            "active": self.active,
            "gas_used": self.gas_used,
            "reused": self.reused,
            "vka_digest": hex32(self.vka_digest),
        }


def read_model(conn: Connection, oracle: str, model_id: bytes, *, contracts: OracleContracts | None = None) -> dict[str, Any] | None:
    """The oracle's registration of ``model_id`` (:data:`CONFIG_FIELDS`, ``active``, ``latest``), or None if unregistered."""
    contracts = contracts or compile_contracts()
    config, active, exists, latest = view(conn, contracts, contracts.oracle, oracle, "models", bytes(model_id), doing="reading the model")
    if not exists:
        return None
    return {**dict(zip(CONFIG_FIELDS, config, strict=True)), "active": bool(active), "latest": bytes(latest)}


def _same_binding(existing: dict[str, Any], verifier: str, digest: bytes, spec: ModelSpec) -> bool:
    return (
        str(existing["verifier"]).lower() == verifier.lower()
        and bytes(existing["vka_digest"]) == digest
        and existing["binding"] == spec.binding_code
        and existing["instance_count"] == spec.instance_count
        and (existing["input_offset"], existing["input_count"]) == (spec.input_offset, spec.input_count)
        and (existing["output_offset"], existing["output_count"]) == (spec.output_offset, spec.output_count)
        and existing["batch_size"] == spec.batch_size
        and existing["scale"] == spec.scale
    )


def register_model(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    verifier: str,
    spec: ModelSpec,
    *,
    max_age: int = DEFAULT_MAX_AGE,
    vka_digest: bytes | None = None,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Registration:
    """Register a model on the oracle (owner only); idempotent for the same binding.

    Args:
        conn: the chain.
        oracle: the oracle address.
        model_id: the id consumers will pin.
        verifier: the plain verifier (or the reusable verifier when ``vka_digest`` is given).
        spec: the instance layout (:func:`zkml.oracle.layout.model_spec`).
        max_age: seconds a prediction stays fresh.
        vka_digest: keccak256 of the VKA words, for a reusable verifier.
        sender: the owner account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        OracleError: the id is registered with a different binding (register the new
            version under a new id), or the registration was refused (``NotOwner``, ...).
    """
    contracts = contracts or compile_contracts()
    digest = bytes(vka_digest or NO_VKA)
    existing = read_model(conn, oracle, model_id, contracts=contracts)
    if existing is not None:
        if not _same_binding(existing, verifier, digest, spec):
            raise OracleError(
                f"model id {hex32(model_id)} is already registered on {oracle} with another verifier or layout",
                hint=HINTS["ModelAlreadyRegistered"],
            )
        if existing["max_age"] != max_age:
            log.warning(
                "model %s keeps maxAge %d (asked %d); the owner can change it with setMaxAge", hex32(model_id), existing["max_age"], max_age
            )
        return Registration(bytes(model_id), verifier, spec, int(existing["max_age"]), existing["active"], 0, True, digest)
    contract = bind(conn, oracle, contracts.oracle)
    config = spec.config_tuple(conn.w3.to_checksum_address(verifier), digest, max_age)
    data = contract.encode_abi("registerModel", args=[bytes(model_id), config])
    receipt = transact(conn, sender or resolve_sender(conn), data, "registering the model", to=contract.address, errors=contracts.errors)
    return Registration(bytes(model_id), verifier, spec, max_age, True, int(receipt["gasUsed"]), False, digest)


def set_model_active(
    conn: Connection, oracle: str, model_id: bytes, active: bool, *, sender: Sender | None = None, contracts: OracleContracts | None = None
) -> int:
    """Retire (``active=False``) or reactivate a model (owner only); returns the gas used."""
    contracts = contracts or compile_contracts()
    contract = bind(conn, oracle, contracts.oracle)
    data = contract.encode_abi("setModelActive", args=[bytes(model_id), active])
    doing = "changing the model's active flag"
    receipt = transact(conn, sender or resolve_sender(conn), data, doing, to=contract.address, errors=contracts.errors)
    return int(receipt["gasUsed"])


# --------------------------------------------------------------------------- workspaces


@dataclass(frozen=True)
class WorkspaceModel:
    """What registering a workspace's model needs, read from the workspace folder."""

    root: Path
    settings_path: Path
    proof_path: Path
    vk_sha256: str
    settings_sha256: str
    spec: ModelSpec

    @property
    def model_id(self) -> bytes:
        """The default model id of this verifying key and settings."""
        return default_model_id(self.vk_sha256, self.settings_sha256)


def workspace_model(source: Any) -> WorkspaceModel:
    """Read a workspace (a :class:`zkml.pipeline.Pipeline` or its folder) for the oracle.

    Raises:
        OracleError: its settings or verifying key are missing.
    """
    layout = Layout(Path(source.ws.root) if hasattr(source, "ws") else Path(source))
    for path, stage in ((layout.settings, "calibrate"), (layout.vk, "keys")):
        if not path.is_file():
            raise OracleError(f"{path} does not exist", hint=f"run `zkml {stage}` (or `zkml run`) for this circuit first")
    return WorkspaceModel(
        layout.root, layout.settings, layout.proof, sha256_file(layout.vk), sha256_file(layout.settings), model_spec(layout.settings)
    )


def workspace_verifier(conn: Connection, root: Path) -> str:
    """The newest plain verifier in the workspace's deployments record whose code is on ``conn``.

    Raises:
        OracleError: none is recorded for this chain.
    """
    for deployment in reversed(DeploymentStore.of(root).find(conn.chain_id, kind="verifier")):
        if deployment.vk_sha256 and code_at(conn, deployment.address):
            return deployment.address
    raise OracleError(
        f"no plain verifier of {root} is deployed on chain {conn.chain_id}", hint="run `zkml deploy` (or `zkml run --chain`) first"
    )


def register_workspace(
    conn: Connection,
    oracle: str,
    source: Any,
    *,
    model_id: bytes | None = None,
    verifier: str | None = None,
    max_age: int = DEFAULT_MAX_AGE,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Registration:
    """Register a workspace's model with its deployed plain verifier (idempotent).

    Args:
        conn: the chain.
        oracle: the oracle address.
        source: a :class:`zkml.pipeline.Pipeline` or a workspace folder.
        model_id: defaults to :func:`default_model_id` of its vk and settings.
        verifier: defaults to the verifier recorded in the workspace's deployments record.
        max_age: seconds a prediction stays fresh.
        sender: the owner account; resolved from the environment when None.
        contracts: compiled contracts.
    """
    model = workspace_model(source)
    return register_model(
        conn,
        oracle,
        model_id or model.model_id,
        verifier or workspace_verifier(conn, model.root),
        model.spec,
        max_age=max_age,
        sender=sender,
        contracts=contracts,
    )


__all__ = [
    "DEFAULT_MAX_AGE",
    "Registration",
    "WorkspaceModel",
    "read_model",
    "register_model",
    "register_workspace",
    "set_model_active",
    "workspace_model",
    "workspace_verifier",
]
