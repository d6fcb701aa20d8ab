"""Cost before proving: rows, key size, memory, time and gas predicted from the calibrated settings.

Everything here is known once calibration has written ``settings.json``, before
any key exists: ``logrows`` (so ``n = 2**logrows`` rows per column), the rows
the layout uses, advice columns per variable, and how many lookup and
range-check tables the circuit needs. Proving cost is linear in ``n`` per
column (FFTs and multi-scalar multiplications over every column), so each
quantity is modelled as::

    y = c0 + n * (c1 + c2 * inner_cols + c3 * tables) + c4 * assignments

with non-negative coefficients fitted to measurements on this machine
(``benchmarks/estimate_fit.py`` writes ``zkml/estimate_model.json`` from
``benchmarks/results/estimate_measurements.json``). Verify gas is modelled on
the verifier's inputs: ``g0 + g1 * instances + g2 * tables + g3 * inner_cols``.

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


def row_features(shape: CostShape) -> list[float]:
    """The per-row model's features: ``[1, n, n*inner_cols, n*tables, assignments]``."""
    n = float(2**shape.logrows)
    tables = shape.lookups + shape.range_checks + shape.dynamic_lookups + shape.shuffles
    return [1.0, n, n * shape.num_inner_cols, n * tables, float(shape.total_assignments)]


def gas_features(shape: CostShape) -> list[float]:
    """The verify-gas model's features: ``[1, instances, tables, inner_cols]``."""
    tables = shape.lookups + shape.range_checks + shape.dynamic_lookups + shape.shuffles
    return [1.0, float(shape.instances), float(tables), float(shape.num_inner_cols)]


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
            if len(data["targets"][target]) != 5:
                raise ValueError(f"{target} needs 5 coefficients")
        if len(data["verify_gas"]) != 4:
            raise ValueError("verify_gas needs 4 coefficients")
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
    "MODEL_PATH",
    "NO_CHECK_ENV",
    "Estimate",
    "available_memory",
    "check_fits",
    "check_setup_fits",
    "estimate_settings",
    "estimate_shape",
    "gas_features",
    "load_model",
    "row_features",
    "summary_note",
]
