"""Which proof backends can take a model, and why not: halo2 (ezkl) and the circom path (Groth16, PLONK, FFLONK).

Read from the ONNX graph (and, when there is one, the calibrated settings) before anything
is compiled. The Groth16 verdict also estimates the circuit's size: each rescale costs about
``shift + VALUE_BITS + 5`` constraints (a remainder range check, a signed range check of the
quotient, the sign and the ReLU or tie test); the weights cost none (constant coefficients).
A ReLU not fused into a rescale (after an Add, or of an output also published) costs a
signed range check of ``VALUE_BITS`` bits (the bits and their sum) and its product:
``VALUE_BITS + 2`` per element (measured: 4 and 8 ReLUs of the inputs compile to 43 per element
with the output's equality).
A Sigmoid or Tanh element costs about ``2 * sqrt(3 * N)`` constraints for its table of ``N``
levels (~2**s for Sigmoid, ~2**(s+1) for Tanh) plus two ``VALUE_BITS`` range checks
(:func:`zkml.circom.lookups.constraints_estimate`): 401 and 531 at scale 13.
Element-wise steps (:mod:`zkml.circom.elementwise`) cost what their ``constraints`` say: a
rebase as a Dense row's, a comparison one signed range check of ``VALUE_BITS + 1`` bits, an exact
sum (ReduceSum, Transpose, a constant added) one linear constraint per element. A Softmax group costs
its ``Exp`` table lookups, the reciprocal and the rebases (:meth:`zkml.circom.softmax.Softmax.constraints`).
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


def _relu_constraints(graph: Any) -> int:
    """What the graph's standalone ReLUs cost (one not fused into a rescale): a signed range check and a product per element."""
    from zkml.circom.graph import AddOp, Dense, ReluOp

    sizes = dict(graph.inputs)
    constraints = 0
    for step in graph.steps:
        if isinstance(step, ReluOp):
            sizes[step.dst] = sizes[step.src]
            constraints += (VALUE_BITS + 2) * sizes[step.src]
        elif isinstance(step, AddOp):
            sizes[step.dst] = sizes[step.a]
        else:  # a Dense (one output per weight row), a lookup or an element-wise step
            sizes[step.dst] = len(step.weight) if isinstance(step, Dense) else step.size
    return constraints


def _lookup_constraints(graph: Any) -> int:
    """What the graph's Sigmoid/Tanh lookups cost."""
    from zkml.circom.lookups import Lookup, constraints_estimate

    return sum(constraints_estimate(step, VALUE_BITS) for step in graph.steps if isinstance(step, Lookup))


def _elementwise_constraints(graph: Any) -> int:
    """What the graph's element-wise and softmax steps cost: a rebase as a Dense row's, a comparison one signed range check, a sum one."""
    from zkml.circom.elementwise import STEPS
    from zkml.circom.softmax import Softmax

    return sum(step.constraints(VALUE_BITS) for step in graph.steps if isinstance(step, (*STEPS, Softmax)))


def groth16_verdict(onnx_path: Path, scales: ScaleSettings) -> BackendVerdict:
    """The circom backend's verdict: the graph's ops ones it takes, the scales ones it mirrors, the size within its ptau."""
    try:
        graph = read_graph(Path(onnx_path), scales)
    except ZkmlError as exc:
        return BackendVerdict("groth16", False, exc.message)
    from zkml.circom.graph import Dense

    constraints = sum(len(s.bias) * (_remainder_bits(s) + VALUE_BITS + _RESCALE_EXTRA) for s in graph.steps if isinstance(s, Dense))
    # A ReLU after a Gemm row whose bias (added after the rebase) is positive needs its own sign test (a Relu, as below).
    constraints += sum(
        (VALUE_BITS + 2) * sum(b > 0 for b in s.bias) for s in graph.steps if isinstance(s, Dense) and s.relu and s.bias_after_rebase
    )
    constraints += graph.output_size
    constraints += _relu_constraints(graph)
    constraints += _lookup_constraints(graph)
    constraints += _elementwise_constraints(graph)
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
