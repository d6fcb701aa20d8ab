"""The chain half of a provenance walk: the oracle, the prediction, its registration, the verifier's code, the inputs, the proof.

Each function reads the chain (and the submit transaction the walk decoded) and
returns one :class:`~zkml.oracle.provenance_links.Link`. They re-derive what the
oracle enforced from the transaction itself (the decoded outputs, the prediction id,
the attested inputs recomputed from the feed's rounds, the proof re-verified by the
verifier), so a walk trusts the oracle's code only for having stored the record.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zkml.artifacts import sha256_bytes
from zkml.errors import ZkmlError
from zkml.evm.felts import felt_to_int
from zkml.evm.rpc import Connection
from zkml.oracle.calls import view
from zkml.oracle.compile import OracleContracts
from zkml.oracle.encoding import hex32, input_commitment, prediction_id
from zkml.oracle.provenance_links import BROKEN, OK, WARNING, Check, Link, broken, short, verdict


@dataclass(frozen=True)
class Sample:
    """One prediction a submit transaction published, as its ``PredictionPublished`` event says."""

    model_id: bytes
    prediction_id: bytes
    epoch: int
    input_commitment: bytes
    values: tuple[int, ...]
    data_timestamp: int
    expires_at: int
    submitter: str

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "model_id": hex32(self.model_id),
            "prediction_id": hex32(self.prediction_id),
            "epoch": self.epoch,
            "input_commitment": hex32(self.input_commitment),
            "values": list(self.values),
            "data_timestamp": self.data_timestamp,
            "expires_at": self.expires_at,
            "submitter": self.submitter,
        }


@dataclass(frozen=True)
class SubmitCall:
    """The oracle call a submit transaction made, decoded with the oracle's ABI."""

    function: str
    model_id: bytes
    epochs: tuple[int, ...]
    proof: bytes
    instances: tuple[int, ...]
    vka: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Submission:
    """A submit transaction and the predictions it published on the oracle.

    Attributes:
        tx_hash, block, sender, to: the transaction.
        call: its decoded oracle call; None when it called another contract (which called the oracle).
        published: every PredictionPublished the oracle emitted in it.
        named: the prediction id the walk was asked about (None: asked by tx hash, walk them all).
    """

    tx_hash: str
    block: int
    sender: str
    to: str
    call: SubmitCall | None
    published: tuple[Sample, ...]
    named: bytes | None = None

    def walked(self) -> tuple[Sample, ...]:
        """The samples the walk covers: the named one, else every one of the first sample's model."""
        if self.named is not None:
            return tuple(s for s in self.published if s.prediction_id == self.named)
        return tuple(s for s in self.published if s.model_id == self.published[0].model_id)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        call = self.call
        return {
            "tx_hash": self.tx_hash,
            "block": self.block,
            "sender": self.sender,
            "to": self.to,
            "function": call.function if call else None,
            "epochs": list(call.epochs) if call else [],
            "instances": len(call.instances) if call else None,
            "published": [hex32(s.prediction_id) for s in self.published],
        }


# --------------------------------------------------------------------------- the model's layout


@dataclass(frozen=True)
class Context:
    """What the chain links share: the chain, the oracle, the submission and the model's registration."""

    conn: Connection
    oracle: str
    contracts: OracleContracts
    submission: Submission
    model_id: bytes
    registration: dict[str, Any] | None

    @property
    def source(self) -> str | None:
        """The registered feature source (None: unattested)."""
        source = (self.registration or {}).get("source")
        return self.checksum(source) if source and int(str(source), 16) != 0 else None

    @property
    def verifier(self) -> str:
        """The registered verifier (checksummed; empty when unregistered)."""
        return self.checksum((self.registration or {}).get("verifier") or "")

    def checksum(self, address: str | bytes) -> str:
        """An address as EIP-55 (eth-abi decodes them lowercase)."""
        return str(self.conn.w3.to_checksum_address(address)) if address else ""

    def batch_index(self, sample: Sample) -> int | None:
        """Which sample of the submitted batch the prediction is (None: the call is unreadable or none matches)."""
        call, reg = self.submission.call, self.registration
        if call is None or reg is None:
            return None
        if sample.epoch and sample.epoch in call.epochs:
            return call.epochs.index(sample.epoch)
        for k in range(int(reg["batch_size"])):
            if prediction_id(self.model_id, input_commitment(self.inputs(k))) == sample.prediction_id:
                return k
        return None

    def inputs(self, k: int) -> tuple[int, ...]:
        """Sample k's input instances in the submitted call."""
        reg, call = self.registration or {}, self.submission.call
        width = int(reg["input_count"]) // int(reg["batch_size"])
        start = int(reg["input_offset"]) + k * width
        return tuple(call.instances[start : start + width]) if call else ()

    def outputs(self, k: int) -> tuple[int, ...]:
        """Sample k's outputs in the submitted call, decoded to signed integers as the oracle decodes them."""
        reg, call = self.registration or {}, self.submission.call
        width = int(reg["output_count"]) // int(reg["batch_size"])
        start = int(reg["output_offset"]) + k * width
        return tuple(felt_to_int(v) for v in call.instances[start : start + width]) if call else ()


# --------------------------------------------------------------------------- chain links


def _when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(seconds))


def oracle_link(ctx: Context) -> Link:
    """The oracle's code is the VerifiedPredictionOracle zkml compiles (a difference is a warning: the walk re-checks its work)."""
    from zkml.oracle.binding import onchain_code

    code = onchain_code(ctx.conn, ctx.oracle)
    if not code:
        return broken("oracle", f"no contract at {ctx.oracle} on chain {ctx.conn.chain_id}")
    actual, expected = sha256_bytes(code), sha256_bytes(ctx.contracts.oracle.deployed_bytecode)
    if actual == expected:
        return Link("oracle", OK, f"{ctx.oracle} runtime sha256 {short(actual)} = zkml's compiled VerifiedPredictionOracle")
    detail = f"{ctx.oracle} is not the oracle this zkml compiles (another version or compiler); the links below re-check what it enforced"
    return Link("oracle", WARNING, detail, expected=expected, actual=actual)


def prediction_link(ctx: Context, sample: Sample, name: str, now: int) -> Link:
    """The prediction is stored as its event says, under the id its key gives, with the outputs the proof carries."""
    from zkml.oracle.client import prediction_record

    try:
        stored = prediction_record(ctx.conn, ctx.oracle, sample.model_id, sample.prediction_id, epoch=sample.epoch, contracts=ctx.contracts)
    except ZkmlError as exc:
        return broken(name, f"not stored on the oracle: {exc.message}")
    checks = [
        Check("stored values", stored.values, "the event's", sample.values),
        Check("stored data time", stored.data_timestamp, "the event's", sample.data_timestamp),
        Check("stored expiry", stored.expires_at, "the event's", sample.expires_at),
    ]
    k = ctx.batch_index(sample)
    if ctx.source is not None:
        checks.append(Check("prediction id", sample.prediction_id, "keccak(model id, epoch)", prediction_id(sample.model_id, sample.epoch)))
    elif k is None and ctx.submission.call is not None:
        return broken(name, "no sample of the submitted batch has this prediction id (keccak(model id, input commitment))")
    if k is not None:
        checks.append(Check("stored values", stored.values, "the proof's output instances", ctx.outputs(k)))
    floats = [round(v / 2.0**stored.scale, 6) for v in stored.values]
    fresh = "fresh" if now <= stored.expires_at else "expired"
    sub = ctx.submission
    detail = (
        f"{short(sample.prediction_id)} model {short(sample.model_id)} epoch {sample.epoch}: values {floats}, "
        f"data time {_when(stored.data_timestamp)}, expires {_when(stored.expires_at)} ({fresh}); tx {short(sub.tx_hash)} from {sub.sender}"
    )
    return verdict(name, checks, detail)


def registration_link(ctx: Context) -> Link:
    """Model id -> its registration: verifier, code hash, source, bounds; active; the call names this model."""
    from eth_utils import keccak

    reg, call = ctx.registration, ctx.submission.call
    if reg is None:
        return broken("registration", f"model {hex32(ctx.model_id)} is not registered on {ctx.oracle}")
    if not reg["active"]:
        return broken("registration", f"model {short(ctx.model_id)} is retired (setModelActive false): consumers refuse its predictions")
    checks = []
    if call is not None:
        checks.append(Check("the call's model id", call.model_id, "the event's", ctx.model_id))
        checks.append(Check("the call's instance count", len(call.instances), "registered", int(reg["instance_count"])))
        if int.from_bytes(reg["vka_digest"], "big"):
            checks.append(Check("the call's VKA digest", bytes(keccak(b"".join(call.vka))), "registered", reg["vka_digest"]))
    mode = f"attested by source {ctx.source}" if ctx.source else "UNATTESTED"
    detail = (
        f"model {short(ctx.model_id)} -> verifier {ctx.verifier} codehash {short(reg['verifier_codehash'])}, {mode}, "
        f"{len(reg['bounds'])} input bounds, maxAge {reg['max_age']} s, active"
    )
    return verdict("registration", checks, detail)


def verifier_code_link(ctx: Context) -> tuple[Link, str | None]:
    """Verifier address -> its on-chain code hash equals the registered one; also returns the code's sha256."""
    from zkml.oracle.binding import codehash_of, onchain_code

    reg = ctx.registration
    if reg is None:
        return broken("verifier code", "no registration to read the verifier from"), None
    code = onchain_code(ctx.conn, ctx.verifier)
    if not code:
        return broken("verifier code", f"no code at verifier {ctx.verifier}", expected=hex32(reg["verifier_codehash"])), None
    codehash = codehash_of(code)
    check = Check("on-chain codehash", codehash, "registered", reg["verifier_codehash"])
    return verdict("verifier code", [check], f"{ctx.verifier} codehash {short(codehash)} = registered"), sha256_bytes(code)


def _source_spec(ctx: Context, model_width: int | None, input_scale: int | None) -> tuple[Link, Any, str | None]:
    """The feature source's pins read from chain (feed, window, inputScale, multiplier, maxChangeBps) as a ReturnsSpec."""
    from zkml.oracle.feed import SOURCE_GETTERS
    from zkml.oracle.mirror import ReturnsSpec

    source = str(ctx.source)
    try:
        feed, *values = (
            view(ctx.conn, ctx.contracts, ctx.contracts.source, source, fn, doing=f"reading the feature source {source}")[0]
            for fn in SOURCE_GETTERS
        )
        # The circuit breaker too: the recomputed input must refuse the epochs the source refuses.
        spec = ReturnsSpec(*(int(v) for v in values))
    except ZkmlError as exc:
        return broken("feature source", f"{source} does not read as a returns feature source: {exc.message}"), None, None
    checks = [Check("source window", spec.window, "the model's inputs per sample", model_width)]
    if input_scale is not None:
        checks.append(Check("source inputScale", spec.scale, "the workspace's input scale", input_scale))
    detail = (
        f"{source} over feed {ctx.checksum(feed)}: window {spec.window}, inputScale {spec.scale}, multiplier {spec.multiplier}, "
        f"maxChangeBps {spec.max_change_bps or 'off'}"
    )
    link = verdict("feature source", checks, detail)
    return link, (spec if link.ok else None), ctx.checksum(feed)


def _bounds_check(ctx: Context, inputs: Sequence[int]) -> Check | None:
    """The first input outside the registered bounds, as a failing check (None: all inside)."""
    for j, (value, (low, high)) in enumerate(zip((felt_to_int(v) for v in inputs), (ctx.registration or {})["bounds"], strict=False)):
        if not low <= value <= high:
            return Check(f"input {j}", value, "its registered bounds", [low, high])
    return None


def inputs_links(ctx: Context, samples: Sequence[Sample], *, input_scale: int | None, allow_unattested: bool) -> list[Link]:
    """Feature source and epoch -> each sample's input instances recomputed from the feed, equal to the proof's."""
    from zkml.oracle.feed import attested_input

    reg = ctx.registration
    if reg is None or ctx.submission.call is None:
        reason = (
            "no registration" if reg is None else f"the submit tx called {ctx.submission.to}, not the oracle: its inputs are not readable"
        )
        return [broken("inputs", f"cannot check the inputs: {reason}")]
    if ctx.source is None:
        # The inputs are whatever the submitter proved on (inside the bounds). This fails the walk
        # unless the caller says its app binds the inputs itself: the issue is consumers that act on
        # chosen inputs, and a green walk must not suggest the input came from the data.
        detail = "unattested: inputs chosen by the submitter (model registered without a feature source)"
        return [Link("inputs", WARNING if allow_unattested else BROKEN, detail)]
    source_link, spec, feed = _source_spec(ctx, int(reg["input_count"]) // int(reg["batch_size"]), input_scale)
    links = [source_link]
    for sample in samples:
        name = "inputs" if len(samples) == 1 else f"inputs @{sample.epoch}"
        k = ctx.batch_index(sample)
        if spec is None or k is None or feed is None:
            links.append(broken(name, "no feature source to recompute from" if spec is None else "the sample is not in the call"))
            continue
        try:
            attested = attested_input(ctx.conn, feed, sample.epoch, spec, contracts=ctx.contracts)
        except ZkmlError as exc:
            links.append(broken(name, f"cannot recompute epoch {sample.epoch} from the feed: {exc.message}"))
            continue
        checks = [
            Check("the proof's inputs", ctx.inputs(k), f"the feed's window at epoch {sample.epoch}", attested.instances),
            Check("the call's epoch", ctx.submission.call.epochs[k], "the event's", sample.epoch),
            Check("data time", sample.data_timestamp, f"round {sample.epoch}'s updatedAt", attested.timestamp),
        ]
        checks += [c for c in [_bounds_check(ctx, ctx.inputs(k))] if c is not None]
        detail = f"epoch {sample.epoch}: {len(attested.instances)} instances = recomputed from rounds {sample.epoch - spec.window}..{sample.epoch} of {feed}"
        links.append(verdict(name, checks, detail))
    return links


def proof_link(ctx: Context, *, code_ok: bool) -> Link:
    """The proof in the transaction still verifies: ``eth_call`` of the verifier with its proof and instances.

    Only meaningful when the code at the verifier is the registered code (``code_ok``): an
    always-true contract swapped in would accept anything, so then the link is broken unchecked.
    """
    from eth_abi import encode
    from eth_utils import keccak

    from zkml.evm.rpc import call

    reg, sub = ctx.registration, ctx.submission.call
    if reg is None or sub is None:
        return broken("proof", "cannot re-verify: " + ("no registration" if reg is None else f"the submit tx called {ctx.submission.to}"))
    if not code_ok:
        return broken("proof", f"unchecked: the code at {ctx.verifier} is not the registered verifier, so its answer proves nothing")
    if sub.vka:
        data = keccak(text="verifyProof(bytes,uint256[],bytes32[])")[:4] + encode(["bytes", "uint256[]", "bytes32[]"], [sub.proof, list(sub.instances), list(sub.vka)])  # fmt: skip
    else:
        data = keccak(text="verifyProof(bytes,uint256[])")[:4] + encode(["bytes", "uint256[]"], [sub.proof, list(sub.instances)])
    try:
        raw = call(ctx.conn, ctx.verifier, data, "re-verifying the submitted proof")
    except ZkmlError as exc:
        return broken("proof", f"the verifier rejects the tx's proof now: {exc.message}")
    if len(raw) < 32 or int.from_bytes(raw[:32], "big") != 1:
        return broken("proof", "the verifier returns false for the tx's proof", expected="1", actual="0x" + raw[:32].hex())
    return Link(
        "proof", OK, f"verifier {ctx.verifier} accepts the tx's {len(sub.proof):,}-byte proof on its {len(sub.instances)} instances"
    )


__all__ = [
    "Context",
    "Sample",
    "Submission",
    "SubmitCall",
    "inputs_links",
    "oracle_link",
    "prediction_link",
    "proof_link",
    "registration_link",
    "verifier_code_link",
]
