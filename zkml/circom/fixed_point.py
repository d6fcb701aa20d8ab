"""ezkl's fixed-point primitives the circom path mirrors: quantization, rebases, and the Dense step.

The rules and their measurements are in :mod:`zkml.circom.graph`'s docstring; they live here so that
the graph's readers (graph.py and the modules it hands nodes to) share them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def quantize(value: float, scale: int) -> int:
    """ezkl's quantization of one float: ``round(f32(value) * 2**scale)``, half away from zero."""
    import numpy as np

    scaled = float(np.float32(value)) * 2.0**scale
    magnitude = int(abs(scaled) + 0.5)
    return magnitude if scaled >= 0 else -magnitude


def rescale(value: int, shift: int) -> int:
    """Divide by ``2**shift``, rounding half away from zero (ezkl's rebase)."""
    half = 1 << (shift - 1)
    magnitude = (abs(value) + half) >> shift
    return magnitude if value >= 0 else -magnitude


def divide(value: int, divisor: int) -> int:
    """Divide by any positive ``divisor``, rounding half away from zero (ezkl's AveragePool of a window of that size)."""
    magnitude = (2 * abs(value) + divisor) // (2 * divisor)
    return magnitude if value >= 0 else -magnitude


def dense_row(step: Dense, row: Sequence[int], bias: int, x: Sequence[int]) -> int:
    """One output of ``step``: its row's product with ``x``, rebased, the bias added before or after as the step says."""
    product = sum(w * v for w, v in zip(row, x, strict=True))
    if step.bias_after_rebase:
        return divide(product, step.denominator) + bias
    return divide(product + bias, step.denominator)


@dataclass(frozen=True)
class Dense:
    """``dst = rescale(weight @ src + bias)``, then ReLU when ``relu``.

    Attributes:
        src, dst: tensor names.
        weight: ``[out][in]`` integers at the param scale.
        bias: ``[out]`` integers at the product scale (input scale + param scale), or at the
            activation scale when ``bias_after_rebase``.
        shift: the rebase divides by ``2**shift``.
        relu: a ReLU follows (fused: its sign test reuses the rescale's range check).
        divisor: when set, the rebase divides by it instead (an AveragePool's window size that is
            not a power of two); still rounding half away from zero.
        bias_after_rebase: ``dst = rescale(weight @ src) + bias`` (a Gemm/MatMul's bias, as ezkl
            adds it); otherwise the bias is inside the rebase (a Conv's).
    """

    src: str
    dst: str
    weight: tuple[tuple[int, ...], ...]
    bias: tuple[int, ...]
    shift: int
    relu: bool
    divisor: int | None = None
    bias_after_rebase: bool = False

    @property
    def denominator(self) -> int:
        """What the rebase divides by."""
        return self.divisor if self.divisor is not None else 1 << self.shift
