"""Which proof backends can take a model, and why not: halo2 (ezkl) and the circom path (Groth16, PLONK, FFLONK).

Read from the ONNX graph (and, when there is one, the calibrated settings) before anything
is compiled. The Groth16 verdict also estimates the circuit's size: each rescale costs about
``shift + VALUE_BITS + 5`` constraints (a remainder range check, a signed range check of the
quotient, the sign and the ReLU or tie test); the weights cost none (constant coefficients).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkml.circom.codegen import VALUE_BITS
from zkml.circom.graph import ScaleSettings, read_graph
from zkml.circom.ptau import power_for
from zkml.errors import ZkmlError

# What one rescale costs beyond its two range checks (equality, sign, ReLU or tie test), measured
# loosely on mlp_regressor: 33 rescales compile to 1,950 constraints at --O1 (this estimate: 1,915).
_RESCALE_EXTRA = 5


@dataclass(frozen=True)
class BackendVerdict:
    """Whether a backend can prove a model.

    Attributes:
        backend: ``halo2`` or ``groth16``.
        ok: it can.
        reason: why not (empty when it can).
        details: what the verdict found (``constraints_estimate``, ``ptau_power``, ``op_counts``).
    """

    backend: str
    ok: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the CLI."""
        if not self.ok:
            return f"{self.backend}: no: {self.reason}"
        extra = ", ".join(f"{k.replace('_', ' ')} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in self.details.items())
        return f"{self.backend}: yes" + (f" ({extra})" if extra else "")


def halo2_verdict(onnx_path: Path) -> BackendVerdict:
    """ezkl's verdict: zkml's preflight over the graph's ops."""
    from zkml.artifacts import OnnxModel, sha256_file
    from zkml.preflight import preflight

    # preflight reads only the path; the specs are not needed for an op check.
    report = preflight(OnnxModel(Path(onnx_path), sha256_file(onnx_path), 0, (), ()), strict=False)
    if report.ok:
        return BackendVerdict("halo2", True)
    nodes = ", ".join(f"{name} ({op})" for name, op in report.unsupported[:5])
    return BackendVerdict("halo2", False, f"ezkl cannot compile {nodes}")


def _remainder_bits(step: Any) -> int:
    """A power-of-two rebase checks its remainder in ``shift`` bits; another divisor, twice (below it and above 0)."""
    return step.shift if step.divisor is None else 2 * (step.divisor - 1).bit_length()


def groth16_verdict(onnx_path: Path, scales: ScaleSettings) -> BackendVerdict:
    """The circom backend's verdict: the graph's ops ones it takes, the scales ones it mirrors, the size within its ptau."""
    try:
        graph = read_graph(Path(onnx_path), scales)
    except ZkmlError as exc:
        return BackendVerdict("groth16", False, exc.message)
    from zkml.circom.graph import Dense

    constraints = sum(len(s.bias) * (_remainder_bits(s) + VALUE_BITS + _RESCALE_EXTRA) for s in graph.steps if isinstance(s, Dense))
    constraints += graph.output_size
    public = graph.input_size + graph.output_size
    try:
        power = power_for(constraints, public)
    except ZkmlError as exc:
        return BackendVerdict("groth16", False, exc.message)
    return BackendVerdict("groth16", True, details={"constraints_estimate": constraints, "public_signals": public, "ptau_power": power})


def backend_verdicts(onnx_path: Path, settings_path: Path | None = None, *, default_scale: int = 13) -> tuple[BackendVerdict, ...]:
    """Both backends' verdicts on a model; without settings, the scales are ``default_scale`` for inputs and params."""
    scales = ScaleSettings.read(settings_path) if settings_path is not None else ScaleSettings(default_scale, default_scale)
    return halo2_verdict(onnx_path), groth16_verdict(onnx_path, scales)
