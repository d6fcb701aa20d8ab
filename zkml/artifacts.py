"""Typed artifacts passed between stages.

Each artifact is a small frozen dataclass: where the file is, its sha256, and
cheap metadata read once when it was made. Stages take and return these, never
bare string paths, so a stage can check it was handed the right thing (a key
made for another circuit, a proof of another model) before calling ezkl.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

Visibility = Literal["public", "private", "hashed", "fixed"]
SrsProvenance = Literal["dev-unsafe", "imported"]

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks (keys are ~100 MB)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and element type of one model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def size(self) -> int:
        """Number of elements in one sample of this tensor."""
        size = 1
        for dim in self.shape:
            size *= dim
        return size


@dataclass(frozen=True)
class OnnxModel:
    """A checked ONNX model plus the float reference outputs of onnxruntime."""

    path: Path
    sha256: str
    opset: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    reference_path: Path | None = None
    # Exact replacements made at export for ops ezkl miscompiles (see zkml.rewrite).
    rewrites: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpReport:
    """The preflight verdict: every op in the graph and the nodes that cannot compile."""

    op_counts: dict[str, int]
    unsupported: tuple[tuple[str, str], ...] = ()
    conditional: tuple[tuple[str, str, str], ...] = ()

    @property
    def ok(self) -> bool:
        """True when every node can be compiled."""
        return not self.unsupported


@dataclass(frozen=True)
class Fidelity:
    """How far the quantized circuit is from the float model on some samples.

    Attributes:
        samples: how many samples were compared.
        max_abs_error: largest |circuit - float| over all outputs and samples.
        mean_abs_error: mean |circuit - float|.
        argmax_agreement: fraction of samples where both pick the same class
            (threshold for one output); None unless the task is classification.
        max_rel_error: ``max_abs_error`` over the largest |float output|
            (``max_abs_error`` itself when every float output is 0).
    """

    samples: int
    max_abs_error: float
    mean_abs_error: float
    argmax_agreement: float | None = None
    max_rel_error: float = 0.0

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain-JSON form for manifests and summaries."""
        return {
            "samples": self.samples,
            "max_abs_error": self.max_abs_error,
            "mean_abs_error": self.mean_abs_error,
            "argmax_agreement": self.argmax_agreement,
            "max_rel_error": self.max_rel_error,
        }


@dataclass(frozen=True)
class Settings:
    """ezkl circuit settings after calibration (read by :func:`zkml.settings.read_settings`)."""

    path: Path
    sha256: str
    logrows: int
    input_scales: tuple[int, ...]
    output_scales: tuple[int, ...]
    param_scale: int
    input_visibility: str
    output_visibility: str
    param_visibility: str
    fidelity: Fidelity | None = None
    num_rows: int = 0
    instance_shapes: tuple[tuple[int, ...], ...] = ()
    lookup_range: tuple[int, int] = (0, 0)
    num_inner_cols: int | None = None
    decomp_base: int | None = None
    decomp_legs: int | None = None
    # Hashed inputs: whether the Poseidon hash is a public instance, and how many such instances.
    input_hash_public: bool = False
    poseidon_instances: int = 0


@dataclass(frozen=True)
class CompiledCircuit:
    """The ezkl circuit compiled from an ONNX model and its settings."""

    path: Path
    sha256: str
    settings: Settings


@dataclass(frozen=True)
class Srs:
    """A KZG structured reference string for circuits of up to 2**logrows rows.

    Attributes:
        pinned: an imported SRS whose sha256 was given (and checked) at import.
            Defaults to False so an Srs built without saying counts as unsafe:
            the guard fails closed. Always False for a development SRS.
    """

    path: Path
    sha256: str
    logrows: int
    provenance: SrsProvenance
    pinned: bool = False

    @property
    def unsafe(self) -> bool:
        """True for a locally generated SRS, whose toxic waste is known, or an unpinned import.

        An import without a pinned digest could be anything, a development SRS
        made elsewhere included, so it is trusted no more than one.
        """
        return self.unsafe_reason is not None

    @property
    def unsafe_reason(self) -> Literal["dev-unsafe", "unpinned"] | None:
        """Why the SRS is unsafe (for :func:`zkml.evm.deploy.check_srs_guard`), None when it is safe."""
        if self.provenance == "dev-unsafe":
            return "dev-unsafe"
        return None if self.pinned else "unpinned"


@dataclass(frozen=True)
class Keys:
    """Proving and verifying keys, bound to the circuit and SRS they came from."""

    pk_path: Path
    vk_path: Path
    pk_sha256: str
    vk_sha256: str
    circuit_sha256: str
    srs_sha256: str


@dataclass(frozen=True)
class Witness:
    """A witness for one input: the quantized inputs and outputs of the circuit."""

    path: Path
    sha256: str
    circuit_sha256: str
    outputs: tuple[float, ...] = ()


@dataclass(frozen=True)
class Proof:
    """A proof file with the public instances it commits to."""

    path: Path
    sha256: str
    size_bytes: int
    circuit_sha256: str = ""


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a local verification; an invalid proof is a result, not an error."""

    verified: bool
    reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class StageTiming:
    """How long one stage took and whether its cached output was reused."""

    stage: str
    seconds: float
    reused: bool
    detail: dict[str, object] = field(default_factory=dict)


class DemoResult(TypedDict):
    """The oracle demo's outcome (:func:`zkml.oracle.demo.demo_flow`), JSON as it is: addresses, the epoch
    proved, the registration, the publication, gas per step and the consumer's state."""

    oracle_address: str
    feed_address: str
    source_address: str
    consumer_address: str
    model_id: str
    epoch: int
    input: list[float]
    proof: str
    verifier_kind: str
    registration: dict[str, Any]
    replayed: bool
    tx_hash: str | None
    prediction: dict[str, Any]
    gas: dict[str, int | None]
    consumer: dict[str, Any]
    consumer_note: str


@dataclass(frozen=True)
class OnchainRun:
    """What ``zkml run``'s EVM stages did: the verifier deployed, the proof checked on chain.

    Attributes:
        chain_id, verifier_address: where the verifier is.
        verifier_runtime_bytes: the plain verifier's size (even when the reusable one was deployed).
        deploy_gas: gas of the deployment (None when an identical verifier was reused).
        deploy_reused: an identical verifier was already there.
        verify_gas: gas of the on-chain verification (sent, else estimated).
        calldata_bytes: the verification's calldata.
        accepted: the verifier accepted the proof.
        outputs: the outputs decoded from the proof's instances.
        verifier_kind: ``plain`` or ``reusable+vka`` (the plain one was over EIP-170).
        reusable_verifier_runtime_bytes, vka_digest, vka_register_gas, fallback_note: the reusable path only.
    """

    chain_id: int
    verifier_address: str
    verifier_runtime_bytes: int
    deploy_gas: int | None
    deploy_reused: bool
    verify_gas: int | None
    calldata_bytes: int
    accepted: bool
    outputs: tuple[float, ...]
    verifier_kind: str = "plain"
    reusable_verifier_runtime_bytes: int | None = None
    vka_digest: str | None = None
    vka_register_gas: int | None = None
    fallback_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The keys ``zkml run --json`` has always printed for these (the reusable ones only on that path)."""
        data: dict[str, Any] = {
            "chain_id": self.chain_id,
            "verifier_address": self.verifier_address,
            "verifier_runtime_bytes": self.verifier_runtime_bytes,
            "deploy_gas": self.deploy_gas,
            "deploy_reused": self.deploy_reused,
            "verify_gas": self.verify_gas,
            "calldata_bytes": self.calldata_bytes,
            "onchain_accepted": self.accepted,
            "onchain_outputs": list(self.outputs),
        }
        if self.verifier_kind != "plain":
            data.update(
                {
                    "verifier_kind": self.verifier_kind,
                    "verifier_fallback": self.fallback_note,
                    "reusable_verifier_runtime_bytes": self.reusable_verifier_runtime_bytes,
                    "vka_digest": self.vka_digest,
                    "vka_register_gas": self.vka_register_gas,
                }
            )
        return data


@dataclass(frozen=True)
class BackendRow:
    """One proof backend's row of the frontier ``[circuit] backend = "auto"`` chooses from.

    Attributes:
        backend: ``halo2``, ``groth16``, ``plonk`` or ``fflonk``.
        max_abs_error: fidelity: max abs error against the float model on the run's held-out samples.
        prove_s: seconds to prove the run's input.
        verify_gas: gas of a mined verify transaction on the run's chain.
        key_bytes: proving key bytes (halo2 ``pk.key``, snarkjs zkey).
        setup_trust: what the keys trust (a universal SRS, a per-model phase 2, and their provenance).
        note: where the numbers come from, or why the backend was not measured (then the numbers are None).
    """

    backend: str
    max_abs_error: float | None
    prove_s: float | None
    verify_gas: int | None
    key_bytes: int | None
    setup_trust: str
    note: str = ""

    @property
    def measured(self) -> bool:
        return self.max_abs_error is not None and self.prove_s is not None and self.verify_gas is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "measured": self.measured,
            "max_abs_error": self.max_abs_error,
            "prove_s": self.prove_s,
            "verify_gas": self.verify_gas,
            "key_bytes": self.key_bytes,
            "setup_trust": self.setup_trust,
            "note": self.note,
        }


@dataclass(frozen=True)
class BackendReport:
    """The backend ``zkml run`` went on chain with, why (one line), and the frontier it chose from.

    Attributes:
        requested: ``[circuit] backend`` (``auto`` or a pinned backend).
        chosen: the backend the oracle demo went through.
        reason: the one line the CLI prints.
        max_abs_error_budget: the fidelity budget, and ``budget_source`` where it came from.
        frontier: every candidate backend, measured or not (with why not).
        verifier_address: the verifier the chosen backend's proofs go to (the adapter, for a circom system).
        cached: the circom measurements were read from the workspace, not measured in this run.
    """

    requested: str
    chosen: str
    reason: str
    max_abs_error_budget: float
    budget_source: str
    frontier: tuple[BackendRow, ...]
    verifier_address: str = ""
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "chosen": self.chosen,
            "reason": self.reason,
            "max_abs_error_budget": self.max_abs_error_budget,
            "budget_source": self.budget_source,
            "frontier": [row.as_dict() for row in self.frontier],
            "verifier_address": self.verifier_address,
            "cached": self.cached,
        }


@dataclass
class RunSummary:
    """What ``zkml run`` reports: per-stage seconds and the headline numbers.

    ``onchain`` and ``demo`` are what the EVM stages and the oracle demo did (None without
    a chain, or without ``[consumer]``); ``extra`` holds the run's notes as plain JSON (the
    settings chosen, the export's rewrites, the float reference used).
    """

    name: str
    workspace: Path
    timings: list[StageTiming] = field(default_factory=list)
    logrows: int | None = None
    proof_bytes: int | None = None
    fidelity: Fidelity | None = None
    verified: bool | None = None
    verify_reason: str = ""
    srs_provenance: str | None = None
    outputs: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    onchain: OnchainRun | None = None
    demo: DemoResult | None = None
    # [circuit] backend other than halo2: the choice, its reason and the frontier (zkml.circom.auto).
    backend: BackendReport | None = None

    def timing(self, stage: str) -> StageTiming | None:
        """The timing of one stage, if it ran."""
        return next((t for t in self.timings if t.stage == stage), None)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``zkml run --json``)."""
        return {
            "name": self.name,
            "workspace": str(self.workspace),
            "stages": [{"stage": t.stage, "seconds": round(t.seconds, 3), "reused": t.reused, **t.detail} for t in self.timings],
            "logrows": self.logrows,
            "proof_bytes": self.proof_bytes,
            "fidelity": self.fidelity.as_dict() if self.fidelity else None,
            "verified": self.verified,
            "verify_reason": self.verify_reason,
            "srs_provenance": self.srs_provenance,
            "outputs": list(self.outputs),
            **self.extra,
            **(self.onchain.as_dict() if self.onchain is not None else {}),
            **({"oracle": dict(self.demo)} if self.demo is not None else {}),
            **({"backend": self.backend.as_dict()} if self.backend is not None else {}),
        }
