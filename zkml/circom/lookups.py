"""Sigmoid and Tanh on the circom path: ezkl's lookup tables, mirrored exactly and proved by thresholds.

ezkl's rule, measured against ``gen_witness`` of ezkl 23.0.5 at input_scale == param_scale
of 7, 10 and 13:

- the lookup takes its input at the activation scale ``s`` and gives its output at ``s``
  (settings: ``required_lookups`` ``{"Sigmoid": {"scale": 2**s}}``, ``model_output_scales`` ``[s]``);
- the output is ``round(2**s / (1 + exp(-x / 2**s)))`` for Sigmoid and
  ``round(2**s * tanh(x / 2**s))`` for Tanh, evaluated in f64 (``x`` the integer input) and
  rounded half away from zero: 20,480 of 20,480 inputs per function and scale match
  (dense sweeps of 4,096 consecutive integers around 0 and around ``±12 * 2**s`` where the
  output saturates, a stride-3 sweep and random inputs up to ``±20 * 2**s``). The same
  formula in f32 misses 6 (Sigmoid, s=10), 37 (Sigmoid, s=13) and 4 (Tanh, s=13) of them;
- after a Gemm, the lookup's input is the Gemm's output already rebased to ``s`` (9,600 of
  9,600 elements per function and scale match; looking up the 2s-scale product and rebasing
  after misses 3 to 9 % of them). Those 9,600 take ezkl's Gemm output as ``round(W.x / 2**s)
  + b`` (the bias added after the rebase); graph.py's Dense rebases ``W.x + b * 2**s``, which
  differs at exact ties of ``W.x`` (3 to 5 of 2,400 at scale 7, none seen at 10 and 13);
- ``gen_witness`` does not clamp to the settings' ``lookup_range``: far outside it the
  function simply saturates (at 0 and ``2**s`` for Sigmoid, ``±2**s`` for Tanh).

The circuit cannot evaluate ``exp``, but both functions, rounded, are non-decreasing step
functions of an integer. Over the signed input range the circuit allows, ``[-2**(b-1),
2**(b-1))`` (``b`` = codegen's ``VALUE_BITS``), each output level ``k`` owns the interval
``[T(k), T(k+1))`` where ``T(k)`` is the smallest input whose output is ``>= k`` (found by
exact binary search; the lowest level starts at ``-2**(b-1)``, past the highest ends
``2**(b-1)``: the saturated ends need no threshold). The gadget (:func:`lookup_template`)
lays the ``N`` level indices out as a grid of ``R`` rows and ``C`` columns, ``k = C * r + c``
(:func:`grid`: ``R * C >= N``, ``C`` about ``sqrt(N / 3)``); the ``R * C - N`` cells past the
last level are empty levels ``[2**(b-1), 2**(b-1))``. The prover supplies a one-hot row
selector ``e`` (``R`` entries) and a one-hot column selector ``f`` (``C`` entries); the
circuit checks each entry binary and each selector's sum 1. For each column ``c`` the picked
row's thresholds ``L_c = sum_r e_r * T(C*r + c)`` and ``U_c = sum_r e_r * T(C*r + c + 1)`` are
linear combinations of constants with ``e`` (no constraint); ``C`` products ``f_c * L_c`` sum
to ``T(k)`` and ``C`` products ``f_c * U_c`` to ``T(k+1)``; the output ``first + C * sum_r r *
e_r + sum_c c * f_c`` is linear. Then the circuit checks ``x - T(k)`` and ``T(k+1) - 1 - x``
in ``b`` bits, as a one-hot selector over all ``N`` levels did at ``N`` constraints.

Soundness: binary entries summing to 1 (``R``, ``C`` far below the field size) make exactly
one entry of each selector 1, say row ``r`` and column ``c``: then ``L_c``, the products and
their sums are exactly ``T(j)`` and ``T(j+1)`` for the cell ``j = C * r + c``, and the output
is ``first + j``. The two range checks give field elements ``d1, d2 < 2**b`` with ``d1 + d2 =
T(j+1) - 1 - T(j)``; that right side is an integer in ``[-1, 2**b)`` and the left one below
``2**(b+1)``, far below the field size, so the equation holds over the integers: ``x`` is
the integer ``T(j) + d1`` in ``[T(j), T(j+1))``. An empty level, whose right side is -1,
cannot be chosen: neither a level without inputs nor a padding cell ``j >= N`` (both its
thresholds are ``2**(b-1)``), so ``j`` is a real level. The intervals are disjoint, so ``j``
is unique and the output is ``f(x)``. An ``x`` outside the range has no level: honest
witness generation fails, as it does for a rescale whose quotient is out of range.
Cost per element (:func:`constraints_estimate`, exact): ``R + 3 * C`` for the selectors and
products, ``2b + 4`` for the range checks and 3 more (the two sums, the output). ``N`` is
``2**s + 1`` levels for Sigmoid and ``2**(s+1) + 1`` for Tanh: at scale 13 a Sigmoid element
costs 401 constraints and a Tanh one 531 (a one-hot selector over all levels: 8,278 and 16,470).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from zkml.errors import CircuitError

LOOKUP_OPS = {"Sigmoid": "sigmoid", "Tanh": "tanh"}  # ONNX op -> the function's name here
# At scale 16 a Tanh has 131,073 levels: 1,342 constraints per element, but its thresholds are
# circom source (2 MB, written twice) and one compile took 140 s here; each scale up doubles both.
MAX_SCALE = 16


@dataclass(frozen=True)
class Lookup:
    """``dst = function(src)`` elementwise, in ezkl's integers at the activation ``scale`` (in and out).

    Attributes:
        src, dst: tensor names.
        function: ``sigmoid`` or ``tanh``.
        scale: the fixed-point scale of the input and the output.
        size: how many elements (the input's and the output's).
    """

    src: str
    dst: str
    function: str
    scale: int
    size: int


def _round_half_away(value: float) -> int:
    magnitude = int(math.floor(abs(value) + 0.5))
    return magnitude if value >= 0 else -magnitude


def sigmoid(x: int, scale: int) -> int:
    """ezkl's Sigmoid lookup: ``round(2**scale / (1 + exp(-x / 2**scale)))`` in f64, half away from zero."""
    multiplier = float(1 << scale)
    exponent = -(x / multiplier)
    if exponent > 709.0:  # exp overflows f64 (ezkl's inf gives 0 too)
        return 0
    return _round_half_away(multiplier / (1.0 + math.exp(exponent)))


def tanh(x: int, scale: int) -> int:
    """ezkl's Tanh lookup: ``round(2**scale * tanh(x / 2**scale))`` in f64, half away from zero."""
    multiplier = float(1 << scale)
    return _round_half_away(multiplier * math.tanh(x / multiplier))


FUNCTIONS: dict[str, Callable[[int, int], int]] = {"sigmoid": sigmoid, "tanh": tanh}


def apply(step: Lookup, values: list[int]) -> list[int]:
    """The step's outputs for integer inputs (what ezkl's witness holds)."""
    function = FUNCTIONS[step.function]
    return [function(v, step.scale) for v in values]


def read_lookup(op_type: str, src: str, dst: str, scale: int, size: int) -> Lookup:
    """The step for an ONNX Sigmoid or Tanh node.

    Raises:
        CircuitError: another op, or a scale whose table the circuit cannot hold.
    """
    if op_type not in LOOKUP_OPS:
        raise CircuitError(f"the circom backend has no lookup for {op_type}")
    if not 1 <= scale <= MAX_SCALE:
        raise CircuitError(
            f"{op_type}: the circom backend takes lookups at scales 1 to {MAX_SCALE}, not {scale} "
            f"(its table holds every output level, about 2**(scale+1), in the circuit's source)"
        )
    return Lookup(src, dst, LOOKUP_OPS[op_type], scale, size)


@dataclass(frozen=True)
class Table:
    """A monotone lookup as thresholds over the signed range ``[low, high)``.

    Attributes:
        first: the lowest output level (the output at ``low``).
        bounds: ``N + 1`` integers: level ``first + k`` owns ``[bounds[k], bounds[k+1])``;
            ``bounds[0] == low`` and ``bounds[N] == high``.
    """

    first: int
    bounds: tuple[int, ...]

    @property
    def levels(self) -> int:
        return len(self.bounds) - 1

    def index(self, x: int) -> int:
        """The level index ``k`` whose interval holds ``x`` (what the circuit's prover computes)."""
        import bisect

        if not self.bounds[0] <= x < self.bounds[-1]:
            raise CircuitError(f"lookup input {x} is outside the circuit's range [{self.bounds[0]}, {self.bounds[-1]})")
        return bisect.bisect_right(self.bounds, x, 1, self.levels) - 1


def levels(function: str, scale: int, value_bits: int) -> int:
    """How many output levels ``function`` takes over the circuit's input range (its table's ``levels``, without the search)."""
    f = FUNCTIONS[function]
    return f((1 << (value_bits - 1)) - 1, scale) - f(-(1 << (value_bits - 1)), scale) + 1


@lru_cache(maxsize=16)
def table(function: str, scale: int, value_bits: int) -> Table:
    """The thresholds of ``function`` at ``scale`` over ``[-2**(value_bits-1), 2**(value_bits-1))``, by exact binary search."""
    f = FUNCTIONS[function]
    low, high = -(1 << (value_bits - 1)), 1 << (value_bits - 1)
    first, last = f(low, scale), f(high - 1, scale)
    bounds = [low]
    for level in range(first + 1, last + 1):
        lo, hi = bounds[-1], high - 1  # f(hi) >= level; the threshold is above the previous one
        while lo < hi:
            mid = (lo + hi) // 2
            if f(mid, scale) >= level:
                hi = mid
            else:
                lo = mid + 1
        bounds.append(lo)
    bounds.append(high)
    return Table(first, tuple(bounds))


def template_name(step: Lookup) -> str:
    return f"Lookup_{step.function}_{step.scale}"


@lru_cache(maxsize=64)
def grid(level_count: int) -> tuple[int, int]:
    """``(rows, columns)`` of the selector grid for ``level_count`` levels: ``rows * columns >= level_count`` at the least cost.

    The gadget pays a constraint per row (binary) and three per column (binary and two products),
    so the cheapest grid has about ``sqrt(level_count / 3)`` columns (ties go to fewer columns).
    """
    columns = min(range(1, level_count + 1), key=lambda c: (-(-level_count // c) + 3 * c, c))
    return -(-level_count // columns), columns


def lookup_template(step: Lookup, value_bits: int) -> str:
    """The circom template of one lookup (``Bits`` comes from codegen's library): ``in`` -> ``out``."""
    t = table(step.function, step.scale, value_bits)
    comment = (
        f"// {step.function} at scale {step.scale} (ezkl's lookup): {t.levels} levels from {t.first}; level first+k owns [t[k], t[k+1])."
    )
    return grid_lookup_source(template_name(step), comment, t, check_bits="b")


def grid_lookup_source(name: str, comment: str, t: Table, *, check_bits: str) -> str:
    """An index function and the template ``name(b)``: ``in`` -> ``t.first + k`` for the k with ``t[k] <= in < t[k+1]``.

    The two-level selector of this module's docstring; ``check_bits`` is the width of the two
    range checks (``b``, or ``b + 1`` for a table over a wider input: zkml.circom.softmax's Exp).
    """
    rows, columns = grid(t.levels)
    # Past the last level, empty levels [high, high) fill the grid: no x is in one (the docstring's soundness).
    padded = t.bounds + (t.bounds[-1],) * (rows * columns - t.levels)
    bounds = ", ".join(str(b) for b in padded)
    return f"""
{comment}
// k = {columns} * row + column: one-hot row and column selectors (zkml.circom.lookups).
function {name}_index(x) {{
    var t[{len(padded)}] = [{bounds}];
    var lo = 0;
    var hi = {t.levels - 1};
    while (lo < hi) {{  // the largest k with t[k] <= x
        var mid = (lo + hi + 1) \\ 2;
        if (t[mid] <= x) {{ lo = mid; }} else {{ hi = mid - 1; }}
    }}
    return lo;
}}

template {name}(b) {{
    signal input in;
    signal output out;
    var t[{len(padded)}] = [{bounds}];
    var k = {name}_index(in);
    var pickedRow = k \\ {columns};
    var pickedColumn = k % {columns};
    signal row[{rows}];
    signal column[{columns}];
    signal lowerTerm[{columns}];
    signal upperTerm[{columns}];
    var rowTotal = 0;
    var columnTotal = 0;
    var level = {t.first};
    for (var r = 0; r < {rows}; r++) {{
        row[r] <-- r == pickedRow ? 1 : 0;
        row[r] * (row[r] - 1) === 0;
        rowTotal += row[r];
        level += row[r] * (r * {columns});
    }}
    rowTotal === 1;
    var lower = 0;
    var upper = 0;
    for (var c = 0; c < {columns}; c++) {{
        column[c] <-- c == pickedColumn ? 1 : 0;
        column[c] * (column[c] - 1) === 0;
        columnTotal += column[c];
        level += column[c] * c;
        var lowerInRow = 0;  // t[k'] and t[k'+1] for k' in column c of the picked row: constants times row[]
        var upperInRow = 0;
        for (var r = 0; r < {rows}; r++) {{
            lowerInRow += row[r] * t[r * {columns} + c];
            upperInRow += row[r] * t[r * {columns} + c + 1];
        }}
        lowerTerm[c] <== column[c] * lowerInRow;
        upperTerm[c] <== column[c] * upperInRow;
        lower += lowerTerm[c];
        upper += upperTerm[c];
    }}
    columnTotal === 1;
    out <== level;
    component above = Bits({check_bits});  // in >= t[k]
    above.in <== in - lower;
    component below = Bits({check_bits});  // in < t[k+1]
    below.in <== upper - 1 - in;
}}
"""


def lookup_lines(step: Lookup, index: int, src: str, dst: str, value_bits: int) -> list[str]:
    """The model template's lines applying the lookup to each element of ``src`` (circom names) into ``dst``."""
    size = step.size
    return [
        f"    // lookup {index}: {step.function} of {size}",
        f"    signal {dst}[{size}];",
        f"    component lookup{index}[{size}];",
        f"    for (var j = 0; j < {size}; j++) {{",
        f"        lookup{index}[j] = {template_name(step)}({value_bits});",
        f"        lookup{index}[j].in <== {src}[j];",
        f"        {dst}[j] <== lookup{index}[j].out;",
        "    }",
    ]


def constraints_estimate(step: Lookup, value_bits: int) -> int:
    """What the gadget costs, exactly (circom --O1): per element ``rows + 3 * columns + 2 * value_bits + 7``.

    A constraint per row (binary) and three per column (binary and the two products), the two
    selector sums, the output, and the two range checks (``value_bits`` binary digits, the
    recomposition and the difference each). At scale 7: 127 per Sigmoid element, 143 per Tanh
    element; at scale 13: 401 and 531 (the one-hot selector over all levels cost 8,278 and 16,470).
    """
    rows, columns = grid(levels(step.function, step.scale, value_bits))
    return step.size * (rows + 3 * columns + 2 * value_bits + 7)
