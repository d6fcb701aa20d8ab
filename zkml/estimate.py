"""Cost before proving: rows, key size, memory, time and gas predicted from the calibrated settings.

Everything here is known once calibration has written ``settings.json``, before
any key exists: ``logrows`` (so ``n = 2**logrows`` rows per column), the advice
columns per variable, the lookup and range-check tables (and how many columns
each is split over), and whether the circuit has dynamic lookups or shuffles.
Proving cost is linear in the size of the polynomials halo2 builds: every
committed column has ``n`` values, and to compute the quotient it is also
evaluated on an extended domain of ``E * n`` points, ``E = 2**ceil(log2(degree - 1))``
(see :func:`degree`). ezkl's static lookups give degree 5, so ``E = 4``; dynamic
lookups and shuffles (ezkl proves both as lookups with selected advice on both
sides), the einsum (Freivalds) chip, four or more inner columns (the running
product multiplies them all) and tables split over several columns give degree
6 or more, so ``E = 8``: the same columns then cost about twice the memory, key
and time (measured: gbt_classifier, whose shuffle doubles what conv1d_sequence
with the same tables costs). Each lookup argument (one per inner column per
table column, and one per inner column for dynamic lookups and for shuffles)
adds its own committed columns. So each quantity is
modelled as::

    y = c0 + n*E * (c1 + c2 * inner_cols + c3 * lookup_args) + c4 * assignments
    lookup_args = inner_cols * (table_cols + [dynamic lookups] + [shuffles])

with non-negative coefficients fitted to measurements on this machine
(``benchmarks/estimate_fit.py`` writes ``zkml/estimate_model.json`` from
``benchmarks/results/estimate_measurements.json``). Verify gas is modelled on
what the verifier reads and checks: ``g0 + g1 * instances + g2 * lookup_args +
g3 * inner_cols + g4 * einsum_cols`` (the einsum chip's advice columns).

The one refusal: a circuit whose key setup would need more memory than the
machine has available raises :class:`~zkml.errors.InsufficientMemoryError`
with the numbers, instead of being killed by the OOM killer mid-setup.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from zkml.errors import ConfigError, InsufficientMemoryError
from zkml.settings import CostShape, read_cost_shape

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).with_name("estimate_model.json")
# The quantities fitted on the per-row model, in estimate_model.json's "targets".
TARGETS = ("prove_seconds", "setup_seconds", "prove_peak_bytes", "setup_peak_bytes", "pk_bytes")
# Setup may use at most this share of the memory available when it starts (the rest: the OS, other jobs).
MEMORY_HEADROOM = 0.9
# Set (to anything but 0) to skip the refusal before key setup.
NO_CHECK_ENV = "ZKML_NO_MEMORY_CHECK"


# The per-row model's features (estimate_model.json's "row_features") and the verify-gas model's.
ROW_FEATURES = ("1", "n*E", "n*E*inner_cols", "n*E*lookup_args", "assignments")
GAS_FEATURES = ("1", "instances", "lookup_args", "inner_cols", "einsum_cols")


def degree(shape: CostShape) -> int:
    """The circuit's constraint degree, as ezkl 23 configures it.

    5 for static lookups (a selected advice cell against a fixed table); ``2 + inner_cols``
    for the running-product gate (its row multiplies every inner column); 6 when a lookup
    has advice on the table side too (dynamic lookups and shuffles) and for the einsum
    (Freivalds) chip's gates; ``4 + columns`` for a table split over several columns (its
    column selector multiplies the input).
    """
    advice_tables = shape.dynamic_lookups > 0 or shape.shuffles > 0 or shape.einsum_col_size > 0
    return max(5, 2 + shape.num_inner_cols, 6 if advice_tables else 0, 4 + shape.widest_table)


def extension(shape: CostShape) -> int:
    """``E``: the extended domain halo2 evaluates the quotient on is ``E * n`` points, ``E = 2**ceil(log2(degree - 1))``."""
    return 1 << (degree(shape) - 2).bit_length()


def lookup_arguments(shape: CostShape) -> int:
    """Lookup arguments halo2 proves: per inner column, one per table column, one for dynamic lookups, one for shuffles."""
    tables = max(shape.table_cols, shape.lookups + shape.range_checks)
    return shape.num_inner_cols * (tables + (shape.dynamic_lookups > 0) + (shape.shuffles > 0))


def row_features(shape: CostShape) -> list[float]:
    """The per-row model's features (:data:`ROW_FEATURES`): ``[1, nE, nE*inner_cols, nE*lookup_args, assignments]``."""
    extended = float(2**shape.logrows * extension(shape))
    return [1.0, extended, extended * shape.num_inner_cols, extended * lookup_arguments(shape), float(shape.total_assignments)]


def einsum_columns(shape: CostShape) -> int:
    """Advice columns of ezkl's einsum (Freivalds) chip: its 3 inputs and output, each ``inner_cols`` wide (0 without it)."""
    return 4 * shape.num_inner_cols if shape.einsum_col_size > 0 else 0


def gas_features(shape: CostShape) -> list[float]:
    """The verify-gas model's features (:data:`GAS_FEATURES`): ``[1, instances, lookup_args, inner_cols, einsum_cols]``."""
    return [1.0, float(shape.instances), float(lookup_arguments(shape)), float(shape.num_inner_cols), float(einsum_columns(shape))]


@dataclass(frozen=True)
class Estimate:
    """Predicted cost of one circuit (bytes, seconds, gas), and the memory available now.

    Attributes:
        logrows, rows: the circuit's size (exact: from the settings).
        pk_bytes: proving-key file size.
        setup_peak_bytes, prove_peak_bytes: peak resident memory of key setup and of proving.
        setup_seconds, prove_seconds: on this machine (the fitted model's machine).
        verify_gas: gas of an on-chain verification with the plain verifier.
        available_bytes: memory available to setup now (None when unknown).
    """

    logrows: int
    rows: int
    pk_bytes: int
    setup_peak_bytes: int
    prove_peak_bytes: int
    setup_seconds: float
    prove_seconds: float
    verify_gas: int
    available_bytes: int | None

    @property
    def fits(self) -> bool:
        """Whether setup's predicted peak fits in the memory available (True when unknown)."""
        return self.available_bytes is None or self.setup_peak_bytes <= self.available_bytes * MEMORY_HEADROOM

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON (with ``fits``)."""
        return {**asdict(self), "fits": self.fits}

    def line(self) -> str:
        """One line for ``zkml run``'s summary."""
        return (
            f"logrows {self.logrows} ({self.rows:,} rows), pk ~{_size(self.pk_bytes)}, "
            f"setup peak ~{_size(self.setup_peak_bytes)}, prove peak ~{_size(self.prove_peak_bytes)}, "
            f"prove ~{self.prove_seconds:.1f}s, verify gas ~{self.verify_gas:,}"
        )


@cache
def load_model(path: Path = MODEL_PATH) -> dict[str, Any]:
    """The fitted coefficients (``estimate_model.json``).

    Raises:
        ConfigError: missing or malformed (refit with ``python -m benchmarks.estimate_fit``).
    """
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text())
        for target in TARGETS:
            if len(data["targets"][target]) != len(ROW_FEATURES):
                raise ValueError(f"{target} needs {len(ROW_FEATURES)} coefficients")
        if len(data["verify_gas"]) != len(GAS_FEATURES):
            raise ValueError(f"verify_gas needs {len(GAS_FEATURES)} coefficients")
        if data.get("row_features", list(ROW_FEATURES)) != list(ROW_FEATURES):
            raise ValueError(f"its features {data['row_features']} are not this zkml's {list(ROW_FEATURES)}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not an estimate model: {exc}", hint="refit it: python -m benchmarks.estimate_fit") from exc
    return data


def estimate_shape(shape: CostShape, *, model: dict[str, Any] | None = None, available: int | None = None) -> Estimate:
    """Predict the cost of a circuit of this shape (``available``: memory to compare setup with)."""
    coef = model or load_model()
    x = row_features(shape)

    def predict(target: str) -> float:
        return max(0.0, sum(c * v for c, v in zip(coef["targets"][target], x, strict=True)))

    gas = max(0.0, sum(c * v for c, v in zip(coef["verify_gas"], gas_features(shape), strict=True)))
    return Estimate(
        logrows=shape.logrows,
        rows=shape.num_rows,
        pk_bytes=int(predict("pk_bytes")),
        setup_peak_bytes=int(predict("setup_peak_bytes")),
        prove_peak_bytes=int(predict("prove_peak_bytes")),
        setup_seconds=round(predict("setup_seconds"), 3),
        prove_seconds=round(predict("prove_seconds"), 3),
        verify_gas=int(gas),
        available_bytes=available,
    )


def estimate_settings(settings_path: Path, *, available: int | None = None) -> Estimate:
    """Predict the cost of the circuit a ``settings.json`` describes; ``available`` defaults to :func:`available_memory`.

    Raises:
        CalibrationError: not an ezkl settings file.
        ConfigError: no fitted model.
    """
    return estimate_shape(read_cost_shape(settings_path), available=available if available is not None else available_memory())


def check_fits(estimate: Estimate) -> None:
    """Refuse a circuit whose key setup would not fit in the memory available.

    Raises:
        InsufficientMemoryError: with the predicted peak and what is available.
    """
    if estimate.fits:
        return
    assert estimate.available_bytes is not None
    raise InsufficientMemoryError(
        f"key setup of this circuit (logrows {estimate.logrows}, {estimate.rows:,} rows) needs about "
        f"{_size(estimate.setup_peak_bytes)} of memory (proving about {_size(estimate.prove_peak_bytes)}, "
        f"proving key about {_size(estimate.pk_bytes)}); {_size(estimate.available_bytes)} is available",
        hint="free memory or use a bigger machine; or shrink the circuit: zkml tune (smaller decomposition, fewer "
        f"logrows), lower scales, or a smaller model; {NO_CHECK_ENV}=1 tries anyway (the estimate may be off)",
    )


def check_setup_fits(settings_path: Path) -> None:
    """:func:`check_fits` for a settings file; silent when no estimate model is installed.

    ``ZKML_NO_MEMORY_CHECK=1`` skips it: the model extrapolates beyond the
    circuits it was fitted on, and a user who knows better may try anyway.

    Raises:
        InsufficientMemoryError: setup would not fit.
    """
    if os.environ.get(NO_CHECK_ENV, "") not in ("", "0"):
        log.warning("%s is set: no memory check before key setup", NO_CHECK_ENV)
        return
    try:
        estimate = estimate_settings(settings_path)
    except ConfigError as exc:
        log.warning("no memory check before setup: %s", exc)
        return
    log.info("estimate: %s", estimate.line())
    check_fits(estimate)


def summary_note(settings_path: Path) -> dict[str, Any]:
    """``estimate`` (the numbers) and ``estimate_line`` for ``zkml run``'s summary; empty without a model."""
    try:
        estimate = estimate_settings(settings_path)
    except ConfigError as exc:
        log.warning("no estimate: %s", exc)
        return {}
    return {"estimate": estimate.as_dict(), "estimate_line": estimate.line()}


# -- per prediction: a batch of B samples in one proof ---------------------------------------------

# An attested oracle submission's gas minus its bare verifier's (feature-source reads, checks, storage, events),
# per submission, measured by benchmarks/oracle_gas.py on circuits/mlp_regressor (8 inputs, 1 output, one feed:
# B=1 steady state; B=16 batch 1 over 16 epochs), benchmarks/results/oracle_gas.md, 2026-12-05. The oracle's
# work grows with the samples it checks and stores; between and beyond the two points it is taken as linear.
ORACLE_OVERHEAD_MEASURED = {1: 144_075, 16: 493_627}
ORACLE_GAS_SOURCE = "benchmarks/results/oracle_gas.md (circuits/mlp_regressor, one feed)"


def oracle_overhead(batch_size: int) -> tuple[int, str]:
    """The oracle's gas per attested submission of ``batch_size`` samples, and its basis.

    Returns:
        The gas, and ``measured`` (a measured batch size), ``interpolated`` (between them) or
        ``extrapolated`` (beyond them): the line through the measured points.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be >= 1")
    if batch_size in ORACLE_OVERHEAD_MEASURED:
        return ORACLE_OVERHEAD_MEASURED[batch_size], "measured"
    (b0, g0), (b1, g1) = sorted(ORACLE_OVERHEAD_MEASURED.items())
    gas = g0 + (g1 - g0) * (batch_size - b0) / (b1 - b0)
    return int(round(gas)), "interpolated" if b0 < batch_size < b1 else "extrapolated"


@dataclass(frozen=True)
class BatchEstimate:
    """A batch-``B`` circuit's cost per proof (:class:`Estimate` of its settings) and per prediction.

    Attributes:
        batch_size: samples per proof.
        proof: the batched circuit's estimate (rows exact, the rest from the fitted model).
        oracle_overhead_gas: the oracle's gas per attested submission, beyond the verifier's.
        oracle_basis: ``measured``, ``interpolated`` or ``extrapolated`` (:func:`oracle_overhead`).
        fitted_points: how many measured circuits the per-row and gas models were fitted on.
    """

    batch_size: int
    proof: Estimate
    oracle_overhead_gas: int
    oracle_basis: str
    fitted_points: int

    @property
    def submit_gas(self) -> int:
        """An attested oracle submission of one proof: verification plus the oracle's work."""
        return self.proof.verify_gas + self.oracle_overhead_gas

    def per_prediction(self) -> dict[str, float]:
        """Prove seconds, verify gas and attested submission gas per prediction."""
        b = self.batch_size
        return {
            "prove_seconds": round(self.proof.prove_seconds / b, 3),
            "verify_gas": self.proof.verify_gas // b,
            "submit_gas": self.submit_gas // b,
        }

    def basis(self) -> dict[str, str]:
        """Where each figure comes from."""
        model = f"model: fitted on {self.fitted_points} measurements, extrapolated to this circuit's shape"
        return {
            "rows": "exact: the calibrated settings",
            "pk_bytes, memory, seconds, verify_gas": model,
            "oracle_overhead_gas": f"{self.oracle_basis}: {ORACLE_GAS_SOURCE}",
        }

    def as_dict(self) -> dict[str, Any]:
        """The proof's estimate (its keys at the top, as ``zkml estimate --json`` always had) and the batch figures."""
        return {
            **self.proof.as_dict(),
            "batch_size": self.batch_size,
            "oracle_overhead_gas": self.oracle_overhead_gas,
            "submit_gas": self.submit_gas,
            "per_prediction": self.per_prediction(),
            "basis": self.basis(),
        }


def estimate_batch(settings_path: Path, batch_size: int, *, available: int | None = None) -> BatchEstimate:
    """:func:`estimate_settings` for a batch-``batch_size`` circuit's settings, with its cost per prediction.

    Raises:
        CalibrationError: not an ezkl settings file.
        ConfigError: no fitted model, or ``batch_size`` < 1.
    """
    proof = estimate_settings(settings_path, available=available)
    overhead, basis = oracle_overhead(batch_size)
    return BatchEstimate(batch_size, proof, overhead, basis, int(load_model().get("points", 0)))


def available_memory() -> int | None:
    """Bytes of memory a new process may use now: ``MemAvailable``, capped by the cgroup's limit (None when unknown)."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _size(value: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}" if unit == "GB" else f"{value / scale:.0f} {unit}"
    return f"{value} B"


__all__ = [
    "GAS_FEATURES",
    "ORACLE_OVERHEAD_MEASURED",
    "BatchEstimate",
    "estimate_batch",
    "oracle_overhead",
    "MODEL_PATH",
    "NO_CHECK_ENV",
    "ROW_FEATURES",
    "Estimate",
    "available_memory",
    "check_fits",
    "check_setup_fits",
    "estimate_settings",
    "degree",
    "einsum_columns",
    "estimate_shape",
    "extension",
    "gas_features",
    "load_model",
    "lookup_arguments",
    "row_features",
    "summary_note",
]
