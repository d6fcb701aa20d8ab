"""Choosing a proof backend by measured cost: ``[circuit] backend = "auto"``.

The objective (issue 24): the cheapest verify gas among the backends that meet the fidelity
budget, with prove time capped at a stated multiple (:data:`DEFAULT_PROVE_TIME_MULTIPLE`) of
the fastest such backend. Verify gas is what every DeFi user pays per prediction; proving is
paid once per prediction by the operator, so a slower prover is acceptable up to the cap.
Pure: it reads measurements (e.g. rows of ``benchmarks/results/backends.json``) and measures
nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from zkml.config import BACKENDS
from zkml.errors import ConfigError

# Proving may take up to 10x the fastest backend's time that meets the budget: one order of
# magnitude keeps a sub-second halo2 proof's alternatives within seconds, not minutes.
DEFAULT_PROVE_TIME_MULTIPLE = 10.0


@dataclass(frozen=True)
class BackendMeasurement:
    """One backend's measured cost on one model.

    Attributes:
        backend: ``halo2``, ``groth16``, ``fflonk`` or ``plonk``.
        max_abs_error: fidelity on held-out data (max abs error against the float model).
        prove_s: seconds to prove one sample.
        verify_gas: gas of a verify transaction on chain.
    """

    backend: str
    max_abs_error: float
    prove_s: float
    verify_gas: int

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS or self.backend == "auto":
            raise ConfigError(f"backend {self.backend!r} is not a measurable backend")
        if self.max_abs_error < 0 or self.prove_s <= 0 or self.verify_gas <= 0:
            raise ConfigError(f"{self.backend}: a measurement needs error >= 0, prove seconds > 0 and gas > 0")


@dataclass(frozen=True)
class BackendChoice:
    """The backend chosen and why, on one line."""

    backend: str
    reason: str


def choose_backend(
    measured: Iterable[BackendMeasurement],
    *,
    max_abs_error: float,
    requested: str = "auto",
    prove_time_multiple: float = DEFAULT_PROVE_TIME_MULTIPLE,
) -> BackendChoice:
    """Pick the backend by the stated objective, or check the one ``requested``.

    Args:
        measured: each backend's measurement on the model (one per backend).
        max_abs_error: the fidelity budget.
        requested: ``[circuit] backend``; anything but ``auto`` is taken as pinned, if measured.
        prove_time_multiple: the cap on prove time, as a multiple of the fastest backend within budget.

    Raises:
        ConfigError: nothing measured meets the budget, or the requested backend was not measured.
    """
    rows = {m.backend: m for m in measured}
    if requested != "auto":
        if requested not in rows:
            raise ConfigError(f"backend = {requested!r} was not measured on this model", hint=f"measured: {', '.join(rows) or 'none'}")
        row = rows[requested]
        return BackendChoice(
            requested, f"{requested}: pinned by [circuit] backend ({row.verify_gas:,} verify gas, {row.prove_s:g} s to prove)"
        )
    within = [m for m in rows.values() if m.max_abs_error <= max_abs_error]
    if not within:
        raise ConfigError(f"no backend meets max abs error {max_abs_error:g}", hint="loosen the budget or raise the scale")
    fastest = min(within, key=lambda m: m.prove_s)
    cap = fastest.prove_s * prove_time_multiple
    eligible = [m for m in within if m.prove_s <= cap]
    best = min(eligible, key=lambda m: (m.verify_gas, m.prove_s))
    others = [
        f"{m.backend} {m.verify_gas:,} gas"
        + ("" if m in eligible else f" ({m.prove_s:g} s > cap)" if m in within else f" (error {m.max_abs_error:.3g} > budget)")
        for m in sorted(rows.values(), key=lambda m: m.verify_gas)
        if m is not best
    ]
    speeds = (
        f"{best.backend} is the fastest, {best.prove_s:g} s: cap {cap:g} s"
        if best is fastest
        else f"{fastest.backend} {fastest.prove_s:g} s: cap {cap:g} s; {best.backend} {best.prove_s:g} s"
    )
    return BackendChoice(
        best.backend,
        f"{best.backend}: {best.verify_gas:,} verify gas, the cheapest within max abs error {max_abs_error:g} and "
        f"{prove_time_multiple:g}x the fastest prove ({speeds}); others: {', '.join(others) or 'none'}",
    )


def measurements_from_rows(rows: Iterable[dict[str, object]], model: str) -> tuple[BackendMeasurement, ...]:
    """One model's measurements from ``benchmarks/results/backends.json`` rows (those with every number)."""
    found = []
    for row in rows:
        values = (row.get("fidelity"), row.get("prove_s"), row.get("verify_gas"))
        if row.get("model") != model or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            continue
        error, prove_s, gas = (float(v) for v in values)  # type: ignore[arg-type]
        found.append(BackendMeasurement(str(row["backend"]), error, prove_s, int(gas)))
    return tuple(found)
