"""Where a circuit's inputs, outputs and param hashes sit in its instance vector, as the oracle binds them.

Pure: built from the typed settings :func:`zkml.settings.read_settings` gives (and
the batch stamp a batched circuit's folder holds), no chain, no web3.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from zkml.artifacts import Settings
from zkml.errors import CalibrationError, OracleError
from zkml.settings import public_segments, read_settings
from zkml.workspace import Layout

if TYPE_CHECKING:
    from zkml.config import CircuitConfig

log = logging.getLogger(__name__)

ZERO_ADDRESS = "0x" + "00" * 20
# The Solidity InputBinding enum.
BINDING_PUBLIC = 0
BINDING_HASHED = 1


@dataclass(frozen=True)
class ModelSpec:
    """Where a circuit's inputs, outputs and param hashes sit in its instance vector.

    Attributes:
        binding: ``public`` (inputs are instances) or ``hashed`` (one Poseidon hash instance).
        instance_count: length of the instance vector.
        input_offset, input_count: the input instances (or the hash) the commitment covers.
        output_offset, output_count: the output instances.
        scale: fixed-point bits of the (first) output.
        batch_size: inferences per proof; inputs and outputs each split into that many
            equal consecutive per-sample slices, each stored as its own prediction.
        input_scale: fixed-point bits of the (first) input: what the on-chain bounds and an
            attested source quantize with.
        param_offset, param_count: hashed params: the Poseidon hash instances of the weights,
            whose commitment the oracle pins at registration (0, 0: params fixed in the vk).
    """

    binding: str
    instance_count: int
    input_offset: int
    input_count: int
    output_offset: int
    output_count: int
    scale: int
    batch_size: int = 1
    input_scale: int = 0
    param_offset: int = 0
    param_count: int = 0

    @property
    def params(self) -> str:
        """``fixed`` (the weights are in the vk) or ``hashed`` (pinned by their hash instances)."""
        return "hashed" if self.param_count else "fixed"

    def param_instances(self, instances: Sequence[int]) -> tuple[int, ...]:
        """The param-hash instances (empty for fixed params): what the pinned commitment covers."""
        return tuple(instances[self.param_offset : self.param_offset + self.param_count])

    @property
    def binding_code(self) -> int:
        """The Solidity enum value."""
        return BINDING_PUBLIC if self.binding == "public" else BINDING_HASHED

    def input_instances(self, instances: Sequence[int]) -> tuple[int, ...]:
        """The input instances of the whole proof (all samples of a batch)."""
        return tuple(instances[self.input_offset : self.input_offset + self.input_count])

    def sample_inputs(self, instances: Sequence[int]) -> list[tuple[int, ...]]:
        """Each sample's input instances, in batch order: what each input commitment covers."""
        width = self.input_count // self.batch_size
        start = self.input_offset
        return [tuple(instances[start + k * width : start + (k + 1) * width]) for k in range(self.batch_size)]

    @property
    def sample_width(self) -> int:
        """Input instances per sample (what a feature source gives per epoch)."""
        return self.input_count // self.batch_size

    def config_tuple(
        self,
        verifier: str,
        codehash: bytes,
        vka_digest: bytes,
        max_age: int,
        *,
        source: str = ZERO_ADDRESS,
        max_epoch_lag: int = 0,
    ) -> tuple[Any, ...]:
        """The ``ModelConfig`` struct as web3 expects it."""
        return (
            verifier,
            bytes(codehash),
            bytes(vka_digest),
            source,
            self.binding_code,
            self.instance_count,
            self.input_offset,
            self.input_count,
            self.output_offset,
            self.output_count,
            self.param_offset,
            self.param_count,
            self.batch_size,
            self.scale,
            max_epoch_lag,
            max_age,
        )


def model_spec(settings: Settings | Path, *, batch_size: int | None = None) -> ModelSpec:
    """A circuit's instance layout, from its settings.

    Args:
        settings: the circuit's settings, or the path of its ezkl settings file.
        batch_size: inferences per proof; None reads it from the batch stamp that
            :func:`zkml.proving.batch.build_batched` leaves next to the settings (else 1).

    Raises:
        OracleError: the settings are unreadable, the visibility is one the oracle cannot
            bind (private or hashed outputs, private params, polycommit inputs), or
            a batch the oracle cannot split per sample (hashed inputs, several tensors).
    """
    try:
        typed = settings if isinstance(settings, Settings) else read_settings(Path(settings))
    except CalibrationError as exc:
        raise OracleError(f"cannot read the circuit layout ({exc.message})", hint="run `zkml calibrate` first") from exc
    if batch_size is None:
        batch_size = recorded_batch_size(typed.path.parent)
    if batch_size < 1:
        raise OracleError(f"batch size {batch_size} must be >= 1")
    spec = _unbatched_spec(typed)
    if batch_size == 1:
        return spec
    if spec.binding != "public":
        raise OracleError("a batched circuit needs public inputs: one hash over the whole batch cannot be split per sample")
    shapes = typed.instance_shapes
    if len(shapes) != 2 or any(not shape or shape[0] != batch_size for shape in shapes):
        raise OracleError(
            f"{typed.path}: a batch of {batch_size} needs one input and one output tensor with that batch axis, "
            f"found shapes {[list(s) for s in shapes]}"
        )
    return replace(spec, batch_size=batch_size)


def recorded_batch_size(folder: Path) -> int:
    """The batch size a batched circuit's folder is stamped with (1 without a stamp)."""
    try:
        return int(json.loads(Layout(folder).batch_stamp.read_text()).get("batch_size", 1))
    except (OSError, ValueError, TypeError, AttributeError):
        return 1


# Why the oracle refuses params neither fixed in the vk nor hashed: the weights must never be the submitter's choice.
_PARAM_REFUSALS = {
    "private": "the verifying key does not fix the weights and no hash of them is public, so whoever proves chooses them",
}


def _check_visibility(settings: Settings) -> None:
    if settings.output_visibility != "public":
        raise OracleError(
            f"output visibility is {settings.output_visibility}; the oracle stores public outputs",
            hint='set [circuit] output_visibility = "public"',
        )
    if settings.param_visibility not in ("fixed", "hashed"):
        reason = _PARAM_REFUSALS.get(settings.param_visibility, "the oracle binds fixed or hashed params only")
        raise OracleError(
            f"param visibility is {settings.param_visibility}: {reason}",
            hint='set [circuit] param_visibility = "fixed" (the weights in the vk) or "hashed" (their hash pinned on chain)',
        )
    if settings.input_visibility not in ("public", "hashed"):
        raise OracleError(
            f"input visibility is {settings.input_visibility}; the oracle binds public or hashed inputs",
            hint='set [circuit] input_visibility = "public" or "hashed"',
        )


def _unbatched_spec(settings: Settings) -> ModelSpec:
    _check_visibility(settings)
    try:
        segments = public_segments(settings)
    except CalibrationError as exc:
        raise OracleError(f"instance shapes do not match the public inputs and outputs: {exc.message}") from exc
    in_size = sum(s.size for s in segments if s.kind == "input")
    out_size = sum(s.size for s in segments if s.kind == "output")
    scales = settings.output_scales
    scale = scales[0] if scales else 0
    input_scale = settings.input_scales[0] if settings.input_scales else 0
    if len(set(scales)) > 1:
        log.warning("outputs have different scales %s; the oracle stores them all at scale %d", list(scales), scale)
    hashed_inputs = settings.input_visibility == "hashed"
    if hashed_inputs and (not settings.input_hash_public or len(settings.input_scales) > 1):
        raise OracleError(f"{settings.path}: hashed inputs need exactly one public Poseidon hash instance (one public input tensor)")
    params = _param_hashes(settings, input_hashes=1 if hashed_inputs else 0)
    # ezkl 23 lays instances out as: input hash, param hashes, public inputs, public outputs (measured).
    if not hashed_inputs:
        return ModelSpec("public", params + in_size + out_size, params, in_size, params + in_size, out_size, scale,
                         input_scale=input_scale, param_offset=0, param_count=params)  # fmt: skip
    return ModelSpec("hashed", 1 + params + out_size, 0, 1, 1 + params, out_size, scale,
                     input_scale=input_scale, param_offset=1 if params else 0, param_count=params)  # fmt: skip


def _param_hashes(settings: Settings, *, input_hashes: int) -> int:
    """How many Poseidon instances hash the params: ezkl counts input and param hashes together."""
    params = settings.poseidon_instances - input_hashes
    if settings.param_visibility == "fixed":
        if params != 0:
            raise OracleError(
                f"{settings.path}: expected {input_hashes} public Poseidon hash instance(s), found {settings.poseidon_instances}"
            )
        return 0
    if params < 1:
        raise OracleError(
            f"{settings.path}: hashed params publish no hash instance, so nothing pins the weights",
            hint='set [circuit] param_visibility = "fixed", or "hashed" with a public hash',
        )
    return params


class _HasRoot(Protocol):
    @property
    def root(self) -> Path: ...


class OracleCircuit(Protocol):
    """What the oracle needs of a circuit: its workspace (``ws.root``) and its config."""

    @property
    def ws(self) -> _HasRoot: ...

    @property
    def config(self) -> CircuitConfig: ...


__all__ = ["BINDING_HASHED", "BINDING_PUBLIC", "ZERO_ADDRESS", "ModelSpec", "OracleCircuit", "model_spec", "recorded_batch_size"]
