"""Softmax on the circom path: ezkl's integers, mirrored exactly, and a gadget whose output the prover cannot choose.

ezkl's rule, measured against ``gen_witness`` of ezkl 23.0.5 (onnx.helper models, input_scale ==
param_scale ``s``): for each group ``x`` (the elements along the softmax axis) at scale ``s``,

- ``m = max(x)`` is subtracted first: ``d_i = x_i - m <= 0``;
- ``e_i = round(2**s * base**(d_i / 2**s))`` in f64 with ezkl's f32 ``base`` (``Exp`` lookup
  ``{"scale": 2**s, "base": 2.7182817}`` in the settings), rounded half away from zero; over
  every ``d`` in ``[-40 * 2**s, 0]`` at scales 11 and 13 it equals the same formula with f64's ``e``;
- ``r = round(2**(2s) / sum(e))`` (the reciprocal at scale ``s``; ``sum(e) >= 2**s``, no ties);
- ``y_i = round(e_i * r / 2**s)``, half up (``e_i * r >= 0``); the output is at scale ``s``
  (``model_output_scales`` ``[s]``).

Matched: 18,432 of 18,432 groups (256 rows per witness, widths 2, 3 and 8 at scales 11 and 13,
inputs spread from ±0.002 to ±40 with and without ties of the max, 381 rounding ties of the last
division among them), and 360 of 360 after a Gemm with bias (opsets 11 and 13). Without the max
subtracted, 17 of the 360 match. Whole models: gbt_classifier at its tuned scale 11 (the example and
63 holdout inputs, 64 of 64), torch_softmax_op11/op13 and torch_multi_head_op15 at 13 (50 of 50 each).

The circuit (:func:`templates`, one ``Softmax`` component per group of ``n``):

- the prover supplies ``m``; the circuit checks ``prod_i (m - x_i) == 0`` (``n - 1`` products),
  so ``m`` is some ``x_j``;
- each ``d_i = x_i - m`` goes through an exact threshold table of the ``Exp`` levels (the
  two-level selector of :mod:`zkml.circom.lookups`) over ``[-2**b, 1)``: a ``d_i > 0`` has no
  level, so every ``x_i <= m`` and ``m`` is the maximum (two maxima ``x_j``, ``x_k`` would give
  ``x_k - x_j`` and ``x_j - x_k`` both in ``[-2**b, 0]``, so equal). The level is ``e_i``,
  exactly (the soundness argument of :mod:`zkml.circom.lookups`, with ``b + 1``-bit range checks);
- with ``S = sum(e)`` (linear), the prover supplies ``r`` and ``rem``; the circuit checks
  ``2**(2s+1) + S == r * 2S + rem``, ``rem`` and ``2S - 1 - rem`` in ``k`` bits (``2**k >= 2nS``'s
  bound) and ``r`` in ``s + 1`` bits. Every term is an integer far below the field size, so the
  equation holds over the integers with ``0 <= rem < 2S``: ``r = floor((2**(2s+1) + S) / 2S)``,
  which is ``round(2**(2s) / S)`` (``S >= 2**s > 0``, since ``e_j = 2**s`` at ``d_j = 0``);
- ``p_i = e_i * r`` (one product), then ``p_i + 2**(s-1) == y_i * 2**s + q_i`` with ``q_i`` in
  ``s`` bits and ``y_i`` in ``s + 1`` bits: again an integer equation, so ``y_i`` is the floor,
  the rounding half up.

So each output is a function of the inputs alone; a wrong claimed output fails the model's
output equality. Cost per group (:meth:`Softmax.constraints`, counted from the compiled R1CS):
``n`` exp lookups of ``rows + 3 * columns + 2b + 9`` each (``2**s + 1`` levels), ``n - 1``
products, the reciprocal's ``s + 2k + 7`` and ``2s + 5`` per output.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from zkml.circom.lookups import MAX_SCALE, Table, grid, grid_lookup_source
from zkml.errors import CircuitError

# ezkl's Exp lookup takes e as an f32 (its settings say "base": 2.7182817) and raises it in f64.
EXP_BASE = struct.unpack("<f", struct.pack("<f", math.e))[0]


def exp_level(d: int, scale: int) -> int:
    """ezkl's Exp lookup of ``d <= 0`` at ``scale``: ``round(2**scale * base**(d / 2**scale))``, half away from zero."""
    one = float(1 << scale)
    return int(math.floor(one * EXP_BASE ** (d / one) + 0.5))


def softmax_ints(xs: Sequence[int], scale: int) -> list[int]:
    """ezkl's Softmax of one group of integers at ``scale`` (out at ``scale``): the module's measured rule."""
    one = 1 << scale
    top = max(xs)
    e = [exp_level(x - top, scale) for x in xs]
    total = sum(e)
    r = (2 * one * one + total) // (2 * total)
    return [(v * r + one // 2) >> scale for v in e]


@dataclass(frozen=True)
class Softmax:
    """``dst = softmax(src)`` over ``groups`` consecutive groups of ``width`` elements, at ``scale`` in and out."""

    src: str
    dst: str
    scale: int
    groups: int
    width: int

    @property
    def size(self) -> int:
        return self.groups * self.width

    def evaluate(self, values: Mapping[str, list[int]]) -> list[int]:
        x, n = values[self.src], self.width
        return [y for g in range(self.groups) for y in softmax_ints(x[g * n : (g + 1) * n], self.scale)]

    def constraints(self, value_bits: int) -> int:
        """Exactly what :func:`templates` compiles to at circom --O1 (see the module's docstring)."""
        rows, columns = grid((1 << self.scale) + 1)
        n, s = self.width, self.scale
        per_group = n * (rows + 3 * columns + 2 * value_bits + 9) + (n - 1) + s + 2 * _remainder_bits(s, n) + 7 + n * (2 * s + 5)
        return self.groups * per_group

    def emit(self, index: int, signal: Callable[[str], str], value_bits: int) -> list[str]:
        src, dst, n = signal(self.src), signal(self.dst), self.width
        return [
            f"    // softmax {index}: {self.groups} groups of {n} at scale {self.scale}",
            f"    signal {dst}[{self.size}];",
            f"    component softmax{index}[{self.groups}];",
            f"    for (var g = 0; g < {self.groups}; g++) {{",
            f"        softmax{index}[g] = {_name(self)}({value_bits});",
            f"        for (var j = 0; j < {n}; j++) {{ softmax{index}[g].in[j] <== {src}[g * {n} + j]; }}",
            f"        for (var j = 0; j < {n}; j++) {{ {dst}[g * {n} + j] <== softmax{index}[g].out[j]; }}",
            "    }",
        ]


def _remainder_bits(scale: int, width: int) -> int:
    """Bits of the reciprocal's remainder, below ``2S <= 2 * width * 2**scale``."""
    return (2 * width * (1 << scale)).bit_length()


def _name(step: Softmax) -> str:
    return f"Softmax_{step.scale}_{step.width}"


@lru_cache(maxsize=8)
def exp_table(scale: int, value_bits: int) -> Table:
    """The Exp levels ``0 .. 2**scale`` over ``[-2**value_bits, 1)``: level ``k`` owns ``[T(k), T(k+1))``, found exactly.

    ``T(k)``, the least ``d`` with ``exp_level(d) >= k``, starts from the inverse ``2**s * ln((k - 1/2) / 2**s)``
    and moves while the (monotone) function says so; the last level (``2**s``, at ``d = 0``) ends at 1.
    """
    one = 1 << scale
    low = -(1 << value_bits)
    bounds = [low]
    for level in range(1, one + 1):
        d = min(0, max(bounds[-1], math.ceil(one * math.log((level - 0.5) / one))))
        while d > bounds[-1] and exp_level(d - 1, scale) >= level:
            d -= 1
        while exp_level(d, scale) < level:
            d += 1
        bounds.append(d)
    bounds.append(1)
    return Table(0, tuple(bounds))


def _exp_template(scale: int, value_bits: int) -> str:
    """The Exp lookup of ``d <= 0`` (``in``) -> ``out``: :mod:`zkml.circom.lookups`'s gadget over ``[-2**b, 1)``, ``b + 1``-bit checks."""
    t = exp_table(scale, value_bits)
    comment = f"// ezkl's Exp at scale {scale} for d <= 0: {t.levels} levels; level k owns [t[k], t[k+1]) (zkml.circom.softmax)."
    return grid_lookup_source(f"SoftmaxExp_{scale}", comment, t, check_bits="b + 1")


def _softmax_template(step: Softmax) -> str:
    n, s = step.width, step.scale
    k = _remainder_bits(s, n)
    return f"""
// ezkl's Softmax of {n} elements at scale {s} (zkml.circom.softmax): max, Exp table, reciprocal, rebase.
template {_name(step)}(b) {{
    signal input in[{n}];
    signal output out[{n}];
    var best = in[0];
    for (var i = 1; i < {n}; i++) {{ if (in[i] > best) {{ best = in[i]; }} }}
    signal top;
    top <-- best;
    signal chain[{n}];  // prod (top - in[i]) == 0: top is one of the inputs
    chain[0] <== top - in[0];
    for (var i = 1; i < {n}; i++) {{ chain[i] <== chain[i - 1] * (top - in[i]); }}
    chain[{n - 1}] === 0;
    component ex[{n}];
    var total = 0;
    for (var i = 0; i < {n}; i++) {{
        ex[i] = SoftmaxExp_{s}(b);  // no level above d = 0: in[i] <= top
        ex[i].in <== in[i] - top;
        total += ex[i].out;
    }}
    signal r;  // round(2^{2 * s} / total) = floor((2^{2 * s + 1} + total) / (2 * total))
    signal rem;
    r <-- ({1 << (2 * s + 1)} + total) \\ (2 * total);
    rem <-- ({1 << (2 * s + 1)} + total) % (2 * total);
    {1 << (2 * s + 1)} + total === r * (2 * total) + rem;
    component rBits = Bits({s + 1});
    rBits.in <== r;
    component remLow = Bits({k});
    remLow.in <== rem;
    component remHigh = Bits({k});
    remHigh.in <== 2 * total - 1 - rem;
    signal product[{n}];
    signal q[{n}];
    component qBits[{n}];
    component outBits[{n}];
    for (var i = 0; i < {n}; i++) {{
        product[i] <== ex[i].out * r;
        out[i] <-- (product[i] + {1 << (s - 1)}) \\ {1 << s};
        q[i] <-- (product[i] + {1 << (s - 1)}) % {1 << s};
        product[i] + {1 << (s - 1)} === out[i] * {1 << s} + q[i];
        qBits[i] = Bits({s});
        qBits[i].in <== q[i];
        outBits[i] = Bits({s + 1});
        outBits[i].in <== out[i];
    }}
}}
"""


def templates(steps: Sequence[Softmax], value_bits: int) -> list[str]:
    """The circom templates the graph's softmax steps use, each once."""
    found: dict[str, str] = {}
    for step in steps:
        found.setdefault(f"SoftmaxExp_{step.scale}", _exp_template(step.scale, value_bits))
        found.setdefault(_name(step), _softmax_template(step))
    return list(found.values())


def read_node(reader: Any, node: Any) -> None:
    """Append the Softmax step of an ONNX ``node`` (``reader``: graph.py's reader, see ``elementwise_reader.Reader``).

    The groups are consecutive runs of the flattened tensor: the axis must be the last one that is
    not 1 (then ONNX's opset-13 and older meanings agree).

    Raises:
        CircuitError: an input not at the input scale, a scale without a table, or an axis whose groups interleave.
    """
    from zkml.circom.elementwise_reader import scale_of

    where = f"Softmax {node.name!r}"
    src = reader.alias(node.input[0])
    scale = reader.scales.input_scale
    if scale_of(reader, node.input[0]) != scale:
        raise CircuitError(f"{where}: the circom backend takes a softmax of a tensor at the input scale {scale}")
    if not 1 <= scale <= MAX_SCALE:
        raise CircuitError(f"{where}: the circom backend takes softmax at scales 1 to {MAX_SCALE}, not {scale}")
    shape = reader.value_shapes.get(node.input[0])
    size = reader.sizes[src]
    attrs = {a.name: a.i for a in node.attribute}
    if shape is None or ("axis" not in attrs and sum(d != 1 for d in shape) > 1):
        raise CircuitError(f"{where}: the circom backend needs the input's static shape and an explicit axis when it is not a vector")
    axis = attrs.get("axis", len(shape) - 1) % len(shape)
    if any(d != 1 for d in shape[axis + 1 :]):
        raise CircuitError(f"{where}: the circom backend takes a softmax over the last axis, not axis {axis} of {list(shape)}")
    width = shape[axis]
    reader.steps.append(Softmax(src, node.output[0], scale, size // width, width))
    reader.sizes[node.output[0]] = size
