"""Circom source for a :class:`~zkml.circom.graph.QuantizedGraph`.

The circuit's public signals are the model's inputs then its outputs, in that order (several
input or output tensors each concatenated in graph order, as ezkl lists its instances), as
the same BN254 field elements as ezkl's instances (negatives as ``r - |x|``): both are
declared as public *inputs* of the main template (circom lists public inputs in
declaration order), and the computed outputs are constrained equal to the given ones.
A verifier call therefore takes ezkl's instance vector unchanged.

Weights are constants, so a layer's sums are linear and cost no constraints. What costs
is the rebase ``round(x / 2**k)`` (half away from zero, as ezkl): the prover supplies
``q0 = floor((x + 2**(k-1)) / 2**k)`` and the remainder ``r``, the circuit checks
``x + 2**(k-1) == q0 * 2**k + r`` with ``r`` in ``[0, 2**k)`` (k bits) and ``q0`` in a
signed range of :data:`VALUE_BITS` bits, which also yields the sign bit ``q0 >= 1``. A ReLU
after it is ``sign * q0`` (one constraint). Without a ReLU, the one case where flooring
differs from rounding away from zero is a negative exact tie (``r == 0`` and ``q0 <= 0``):
the result is then ``q0 - 1``. The ranges make ``(q0, r)`` unique, since
``2**(k + VALUE_BITS)`` is far below the field size.
"""

from __future__ import annotations

from collections.abc import Sequence

from zkml.circom import elementwise, lookups, softmax
from zkml.circom.graph import AddOp, Dense, QuantizedGraph, ReluOp, slices

# Signed range of every rescaled activation: |value| < 2**(VALUE_BITS-1) at the activation
# scale (2**26 in float at scale 13). A larger honest value fails witness generation.
VALUE_BITS = 40
CIRCOM_VERSION = "2.1.0"

_LIBRARY = """
template Bits(n) {
    signal input in;
    signal output out[n];
    var acc = 0;
    var e = 1;
    for (var i = 0; i < n; i++) {
        out[i] <-- (in >> i) & 1;
        out[i] * (out[i] - 1) === 0;
        acc += out[i] * e;
        e = e + e;
    }
    acc === in;
}

// floor((in + 2^(k-1)) / 2^k) for a signed in, with its range-checked remainder and sign.
template FloorShift(k, b) {
    signal input in;
    signal output q;
    signal output r;
    signal output positive;  // q >= 1
    var v = in + (1 << (k - 1));
    var quotient;
    if (v < 0) {
        quotient = -((-v + (1 << k) - 1) \\ (1 << k));
    } else {
        quotient = v \\ (1 << k);
    }
    q <-- quotient;
    r <-- v - quotient * (1 << k);
    in + (1 << (k - 1)) === q * (1 << k) + r;
    component remainder = Bits(k);
    remainder.in <== r;
    component range = Bits(b);
    range.in <== q - 1 + (1 << (b - 1));
    positive <== range.out[b - 1];
}

// ReLU(round(in / 2^k)): for q >= 1 the rounding equals the floor, else the ReLU gives 0.
template RescaleRelu(k, b) {
    signal input in;
    signal output out;
    component f = FloorShift(k, b);
    f.in <== in;
    out <== f.positive * f.q;
}

// round(in / 2^k), half away from zero.
template Rescale(k, b) {
    signal input in;
    signal output out;
    component f = FloorShift(k, b);
    f.in <== in;
    signal inv;
    signal tie;  // r == 0
    inv <-- f.r != 0 ? 1 / f.r : 0;
    tie <== 1 - f.r * inv;
    f.r * tie === 0;
    signal negativeTie;
    negativeTie <== tie * (1 - f.positive);
    out <== f.q - negativeTie;
}

// floor((in + d\\2) / d) for a signed in and any d >= 2, with its range-checked remainder (k = bits of d-1) and sign.
template FloorDiv(d, k, b) {
    signal input in;
    signal output q;
    signal output r;
    signal output positive;  // q >= 1
    var v = in + d \\ 2;
    var quotient;
    if (v < 0) {
        quotient = -((-v + d - 1) \\ d);
    } else {
        quotient = v \\ d;
    }
    q <-- quotient;
    r <-- v - quotient * d;
    in + d \\ 2 === q * d + r;
    component low = Bits(k);
    low.in <== r;
    component high = Bits(k);
    high.in <== d - 1 - r;
    component range = Bits(b);
    range.in <== q - 1 + (1 << (b - 1));
    positive <== range.out[b - 1];
}

// round(in / d), half away from zero: only an even d has ties (r == 0 after adding d/2).
template RescaleDiv(d, k, b) {
    signal input in;
    signal output out;
    component f = FloorDiv(d, k, b);
    f.in <== in;
    if (d % 2 == 0) {
        signal inv;
        signal tie;
        inv <-- f.r != 0 ? 1 / f.r : 0;
        tie <== 1 - f.r * inv;
        f.r * tie === 0;
        signal negativeTie;
        negativeTie <== tie * (1 - f.positive);
        out <== f.q - negativeTie;
    } else {
        out <== f.q;
    }
}

// ReLU(round(in / d)): for q >= 1 the rounding equals the floor, else the ReLU gives 0.
template RescaleDivRelu(d, k, b) {
    signal input in;
    signal output out;
    component f = FloorDiv(d, k, b);
    f.in <== in;
    out <== f.positive * f.q;
}

// round(in / 2^k) + bias, then ReLU when relu == 1: a Gemm's bias, which ezkl adds after the rebase
// (at a tie the rounding direction follows the sign of in alone, not of in + bias * 2^k).
template RescaleThenBias(k, b, bias, relu) {
    signal input in;
    signal output out;
    if (relu == 1 && bias <= 0) {
        // floor((in + bias * 2^k + 2^(k-1)) / 2^k) == floor((in + 2^(k-1)) / 2^k) + bias =: q. When q >= 1,
        // round(in / 2^k) + bias == q (a negative tie of in would need q <= bias <= 0); else the ReLU gives 0.
        component f = FloorShift(k, b);
        f.in <== in + bias * (1 << k);
        out <== f.positive * f.q;
    } else {
        component g = Rescale(k, b);
        g.in <== in;
        if (relu == 1) {
            component z = Relu(b);
            z.in <== g.out + bias;
            out <== z.out;
        } else {
            out <== g.out + bias;
        }
    }
}

// max(in, 0) for a signed in of b bits.
template Relu(b) {
    signal input in;
    signal output out;
    component range = Bits(b);
    range.in <== in - 1 + (1 << (b - 1));
    out <== range.out[b - 1] * in;
}
"""


def _array(values: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def _name(tensor: str, names: dict[str, str]) -> str:
    if tensor not in names:
        names[tensor] = f"t{len(names)}"
    return names[tensor]


def _dense(step: Dense, index: int, names: dict[str, str], value_bits: int) -> list[str]:
    rows, cols = len(step.weight), len(step.weight[0])
    src, dst = _name(step.src, names), _name(step.dst, names)
    template = "RescaleRelu" if step.relu else "Rescale"
    params = f"{step.shift}, {value_bits}"
    bias_inside = f" + b{index}[j]"
    if step.bias_after_rebase:  # a Gemm's: round(W.x / 2^k) + b, per row (the template depends on the bias)
        if step.divisor is not None:
            raise ValueError("a bias after the rebase is a Gemm's, whose rebase is a power of two")
        template, params, bias_inside = "RescaleThenBias", f"{step.shift}, {value_bits}, b{index}[j], {int(step.relu)}", ""
    elif step.divisor is not None:  # not a power of two
        template, params = template.replace("Rescale", "RescaleDiv"), f"{step.divisor}, {(step.divisor - 1).bit_length()}, {value_bits}"
    weights = "[" + ", ".join(_array(row) for row in step.weight) + "]"
    return [
        f"    // dense {index}: {cols} -> {rows}{' + relu' if step.relu else ''}",
        f"    var w{index}[{rows}][{cols}] = {weights};",
        f"    var b{index}[{rows}] = {_array(step.bias)};",
        f"    signal {dst}[{rows}];",
        f"    component r{index}[{rows}];",
        f"    for (var j = 0; j < {rows}; j++) {{",
        f"        r{index}[j] = {template}({params});",
        "        var acc = 0;",
        f"        for (var i = 0; i < {cols}; i++) {{",
        f"            acc += w{index}[j][i] * {src}[i];",
        "        }",
        f"        r{index}[j].in <== acc{bias_inside};",
        f"        {dst}[j] <== r{index}[j].out;",
        "    }",
    ]


def _elementwise(step: AddOp | ReluOp, index: int, size: int, names: dict[str, str], value_bits: int) -> list[str]:
    dst = _name(step.dst, names)
    if isinstance(step, AddOp):
        a, b = _name(step.a, names), _name(step.b, names)
        return [f"    signal {dst}[{size}];", f"    for (var j = 0; j < {size}; j++) {{ {dst}[j] <== {a}[j] + {b}[j]; }}"]
    src = _name(step.src, names)
    return [
        f"    signal {dst}[{size}];",
        f"    component relu{index}[{size}];",
        f"    for (var j = 0; j < {size}; j++) {{ relu{index}[j] = Relu({value_bits}); relu{index}[j].in <== {src}[j]; {dst}[j] <== relu{index}[j].out; }}",
    ]


def _input_lines(graph: QuantizedGraph, names: dict[str, str]) -> list[str]:
    """The public ``inputs`` are the input tensors concatenated: one tensor is ``inputs`` itself, several are slices of it."""
    if len(graph.inputs) == 1:
        names[graph.input] = "inputs"
        return []
    lines = []
    for tensor, offset, size in slices(graph.inputs):
        signal = _name(tensor, names)
        lines += [
            f"    // input {tensor!r}: inputs[{offset}..{offset + size})",
            f"    signal {signal}[{size}];",
            f"    for (var j = 0; j < {size}; j++) {{ {signal}[j] <== inputs[{offset} + j]; }}",
        ]
    return lines


def _output_lines(graph: QuantizedGraph, names: dict[str, str]) -> list[str]:
    """The public ``outputs`` must equal the output tensors concatenated, in graph order."""
    lines = []
    for tensor, offset, size in slices(graph.outputs):
        index = f"{offset} + j" if offset else "j"
        lines.append(f"    for (var j = 0; j < {size}; j++) {{ outputs[{index}] === {_name(tensor, names)}[j]; }}")
    return lines


def circom_source(graph: QuantizedGraph, *, template: str = "Model", value_bits: int = VALUE_BITS) -> str:
    """The whole circuit: the helper templates, the model template and its public main component."""
    names: dict[str, str] = {}
    body = _input_lines(graph, names)
    sizes = {name: size for name, size in graph.inputs}
    for index, step in enumerate(graph.steps):
        if isinstance(step, Dense):
            body += _dense(step, index, names, value_bits)
            sizes[step.dst] = len(step.weight)
        elif isinstance(step, (*elementwise.STEPS, softmax.Softmax)):  # Mul, Sub, comparisons, ...: zkml.circom.elementwise; softmax
            body += step.emit(index, lambda tensor: _name(tensor, names), value_bits)
            sizes[step.dst] = step.size
        elif isinstance(step, lookups.Lookup):  # Sigmoid, Tanh: a table of thresholds (zkml.circom.lookups)
            sizes[step.dst] = step.size
            body += lookups.lookup_lines(step, index, _name(step.src, names), _name(step.dst, names), value_bits)
        else:
            size = sizes[step.a if isinstance(step, AddOp) else step.src]
            body += _elementwise(step, index, size, names, value_bits)
            sizes[step.dst] = size
    lines = [
        f"pragma circom {CIRCOM_VERSION};",
        "// Generated by zkml from the model's quantized graph; do not edit.",
        _LIBRARY,
        *([elementwise.LIBRARY] if any(isinstance(s, elementwise.STEPS) for s in graph.steps) else []),
        *{lookups.template_name(s): lookups.lookup_template(s, value_bits) for s in graph.steps if isinstance(s, lookups.Lookup)}.values(),
        *softmax.templates([s for s in graph.steps if isinstance(s, softmax.Softmax)], value_bits),
        f"template {template}() {{",
        f"    signal input inputs[{graph.input_size}];",
        f"    signal input outputs[{graph.output_size}];",
        *body,
        *_output_lines(graph, names),
        "}",
        "",
        f"component main {{public [inputs, outputs]}} = {template}();",
        "",
    ]
    return "\n".join(lines)
