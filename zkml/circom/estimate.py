"""The circom backend's cost before any key is made: constraints, powers of tau, prove seconds and verify gas per system.

What is exact and what is predicted:

- Constraints: support.py's estimate from the quantized graph (a few percent off the compiled
  count on the measured models), or exact from a compiled ``.r1cs``.
- PLONK gates (PLONK's and FFLONK's size): ``2 * constraints + public signals`` predicted (the
  compiled circuits measured 1.88x to 2.01x their constraints), or exact from the ``.r1cs``
  (:func:`zkml.circom.systems.plonk_gates`).
- ptau power: snarkjs's own rule applied to those counts (exact when they are).
- Prove seconds and verify gas: least-squares lines through the rows measured by
  ``benchmarks/backends.py`` (:data:`MEASURED`), prove seconds against constraints (Groth16) or
  PLONK gates, verify gas against public signals. Predicted, on the measuring machine's 2 shared
  cores; the seconds are indicative (snarkjs's node start-up and witness generation dominate).

Groth16's verify gas is driven by its public signals. By the EIP-1108 precompile prices its
floor is ``21,000 + 181,000 + 6,150 * public``: the transaction base, a 4-pairing check
(45,000 + 4 x 34,000), and per public signal one ecMul (6,000) and one ecAdd (150); calldata,
the verifier's field checks and the oracle adapter (~5k) come on top. The line fitted through
the measured rows is about ``211,200 + 7,070 * public`` (10 models, 2026-12-05). Groth16's prove seconds
show little trend over the measured sizes (node start-up dominates); a line never slopes down (:func:`fit_line`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# (model, system, R1CS constraints, PLONK gates, public signals, prove s, verify tx gas through the oracle adapter): the
# rows of the last committed run of benchmarks/backends.py (benchmarks/results/backends.json) with all three systems
# proved, written by that run into estimate_rows.json beside this module (PLONK gates counted on its compiled circuits).
ROWS_FILE = Path(__file__).with_name("estimate_rows.json")


def _measured() -> tuple[tuple[tuple[str, str, int, int, int, float, int], ...], str]:
    import json

    data = json.loads(ROWS_FILE.read_text())
    rows = tuple((str(m), str(s), int(c), int(g), int(p), float(t), int(gas)) for m, s, c, g, p, t, gas in data["rows"])
    return rows, str(data["source"])


MEASURED, MEASURED_SOURCE = _measured()
SYSTEM_NAMES = ("groth16", "plonk", "fflonk")
# EIP-1108 (Istanbul) prices: the transaction base, a 4-pairing check, and one ecMul + one ecAdd per public signal.
TX_BASE_GAS, GROTH16_PAIRING_GAS, GAS_PER_PUBLIC_SIGNAL = 21_000, 45_000 + 4 * 34_000, 6_000 + 150


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares ``y = a + b x`` with ``b >= 0`` (a negative slope is noise here: the mean is taken instead)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    if slope < 0:
        return mean_y, 0.0
    return mean_y - slope * mean_x, slope


def _size(system: str, constraints: int, gates: int) -> int:
    """What a system's proving time is fitted against: R1CS constraints for Groth16, PLONK gates for the universal ones."""
    return constraints if system == "groth16" else gates


def groth16_power(constraints: int, public_signals: int) -> int:
    """Groth16's ptau power by snarkjs's rule (:func:`zkml.circom.ptau.power_for` without its refusal above the backend's largest)."""
    from zkml.circom.ptau import MIN_POWER

    return max(MIN_POWER, (constraints + public_signals).bit_length())


def groth16_gas_floor(public_signals: int) -> int:
    """The least gas a Groth16 verify transaction can cost by the EIP-1108 prices (no calldata, no other work)."""
    return TX_BASE_GAS + GROTH16_PAIRING_GAS + GAS_PER_PUBLIC_SIGNAL * public_signals


@dataclass(frozen=True)
class SystemEstimate:
    """One snarkjs system's predicted cost for a model.

    Attributes:
        system: ``groth16``, ``plonk`` or ``fflonk``.
        ptau_power: the powers of tau its setup needs.
        within_backend: that power is within what the circom backend makes (:data:`zkml.circom.ptau.MAX_POWER`).
        prove_seconds: predicted, on the measuring machine.
        verify_gas: predicted gas of a verify transaction through the oracle adapter.
        verify_gas_floor: Groth16's EIP-1108 floor (None for the others).
    """

    system: str
    ptau_power: int
    within_backend: bool
    prove_seconds: float
    verify_gas: int
    verify_gas_floor: int | None = None


@dataclass(frozen=True)
class CircomEstimate:
    """The circom backend's predicted cost for a model, or why it cannot take it.

    Attributes:
        takes: the circom backend takes the model (:func:`zkml.circom.support.groth16_verdict`).
        reason: why not (empty when it does).
        constraints, plonk_gates, public_signals: the circuit's size.
        exact: the sizes come from a compiled ``.r1cs`` (else they are predicted from the graph).
        systems: per snarkjs system.
    """

    takes: bool
    reason: str = ""
    constraints: int = 0
    plonk_gates: int = 0
    public_signals: int = 0
    exact: bool = False
    systems: tuple[SystemEstimate, ...] = ()

    def basis(self) -> dict[str, str]:
        """Where each figure comes from."""
        size = "exact: the compiled R1CS" if self.exact else "predicted: support.py's estimate from the graph (within ~4% measured)"
        gates = "exact: the compiled R1CS" if self.exact else "predicted: 2 x constraints + public signals (measured 1.88-2.01x)"
        fitted = f"predicted: least-squares line through {len(MEASURED) // len(SYSTEM_NAMES)} models measured in {MEASURED_SOURCE}"
        return {
            "constraints": size,
            "plonk_gates": gates,
            "public_signals": "exact: the graph's inputs and outputs",
            "ptau_power": "snarkjs's rule on those sizes",
            "prove_seconds": fitted + " (against constraints for groth16, PLONK gates for plonk/fflonk); indicative",
            "verify_gas": fitted + " (against public signals; a verify tx through the oracle adapter)",
            "verify_gas_floor": f"formula: {TX_BASE_GAS:,} + {GROTH16_PAIRING_GAS:,} + {GAS_PER_PUBLIC_SIGNAL:,} x public signals (EIP-1108)",
        }

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON, with :meth:`basis`."""
        data = asdict(self)
        data["systems"] = {s.system: {k: v for k, v in asdict(s).items() if k != "system"} for s in self.systems}
        return {**data, "basis": self.basis() if self.takes else {}}

    def lines(self) -> list[str]:
        """Lines for ``zkml estimate``: the size, then one per system; each says predicted or exact."""
        if not self.takes:
            return [f"circom: no: {self.reason}"]
        how = "exact" if self.exact else "predicted"
        out = [
            f"circom   {self.constraints:,} constraints, {self.plonk_gates:,} PLONK gates, {self.public_signals} public signals  [{how}]"
        ]
        for s in self.systems:
            limit = "" if s.within_backend else " (above the backend's largest ptau)"
            floor = f" (EIP-1108 floor {s.verify_gas_floor:,})" if s.verify_gas_floor else ""
            out.append(
                f"  {s.system:<8} ptau 2^{s.ptau_power}{limit}, prove ~{s.prove_seconds:.1f} s, verify gas ~{s.verify_gas:,}{floor}  [predicted]"
            )
        return out


def predict_systems(constraints: int, gates: int, public_signals: int) -> tuple[SystemEstimate, ...]:
    """Each system's ptau power (snarkjs's rule) and its prove seconds and verify gas (lines through :data:`MEASURED`)."""
    from zkml.circom.ptau import MAX_POWER
    from zkml.circom.systems import universal_ptau_power

    found = []
    for name in SYSTEM_NAMES:
        rows = [row for row in MEASURED if row[1] == name]
        a, b = fit_line([(_size(name, row[2], row[3]), row[5]) for row in rows])
        g0, g1 = fit_line([(row[4], row[6]) for row in rows])
        power = groth16_power(constraints, public_signals) if name == "groth16" else universal_ptau_power(name, gates)
        found.append(
            SystemEstimate(
                system=name,
                ptau_power=power,
                within_backend=power <= MAX_POWER,
                prove_seconds=round(a + b * _size(name, constraints, gates), 2),
                verify_gas=int(round(g0 + g1 * public_signals)),
                verify_gas_floor=groth16_gas_floor(public_signals) if name == "groth16" else None,
            )
        )
    return tuple(found)


def estimate_circom(onnx_path: Path, settings_path: Path, *, r1cs: Path | None = None, batch_size: int = 1) -> CircomEstimate:
    """The circom backend's cost for a model at its calibrated scales (``r1cs``: a compiled circuit, for exact sizes).

    ``batch_size`` B > 1: the batch circuit of the batch-1 ``onnx_path`` (B copies: B times its
    constraints and public signals, :mod:`zkml.circom.batch`); ``r1cs`` is then the batch circuit's.

    Never raises for a model the backend cannot take: the estimate says why instead.

    Raises:
        CalibrationError: ``settings_path`` is not an ezkl settings file.
    """
    from zkml.circom.graph import ScaleSettings
    from zkml.circom.support import groth16_verdict

    verdict = groth16_verdict(Path(onnx_path), ScaleSettings.read(Path(settings_path)))
    if not verdict.ok:
        return CircomEstimate(False, verdict.reason)
    if r1cs is not None:
        from zkml.circom.build import r1cs_counts
        from zkml.circom.systems import plonk_gates

        constraints, public = r1cs_counts(r1cs)
        gates = plonk_gates(r1cs)
    else:
        constraints, public = batch_size * verdict.details["constraints_estimate"], batch_size * verdict.details["public_signals"]
        gates = 2 * constraints + public
    return CircomEstimate(True, "", constraints, gates, public, r1cs is not None, predict_systems(constraints, gates, public))


def compile_and_estimate(onnx_path: Path, settings_path: Path, folder: Path, *, batch_size: int = 1) -> CircomEstimate:
    """:func:`estimate_circom` with exact sizes: compile the circuit into ``folder`` first (seconds for small models).

    A model the backend cannot take is not compiled: the estimate says why.
    """
    from zkml.circom.measure import load_or_compile
    from zkml.errors import CircuitError

    first = estimate_circom(onnx_path, settings_path, batch_size=batch_size)
    if not first.takes:
        return first
    try:
        circuit = load_or_compile(Path(onnx_path), Path(settings_path), folder, batch_size=batch_size)
    except CircuitError as exc:
        return CircomEstimate(False, exc.message)
    return estimate_circom(onnx_path, settings_path, r1cs=circuit.r1cs, batch_size=batch_size)


def estimate_workspace(workspace: Path, settings_path: Path, *, compile_circuit: bool = False) -> CircomEstimate:
    """:func:`estimate_circom` (or, with ``compile_circuit``, :func:`compile_and_estimate`) for a workspace's circuit:
    a batch workspace's is its batch-1 model's batch circuit (:func:`zkml.circom.measure.circuit_source`)."""
    from zkml.circom.measure import CIRCOM_DIR, circuit_source
    from zkml.errors import CircuitError

    try:
        onnx_path, batch = circuit_source(Path(workspace))
    except CircuitError as exc:
        return CircomEstimate(False, exc.message)
    if compile_circuit:
        return compile_and_estimate(onnx_path, settings_path, Path(workspace) / CIRCOM_DIR, batch_size=batch)
    return estimate_circom(onnx_path, settings_path, batch_size=batch)
