"""Constant folding, element-wise ops and linear maps by constants on the circom path, as ezkl computes them.

ezkl (through tract) computes every subgraph whose inputs are all constants ahead, in f32, and
quantizes the result: int8 weights ``Cast`` and multiplied by their scale are quantized as the
f32 product (40 of 40 inputs of the corpus' int8_weights match; quantizing the parts, 14).
:func:`fold_constants` does the same with ONNX's reference evaluator.

The rules below were measured against ``gen_witness`` of ezkl 23.0.5 at input and param scale
13 (and 11 for the tree), on tiny onnx.helper models (tests/circom/test_elementwise.py):

- ``Mul`` by a constant multiplies by the constant quantized at the param scale and rebases by
  ``2**param_scale``, half away from zero (30 of 30, vector and scalar constants). A *scalar*
  power of two below 1 is different: ezkl only relabels the scale (``x * 0.5`` comes out as
  ``x`` at scale 14), so it is refused here, as is a scalar ``Div`` by a power of two above 1.
- ``Div`` by a constant is a ``Mul`` by its f32 reciprocal (30 of 30 vector; scalar 3: 13 of 13).
- ``Add``/``Sub`` of a constant adds it quantized at the activation scale, no rebase (30 of 30
  each, both operand orders); of two activations, the difference with no rebase (30 of 30).
  Operands at different scales are aligned up: the lower one is multiplied by ``2**diff``
  (a comparison's 0/1 added to an activation at 13 adds ``2**13``: float_equal_op10).
- ``BatchNormalization`` (inference) is tract's affine ``x * slope + intercept`` with
  ``slope = gamma / sqrt(var + eps)`` and ``intercept = beta - mean * slope`` in f32: the
  ``Mul`` rebased first, *then* the intercept added (30 of 30 alone and after a Gemm; at a
  negative tie only rebase-then-add matches: ``-1 * 0.5 + 1`` gives ``8191``).
- ``ReduceSum`` and ``Transpose`` move and add integers exactly, no rebase (30 of 30).
- ``MatMul``/``Gemm`` with a constant operand on either side: the constant at the param scale,
  the product rebased when its scale ``s_in + param_scale`` exceeds the input scale (a 0/1 at
  scale 0 times a constant is not rebased: tree_ensemble's leaf selection).
- ``LessOrEqual``/``Less``/``Greater``/``GreaterOrEqual``/``Equal`` against a constant compare
  the quantized integers (the constant at the activation scale) and give 0/1 at scale 0
  (11 of 11 each, inputs on, above and below every threshold; ``Equal`` as zkml's rewrite
  ``Not(Or(Less, Greater))`` proves it, since ezkl's own ``Equal`` gives true as ``2**-scale``).
- ``Not``, ``Or``, ``And`` and ``Xor`` of 0/1s (a comparison's, or another of these) give 0/1 at
  scale 0: ``1 - a``, ``a + b - a*b``, ``a*b`` and ``a + b - 2*a*b`` (exported float_equal_op10's
  ``Not(Or(Less, Greater))`` and a band ``And``/``Xor``, every combination of inputs).

Every linear op becomes one :class:`Linear` step (a sparse integer matrix, an optional rebase
and an offset after it), built by applying the op to the basis vectors in
exact int64 arithmetic, so one evaluation and one circom emission serve them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

COMPARISONS = frozenset({"LessOrEqual", "Less", "Greater", "GreaterOrEqual", "Equal"})
BOOLEAN_OPS = frozenset({"Not", "Or", "And", "Xor"})
OPS = frozenset({"Mul", "Div", "Sub", "ReduceSum", "BatchNormalization", "Transpose"}) | COMPARISONS | BOOLEAN_OPS
# The circom library this module's steps use, beside codegen's (Bits and the rescales).
LIBRARY = """
// 1 when in >= 0, for a signed in with |in| < 2^(b-1).
template IsNonNegative(b) {
    signal input in;
    signal output out;
    component range = Bits(b);
    range.in <== in + (1 << (b - 1));
    out <== range.out[b - 1];
}

// 1 when in == 0.
template IsZero() {
    signal input in;
    signal output out;
    signal inv;
    inv <-- in != 0 ? 1 / in : 0;
    out <== 1 - in * inv;
    in * out === 0;
}
"""


def round_div(value: int, divisor: int) -> int:
    """``value / divisor`` rounded half away from zero (ezkl's rebase), for a positive ``divisor``."""
    magnitude = (2 * abs(value) + divisor) // (2 * divisor)
    return magnitude if value >= 0 else -magnitude


def quantize_array(values: Any, scale: int) -> Any:
    """ezkl's quantization of a constant tensor: ``round(f32(v) * 2**scale)`` in f64, half away from zero, as int64."""
    import numpy as np

    scaled = np.asarray(values, dtype=np.float32).astype(np.float64) * 2.0**scale
    return (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int64)


def _expression(terms: Iterable[tuple[int, int]], src: str, constant: int) -> str:
    parts = [f"{coef} * {src}[{i}]" if coef != 1 else f"{src}[{i}]" for i, coef in terms]
    return " + ".join([*parts, str(constant)] if constant or not parts else parts)


@dataclass(frozen=True)
class Linear:
    """``dst[j] = round(sum_i coef * src[i] / 2**shift) + offset[j]``, exact integers when ``shift`` is 0; then ReLU when ``relu_bits``.

    Attributes:
        src, dst: tensor names.
        rows: per output element, its ``(input index, integer coefficient)`` terms.
        shift: the rebase divides by ``2**shift`` half away from zero; 0: none.
        offset: added after the rebase (a BatchNormalization's intercept, ezkl's Add after its Mul).
        what: the ONNX op it came from, for the circuit's comments.
        relu_bits: 0, or a ReLU follows whose signed range check needs only this many bits: an exact sum
            of 0/1s times constants is bounded (tree_ensemble's leaf indicators: 17 bits, not 40).
    """

    src: str
    dst: str
    rows: tuple[tuple[tuple[int, int], ...], ...]
    shift: int
    offset: tuple[int, ...]
    what: str
    relu_bits: int = 0

    @property
    def size(self) -> int:
        return len(self.rows)

    def evaluate(self, values: Mapping[str, list[int]]) -> list[int]:
        x = values[self.src]
        sums = [sum(coef * x[i] for i, coef in row) for row in self.rows]
        rebased = [round_div(v, 1 << self.shift) for v in sums] if self.shift else sums
        shifted = [v + o for v, o in zip(rebased, self.offset, strict=True)]
        return [max(v, 0) for v in shifted] if self.relu_bits else shifted

    def constraints(self, value_bits: int) -> int:
        """A rebase costs its two range checks and ~5 more (see codegen); an exact sum one linear constraint."""
        return self.size * ((self.shift + value_bits + 5 if self.shift else 1) + (self.relu_bits + 1 if self.relu_bits else 0))

    def emit(self, index: int, signal: Callable[[str], str], value_bits: int) -> list[str]:
        src, dst = signal(self.src), signal(self.dst)
        lines = [f"    // {self.what} {index}: {self.size} elements{f', rebased by 2^{self.shift}' if self.shift else ''}"]
        lines.append(f"    signal {dst}[{self.size}];")
        if self.relu_bits and not self.shift:
            lines += [f"    signal {dst}p[{self.size}];", f"    component relu{index}[{self.size}];"]
            for j, (row, o) in enumerate(zip(self.rows, self.offset, strict=True)):
                lines.append(f"    {dst}p[{j}] <== {_expression(row, src, o)};")
                lines.append(
                    f"    relu{index}[{j}] = Relu({self.relu_bits}); relu{index}[{j}].in <== {dst}p[{j}]; {dst}[{j}] <== relu{index}[{j}].out;"
                )
            return lines
        if not self.shift:
            return lines + [
                f"    {dst}[{j}] <== {_expression(row, src, o)};" for j, (row, o) in enumerate(zip(self.rows, self.offset, strict=True))
            ]
        lines.append(f"    component r{index}[{self.size}];")
        for j, (row, o) in enumerate(zip(self.rows, self.offset, strict=True)):
            lines.append(f"    r{index}[{j}] = Rescale({self.shift}, {value_bits});")
            lines.append(f"    r{index}[{j}].in <== {_expression(row, src, 0)};")
            lines.append(f"    {dst}[{j}] <== r{index}[{j}].out{f' + {o}' if o else ''};")
        return lines


@dataclass(frozen=True)
class Combine:
    """``dst = a_factor * a + b_factor * b`` for two activations (Add, Sub; a factor ``2**k`` aligns a lower scale)."""

    a: str
    b: str
    dst: str
    a_factor: int
    b_factor: int
    size: int

    def evaluate(self, values: Mapping[str, list[int]]) -> list[int]:
        return [self.a_factor * x + self.b_factor * y for x, y in zip(values[self.a], values[self.b], strict=True)]

    def constraints(self, value_bits: int) -> int:
        return self.size

    def emit(self, index: int, signal: Callable[[str], str], value_bits: int) -> list[str]:
        a, b, dst = signal(self.a), signal(self.b), signal(self.dst)
        return [
            f"    // combine {index}: {self.a_factor} * a + {self.b_factor} * b",
            f"    signal {dst}[{self.size}];",
            f"    for (var j = 0; j < {self.size}; j++) {{ {dst}[j] <== {self.a_factor} * {a}[j] + {self.b_factor} * {b}[j]; }}",
        ]


@dataclass(frozen=True)
class Compare:
    """``dst[j] = 1 if src[j] <op> thresholds[j] else 0`` (a 0/1 at scale 0).

    In the circuit a threshold test is a sign test: ``LessOrEqual`` is ``t - x >= 0``, ``Less``
    is ``t - x - 1 >= 0`` (integers), ``Greater`` and ``GreaterOrEqual`` the mirror images, each
    the top bit of a range-checked ``value_bits + 1``-bit decomposition (the difference of two
    ``value_bits`` signed values fits; a prover cannot pick another bit: the decomposition is
    unique below the field size). ``Equal`` is the inverse trick (``IsZero``).
    """

    src: str
    dst: str
    thresholds: tuple[int, ...]
    op: str

    @property
    def size(self) -> int:
        return len(self.thresholds)

    def holds(self, x: int, t: int) -> bool:
        tests = {"LessOrEqual": x <= t, "Less": x < t, "Greater": x > t, "GreaterOrEqual": x >= t, "Equal": x == t}
        return tests[self.op]

    def evaluate(self, values: Mapping[str, list[int]]) -> list[int]:
        return [int(self.holds(x, t)) for x, t in zip(values[self.src], self.thresholds, strict=True)]

    def constraints(self, value_bits: int) -> int:
        return self.size * (2 if self.op == "Equal" else value_bits + 2)

    def _difference(self, x: str, t: int) -> str:
        """What must be non-negative (or zero, for Equal) for the test to hold."""
        return {"LessOrEqual": f"{t} - {x}", "Less": f"{t} - {x} - 1", "Greater": f"{x} - {t} - 1"}.get(self.op, f"{x} - {t}")

    def emit(self, index: int, signal: Callable[[str], str], value_bits: int) -> list[str]:
        src, dst = signal(self.src), signal(self.dst)
        template = "IsZero()" if self.op == "Equal" else f"IsNonNegative({value_bits + 1})"
        lines = [f"    // {self.op} {index}", f"    signal {dst}[{self.size}];", f"    component c{index}[{self.size}];"]
        for j, t in enumerate(self.thresholds):
            lines += [
                f"    c{index}[{j}] = {template};",
                f"    c{index}[{j}].in <== {self._difference(f'{src}[{j}]', t)};",
                f"    {dst}[{j}] <== c{index}[{j}].out;",
            ]
        return lines


# Each boolean op as (constant, a's, b's and a*b's coefficients): the result is their sum, exact on 0/1s.
_BOOLEAN_TERMS = {"Not": (1, -1, 0, 0), "Or": (0, 1, 1, -1), "And": (0, 0, 0, 1), "Xor": (0, 1, 1, -2)}


@dataclass(frozen=True)
class Logic:
    """``dst = Not a``, ``a Or b``, ``a And b`` or ``a Xor b`` on 0/1s, as polynomials (a 0/1 at scale 0).

    Sound only on 0/1 inputs (on others ``a + b - a*b`` is no Or): the reader takes these ops only
    on tensors a :class:`Compare` or another :class:`Logic` computed. One constraint per element
    (``Not`` is linear: one that circom's simplification may drop).
    """

    op: str
    a: str
    b: str | None
    dst: str
    size: int

    def evaluate(self, values: Mapping[str, list[int]]) -> list[int]:
        constant, ka, kb, kab = _BOOLEAN_TERMS[self.op]
        xs = values[self.a]
        ys = values[self.b] if self.b is not None else [0] * len(xs)
        return [constant + ka * x + kb * y + kab * x * y for x, y in zip(xs, ys, strict=True)]

    def constraints(self, value_bits: int) -> int:
        return self.size

    def emit(self, index: int, signal: Callable[[str], str], value_bits: int) -> list[str]:
        constant, ka, kb, kab = _BOOLEAN_TERMS[self.op]
        a, dst = signal(self.a), signal(self.dst)
        b = signal(self.b) if self.b is not None else None
        terms = [(ka, f"{a}[j]"), (kb, f"{b}[j]"), (kab, f"{a}[j] * {b}[j]")]
        expression = " + ".join([*(term if k == 1 else f"{k} * {term}" for k, term in terms if k), *([str(constant)] if constant else [])])
        return [
            f"    // {self.op} {index}",
            f"    signal {dst}[{self.size}];",
            f"    for (var j = 0; j < {self.size}; j++) {{ {dst}[j] <== {expression}; }}",
        ]


STEPS = (Linear, Combine, Compare, Logic)
ElementwiseStep = Linear | Combine | Compare | Logic
