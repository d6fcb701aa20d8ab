"""What the ``zkml oracle`` commands do, as library calls: register a model, attest an epoch.

Each takes an :class:`zkml.oracle.oracle_model.OracleModel` (the workspace's model with
its feed and consumer policy and its deployment lookups), so the defaults are the
model's and the CLI only parses and prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection, Sender
    from zkml.oracle.client import Publication
    from zkml.oracle.oracle_model import OracleModel
    from zkml.oracle.registry import Registration
    from zkml.proving.warm import ProvableCircuit


def source_for(model: OracleModel, conn: Connection, *, feed: str | None, source: str | None, sender: Sender | None = None) -> str | None:
    """The feature source to register with: ``source``, else one deployed (or reused) over ``feed``, else the recorded one."""
    from zkml.oracle.feed import deploy_source

    if source:
        return source
    if feed is None:
        return model.recorded_source(conn)
    return deploy_source(conn, model.root, feed, model.returns_spec(), sender=sender).address


def register(
    model: OracleModel,
    conn: Connection,
    *,
    oracle: str | None = None,
    model_id: str | None = None,
    verifier: str | None = None,
    feed: str | None = None,
    source: str | None = None,
    unattested: bool = False,
    max_epoch_lag: int | None = None,
    max_age: int | None = None,
    allow_unsafe_srs: bool = False,
    sender: Sender | None = None,
) -> Registration:
    """Register the workspace's model on the oracle (idempotent), attested unless ``unattested``.

    Args:
        oracle: the oracle (default: the recorded one).
        model_id: hex bytes32 (default: the workspace's id with its source).
        verifier: the verifier (default: the workspace's recorded plain verifier).
        feed: deploy (or reuse) the model's feature source over this feed.
        source: an already deployed feature source.
        max_epoch_lag, max_age: default: the model's (``[feed]``, ``[consumer]``).

    Raises:
        OracleError, ChainError: see :func:`zkml.oracle.registry.register_workspace`.
    """
    from zkml.oracle.encoding import parse_bytes32
    from zkml.oracle.registry import register_workspace

    chosen = None if unattested else source_for(model, conn, feed=feed, source=source, sender=sender)
    return register_workspace(
        conn,
        model.oracle_address(conn, oracle),
        model.root,
        model_id=parse_bytes32(model_id) if model_id else model.workspace.model_id_for(chosen),
        verifier=verifier,
        feature_source=chosen,
        max_epoch_lag=model.max_epoch_lag if max_epoch_lag is None else max_epoch_lag,
        max_age=model.max_age if max_age is None else max_age,
        allow_unsafe_srs=allow_unsafe_srs,
        sender=sender,
    )


@dataclass(frozen=True)
class Attestation:
    """An attested proof of one epoch, and its publication.

    Attributes:
        epoch: the feed round proved.
        input: the model's input at that epoch (the source's instances as floats).
        proof: the proof file (in the workspace's ``attested/``).
        publication: the oracle's answer, None when not published.
    """

    epoch: int
    input: tuple[float, ...]
    proof: Path
    publication: Publication | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"epoch": self.epoch, "input": list(self.input), "proof": str(self.proof)}
        if self.publication is not None:
            data["publication"] = self.publication.as_dict()
        return data


def attest(
    circuit: ProvableCircuit,
    model: OracleModel,
    conn: Connection,
    *,
    feed: str,
    epoch: int | None = None,
    oracle: str | None = None,
    model_id: str | None = None,
    publish: bool = True,
    sender: Sender | None = None,
) -> Attestation:
    """Prove the model on ``feed``'s window at ``epoch`` (default: the latest) and publish it.

    Raises:
        AttestationError: an epoch the oracle would refuse, or a window outside the registered bounds.
        OracleError, ChainError: a refused or failed chain step.
    """
    from zkml.oracle.attest import check_epoch, prove_attested
    from zkml.oracle.client import publish as publish_proof
    from zkml.oracle.feed import attested_input, latest_epoch
    from zkml.oracle.registry import read_model

    if epoch is not None:
        check_epoch(epoch)  # a negative or huge epoch is refused by name before any chain read
    address = model.oracle_address(conn, oracle)
    mid = model.model_id(conn, model_id)
    registered = read_model(conn, address, mid)
    latest = latest_epoch(conn, feed)
    at = epoch if epoch is not None else latest
    check_epoch(at, latest=latest, max_epoch_lag=int(registered["max_epoch_lag"]) if registered else None)
    attested = attested_input(conn, feed, at, model.returns_spec())
    proof = prove_attested(circuit, attested, model.spec, registered["bounds"] if registered else ())
    publication = publish_proof(conn, address, mid, proof, epochs=[at], on_replay="read", sender=sender) if publish else None
    return Attestation(at, tuple(attested.values), proof, publication)


__all__ = ["Attestation", "attest", "register", "source_for"]
