"""The oracle's model registry: register a model once, retire it, read its binding.

A model id binds forever one verifier and its code hash (and, for a reusable
verifier, one VKA digest), one instance layout, the per-feature input bounds, for hashed params the
commitment to their hashes, and, for an attested model, one feature source; registering the same binding again is
a no-op, a different one under the same id is refused. A workspace's model is
registered with its default id (:func:`zkml.oracle.encoding.default_model_id`) and
the plain verifier its deployments record holds, after :mod:`zkml.oracle.binding`
checked the verifier's code and the SRS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.artifacts import sha256_file
from zkml.errors import OracleError
from zkml.evm.records import DeploymentStore
from zkml.evm.rpc import Connection, Sender, code_at, resolve_sender, transact
from zkml.oracle.calls import bind, view
from zkml.oracle.compile import OracleContracts, compile_contracts
from zkml.oracle.encoding import default_model_id, hex32
from zkml.oracle.layout import ZERO_ADDRESS, ModelSpec, model_spec
from zkml.oracle.reverts import HINTS
from zkml.workspace import Layout

if TYPE_CHECKING:
    from zkml.evm.verifier import Vka
    from zkml.oracle.layout import OracleCircuit

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 3600
NO_VKA = b"\x00" * 32
# The ModelConfig struct's fields, in order (as read_model returns them).
CONFIG_FIELDS = (
    "verifier",
    "verifier_codehash",
    "vka_digest",
    "source",
    "binding",
    "instance_count",
    "input_offset",
    "input_count",
    "output_offset",
    "output_count",
    "param_offset",
    "param_count",
    "batch_size",
    "scale",
    "max_epoch_lag",
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
        codehash: the verifier's code hash the oracle checks on every submit.
        source: the feature source of an attested model (None: unattested).
        max_epoch_lag: attested: how many epochs behind the source's latest an epoch may be.
        bounds: per-feature (low, high) input bounds, scaled by 2^input_scale.
        params_commitment: hashed params: keccak256 of the param-hash instances every submit must
            carry (zero: params fixed in the vk).
        feeds: a multi-feed model's feature sources, sample k's first (its ``source`` is then the oracle).
    """

    model_id: bytes
    verifier: str
    spec: ModelSpec
    max_age: int
    active: bool
    gas_used: int = 0
    reused: bool = False
    vka_digest: bytes = NO_VKA
    codehash: bytes = NO_VKA
    source: str | None = None
    max_epoch_lag: int = 0
    bounds: tuple[tuple[int, int], ...] = ()
    params_commitment: bytes = NO_VKA
    feeds: tuple[str, ...] = ()

    @property
    def attested(self) -> bool:
        """Its inputs must equal its feature source's instances."""
        return self.source is not None

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "model_id": hex32(self.model_id),
            "verifier": self.verifier,
            "verifier_codehash": hex32(self.codehash),
            "binding": self.spec.binding,
            "instance_count": self.spec.instance_count,
            "inputs": [self.spec.input_offset, self.spec.input_count],
            "outputs": [self.spec.output_offset, self.spec.output_count],
            "params": self.spec.params,
            "param_hashes": [self.spec.param_offset, self.spec.param_count],
            "params_commitment": hex32(self.params_commitment),
            "batch_size": self.spec.batch_size,
            "scale": self.spec.scale,
            "input_scale": self.spec.input_scale,
            "max_age": self.max_age,
            "active": self.active,
            "gas_used": self.gas_used,
            "reused": self.reused,
            "vka_digest": hex32(self.vka_digest),
            "source": self.source,
            "max_epoch_lag": self.max_epoch_lag,
            "bounds": [list(b) for b in self.bounds],
            **({"feeds": list(self.feeds)} if self.feeds else {}),
        }


def read_model(conn: Connection, oracle: str, model_id: bytes, *, contracts: OracleContracts | None = None) -> dict[str, Any] | None:
    """The oracle's registration of ``model_id``, or None if unregistered.

    Returns:
        :data:`CONFIG_FIELDS`, ``active``, ``latest`` (prediction id), ``latest_epoch``,
        ``attested``, ``bounds`` (per-feature (low, high) pairs), ``params_commitment``
        (zero for params fixed in the vk) and ``feeds`` (a multi-feed model's sources, else empty).
    """
    contracts = contracts or compile_contracts()
    config, active, exists, latest, latest_epoch = view(
        conn, contracts, contracts.oracle, oracle, "models", bytes(model_id), doing="reading the model"
    )
    if not exists:
        return None
    (bounds,) = view(conn, contracts, contracts.oracle, oracle, "inputBounds", bytes(model_id), doing="reading the model's bounds")
    fields = dict(zip(CONFIG_FIELDS, config, strict=True))
    fields["verifier_codehash"] = bytes(fields["verifier_codehash"])
    fields["vka_digest"] = bytes(fields["vka_digest"])
    commitment = NO_VKA
    if fields["param_count"]:
        (raw,) = view(
            conn, contracts, contracts.oracle, oracle, "paramsCommitmentOf", bytes(model_id), doing="reading the params commitment"
        )
        commitment = bytes(raw)
    feeds: tuple[str, ...] = ()
    if str(fields["source"]).lower() == str(oracle).lower():  # the oracle as source: a multi-feed model
        (raw_feeds,) = view(conn, contracts, contracts.oracle, oracle, "feedsOf", bytes(model_id), doing="reading the model's feeds")
        feeds = tuple(conn.w3.to_checksum_address(f) for f in raw_feeds)
    return {
        **fields,
        "active": bool(active),
        "latest": bytes(latest),
        "latest_epoch": int(latest_epoch),
        "attested": int(str(fields["source"]), 16) != 0,
        "bounds": tuple((int(low), int(high)) for low, high in bounds),
        "params_commitment": commitment,
        "feeds": feeds,
    }


def _binding_differences(existing: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The registration fields where ``existing`` differs from ``wanted`` (addresses compared case-insensitively)."""

    def norm(value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    return [key for key, value in wanted.items() if norm(existing[key]) != norm(value)]


def _reused(existing: dict[str, Any], wanted: Registration, config: dict[str, Any], oracle: str) -> Registration:
    """``wanted`` as already registered (``existing``), or an error naming the fields that differ."""
    binding = {k: v for k, v in config.items() if k != "max_age"} | {
        "bounds": wanted.bounds,
        "params_commitment": wanted.params_commitment,
        "feeds": wanted.feeds,
    }
    differs = _binding_differences(existing, binding)
    if differs:
        raise OracleError(
            f"model id {hex32(wanted.model_id)} is already registered on {oracle} with another {', '.join(differs)}",
            hint=HINTS["ModelAlreadyRegistered"],
        )
    if existing["max_age"] != wanted.max_age:
        log.warning(
            "model %s keeps maxAge %d (asked %d); the owner can change it with setMaxAge",
            hex32(wanted.model_id), existing["max_age"], wanted.max_age,
        )  # fmt: skip
    return replace(wanted, max_age=int(existing["max_age"]), active=existing["active"], reused=True)


def register_model(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    verifier: str,
    spec: ModelSpec,
    *,
    bounds: Sequence[tuple[int, int]] = (),
    source: str | None = None,
    max_epoch_lag: int = 0,
    max_age: int = DEFAULT_MAX_AGE,
    vka_digest: bytes | None = None,
    codehash: bytes | None = None,
    params_commitment: bytes | None = None,
    feeds: Sequence[str] = (),
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Registration:
    """Register a model on the oracle (owner only); idempotent for the same binding.

    This low-level call checks nothing about WHICH verifier it is;
    :func:`register_workspace` checks the code against the workspace's compiled verifier first.

    Args:
        conn: the chain.
        oracle: the oracle address.
        model_id: the id consumers will pin.
        verifier: the plain verifier (or the reusable verifier when ``vka_digest`` is given).
        spec: the instance layout (:func:`zkml.oracle.layout.model_spec`).
        bounds: per-feature (low, high) bounds of one sample's inputs (public inputs; empty for hashed).
        source: the feature source of an attested model.
        max_epoch_lag: attested: how many epochs behind the source's latest an epoch may be.
        max_age: seconds a prediction stays fresh.
        vka_digest: keccak256 of the VKA words, for a reusable verifier.
        codehash: the verifier code hash to pin; read from the chain when None.
        params_commitment: hashed params (``spec.param_count`` > 0): keccak256 of the honest
            param-hash instances (:func:`zkml.oracle.binding.params_commitment`); None otherwise.
        feeds: a multi-feed model: one feature source per sample (``spec.batch_size`` of them, none twice),
            sample k attested by ``feeds[k]`` at the batch's one epoch; ``source`` must then be None.
        sender: the owner account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        OracleError: hashed params without a commitment (or one for fixed params), feeds that are not one
            per sample or repeat one, the id is
            registered with a different binding (register the new version under a new id), or the
            registration was refused (``NotOwner``, ``VerifierCodeMismatch``, ``InvalidModelConfig``, ...).
    """
    from zkml.oracle.binding import codehash_of, onchain_code

    if bool(spec.param_count) != (params_commitment is not None):
        raise OracleError(
            f"params are {spec.params} but a params commitment was {'not ' if params_commitment is None else ''}given",
            hint="hashed params are registered with the commitment of their hashes (register_workspace computes it)",
        )
    contracts = contracts or compile_contracts()
    digest = bytes(vka_digest or NO_VKA)
    params = bytes(params_commitment or NO_VKA)
    checksum = conn.w3.to_checksum_address
    pinned = bytes(codehash) if codehash is not None else codehash_of(onchain_code(conn, verifier))
    feeds = _checked_feeds(feeds, spec, source, checksum)
    # The oracle's own address as the source marks a multi-feed model.
    source = checksum(oracle) if feeds else source
    source_address = checksum(source) if source else ZERO_ADDRESS
    config = spec.config_tuple(checksum(verifier), pinned, digest, max_age, source=source_address, max_epoch_lag=max_epoch_lag)
    bounds = tuple((int(low), int(high)) for low, high in bounds)
    result = Registration(bytes(model_id), checksum(verifier), spec, max_age, True, 0, False, digest, pinned,
                          checksum(source) if source else None, max_epoch_lag, bounds, params, feeds)  # fmt: skip
    existing = read_model(conn, oracle, model_id, contracts=contracts)
    if existing is not None:
        return _reused(existing, result, dict(zip(CONFIG_FIELDS, config, strict=True)), oracle)
    contract = bind(conn, oracle, contracts.oracle)
    data = _registration_call(contract, result, config)
    receipt = transact(conn, sender or resolve_sender(conn), data, "registering the model", to=contract.address, errors=contracts.errors)
    return replace(result, gas_used=int(receipt["gasUsed"]))


def _registration_call(contract: Any, wanted: Registration, config: tuple[Any, ...]) -> str:
    """The calldata of the entry point that fits: multi-feed, hashed params (pinned commitment), or plain."""
    args: list[Any] = [bytes(wanted.model_id), config, [list(b) for b in wanted.bounds]]
    if wanted.feeds:
        return str(contract.encode_abi("registerModelMultiFeed", args=[*args, list(wanted.feeds), wanted.params_commitment]))
    if wanted.spec.param_count:
        return str(contract.encode_abi("registerModelWithParams", args=[*args, wanted.params_commitment]))
    return str(contract.encode_abi("registerModel", args=args))


def _checked_feeds(feeds: Sequence[str], spec: ModelSpec, source: str | None, checksum: Any) -> tuple[str, ...]:
    """A multi-feed model's sources, checksummed: one per sample, none twice (the oracle leaves the repeat to us)."""
    if not feeds:
        return ()
    if source:
        raise OracleError("a multi-feed model takes its feeds, not one feature source", hint="pass feeds or source, not both")
    chosen = tuple(checksum(f) for f in feeds)
    if len(chosen) != spec.batch_size:
        raise OracleError(
            f"{len(chosen)} feeds for a batch of {spec.batch_size}: a multi-feed model reads one feed per sample",
            hint=f"give {spec.batch_size} feeds, or use the batch-{len(chosen)} build of the circuit",
        )
    repeated = sorted({f for f in chosen if chosen.count(f) > 1})
    if repeated:
        raise OracleError(f"feed source {repeated[0]} is listed more than once", hint="each sample reads its own feed")
    return chosen


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
        """The default model id of this verifying key and settings (unattested)."""
        return default_model_id(self.vk_sha256, self.settings_sha256)

    def model_id_for(self, feature_source: str | None, *, feeds: Sequence[str] = ()) -> bytes:
        """The default model id of this verifying key and settings with that feature source (None: unattested),
        or with those ``feeds`` (a multi-feed model: the id covers the sources in order).

        With hashed params the id also covers their commitment: such a vk is the same for any
        weights, so two weight sets of one architecture must not share an id.
        """
        source = "feeds:" + ",".join(f.lower() for f in feeds) if feeds else feature_source
        base = default_model_id(self.vk_sha256, self.settings_sha256, source=source)
        if not self.spec.param_count:
            return base
        from eth_utils import keccak

        return bytes(keccak(base + self.params_commitment()))

    def params_commitment(self) -> bytes:
        """Hashed params: the commitment to this workspace's param hashes (from its witness).

        Raises:
            OracleError: the params are fixed, or the witness holds no param hashes.
        """
        from zkml.oracle.binding import params_commitment, workspace_param_hashes

        if not self.spec.param_count:
            raise OracleError(f"{self.root}: params fixed in the vk have no commitment")
        return params_commitment(workspace_param_hashes(self.root, self.spec.param_count))


def workspace_model(source: Path | OracleCircuit) -> WorkspaceModel:
    """Read a workspace (a :class:`zkml.pipeline.Pipeline` or its folder) for the oracle.

    Raises:
        OracleError: its settings or verifying key are missing.
    """
    layout = Layout(Path(source) if isinstance(source, (str, Path)) else Path(source.ws.root))
    for path, stage in ((layout.settings, "calibrate"), (layout.vk, "keys")):
        if not path.is_file():
            raise OracleError(f"{path} does not exist", hint=f"run `zkml {stage}` (or `zkml run`) for this circuit first")
    return WorkspaceModel(
        layout.root, layout.settings, layout.proof, sha256_file(layout.vk), sha256_file(layout.settings), model_spec(layout.settings)
    )


def workspace_verifier(conn: Connection, root: Path, *, reusable: bool = False) -> str:
    """The newest plain (or reusable: recorded without a vk) verifier in the workspace's record whose code is on ``conn``.

    Raises:
        OracleError: none is recorded for this chain.
    """
    for deployment in reversed(DeploymentStore.of(root).verifiers(conn.chain_id, reusable=reusable)):
        if code_at(conn, deployment.address):
            return deployment.address
    kind = "reusable" if reusable else "plain"
    raise OracleError(
        f"no {kind} verifier of {root} is deployed on chain {conn.chain_id}", hint="run `zkml deploy` (or `zkml run --chain`) first"
    )


def register_workspace(
    conn: Connection,
    oracle: str,
    source: Path | OracleCircuit,
    *,
    model_id: bytes | None = None,
    verifier: str | None = None,
    feature_source: str | None = None,
    feeds: Sequence[str] = (),
    max_epoch_lag: int = 0,
    max_age: int = DEFAULT_MAX_AGE,
    allow_unsafe_srs: bool = False,
    reusable: bool = False,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Registration:
    """Register a workspace's model with its deployed plain verifier (idempotent), after checking the binding.

    With ``reusable`` the verifier is the workspace's reusable verifier and the model's VKA
    (the workspace's own ``model.vka``) is pinned by its digest: every submit must carry it.

    Before anything is sent: the code at the verifier address must be the workspace's
    compiled verifier for its verifying key, the keys' SRS must be safe for the chain,
    and the calibrated input ranges become the on-chain per-feature bounds. Hashed params
    are pinned by the commitment to the workspace's own param hashes; private params are
    refused (:func:`zkml.oracle.layout.model_spec`).

    Args:
        conn: the chain.
        oracle: the oracle address.
        source: a :class:`zkml.pipeline.Pipeline` or a workspace folder.
        model_id: defaults to :func:`default_model_id` of its vk, settings and feature source
            (and params commitment, for hashed params).
        verifier: defaults to the verifier recorded in the workspace's deployments record.
        feature_source: register an attested model whose inputs this source gives.
        feeds: register a multi-feed model: one feature source per sample of the batch.
        max_epoch_lag: attested: how many epochs behind the source's latest an epoch may be.
        max_age: seconds a prediction stays fresh.
        allow_unsafe_srs: register keys from a development or unpinned SRS on a non-dev chain anyway.
        sender: the owner account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        VerifierMismatchError: the verifier's code is not the workspace's compiled verifier.
        UnsafeSrsError: unsafe SRS on a non-development chain.
        OracleError: the oracle refused the registration.
    """
    from zkml.oracle.binding import check_verifier, check_workspace_srs, workspace_bounds

    model = workspace_model(source)
    address = verifier or workspace_verifier(conn, model.root, reusable=reusable)
    check_workspace_srs(conn, model.root, allow_unsafe_srs=allow_unsafe_srs)
    binding = check_verifier(conn, address, model.root, reusable=reusable)
    vka_digest = bytes.fromhex(workspace_vka(model.root).digest.removeprefix("0x")) if reusable else None
    bounds = workspace_bounds(model.root, model.spec.input_scale, model.spec.sample_width) if model.spec.binding == "public" else ()
    # Hashed params: the owner's own compiled weights' hashes, so no other weights pass a submit.
    params = model.params_commitment() if model.spec.param_count else None
    return register_model(
        conn,
        oracle,
        model_id or model.model_id_for(feature_source, feeds=feeds),
        address,
        model.spec,
        bounds=bounds,
        source=feature_source,
        max_epoch_lag=max_epoch_lag,
        max_age=max_age,
        codehash=binding.codehash,
        vka_digest=vka_digest,
        params_commitment=params,
        feeds=feeds,
        sender=sender,
        contracts=contracts,
    )


def workspace_vka(root: Path) -> Vka:
    """The workspace's VKA (its verifying key for the reusable verifier).

    Raises:
        OracleError: the workspace has none yet.
    """
    from zkml.evm.verifier import read_vka

    path = Layout(root).vka
    if not path.is_file():
        raise OracleError(f"{path} does not exist", hint="run `zkml verifier --reusable` (or `zkml run`) for this circuit first")
    return read_vka(path)


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
    "workspace_vka",
]
