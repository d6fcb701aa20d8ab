"""Conv and AveragePool of a batch-1 tensor as dense matrices over its row-major elements.

The circom backend proves linear layers with constant coefficients at no constraint cost, so
a Conv (1d or 2d) or a sum pool is the same thing as a Gemm whose weight matrix is mostly
zeros: each output element is a weighted sum of the input elements its window covers (padding
contributes zeros). Building the matrix once keeps one code path, one rescale rule and one
circom template for every linear layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from zkml.errors import CircuitError


@dataclass(frozen=True)
class Window:
    """A sliding window over the spatial axes: kernel, strides, dilations and pads (begin..., end...)."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...]

    def output_shape(self, spatial: Sequence[int]) -> tuple[int, ...]:
        rank = len(spatial)
        out = []
        for axis, size in enumerate(spatial):
            span = self.dilations[axis] * (self.kernel[axis] - 1) + 1
            padded = size + self.pads[axis] + self.pads[axis + rank]
            out.append((padded - span) // self.strides[axis] + 1)
        if any(d < 1 for d in out):
            raise CircuitError(f"a window of {list(self.kernel)} does not fit an input of {list(spatial)}")
        return tuple(out)

    def taps(self, spatial: Sequence[int], position: Sequence[int]) -> list[tuple[tuple[int, ...], int]]:
        """``(kernel offset, flat spatial index)`` of every in-bounds input the window at ``position`` covers."""
        rank = len(spatial)
        found = []
        for offset in product(*(range(k) for k in self.kernel)):
            coords = [position[a] * self.strides[a] - self.pads[a] + offset[a] * self.dilations[a] for a in range(rank)]
            if all(0 <= c < spatial[a] for a, c in enumerate(coords)):
                flat = 0
                for a, c in enumerate(coords):
                    flat = flat * spatial[a] + c
                found.append((offset, flat))
        return found


def window(node: Any, spatial: Sequence[int], kernel: Sequence[int]) -> Window:
    """The node's window attributes; ``auto_pad`` other than NOTSET is refused by name."""
    attrs = {a.name: a for a in node.attribute}
    rank = len(spatial)
    auto_pad = attrs["auto_pad"].s.decode() if "auto_pad" in attrs else "NOTSET"
    if auto_pad not in ("NOTSET", "VALID"):
        raise CircuitError(f"{node.op_type} {node.name!r}: the circom backend does not take auto_pad={auto_pad}")

    def ints(name: str, default: int, count: int) -> tuple[int, ...]:
        return tuple(attrs[name].ints) if name in attrs and attrs[name].ints else (default,) * count

    return Window(tuple(int(k) for k in kernel), ints("strides", 1, rank), ints("dilations", 1, rank), ints("pads", 0, 2 * rank))


def conv_matrix(weight: Any, shape: Sequence[int], win: Window) -> tuple[list[list[float]], tuple[int, ...]]:
    """Conv (group 1) of a ``[C, *spatial]`` input by ``weight [M, C, *kernel]``: the ``[out][in]`` matrix and the output shape."""
    channels, spatial = shape[0], tuple(shape[1:])
    out_spatial = win.output_shape(spatial)
    plane = 1
    for size in spatial:
        plane *= size
    rows: list[list[float]] = []
    for m in range(weight.shape[0]):
        for position in product(*(range(d) for d in out_spatial)):
            row = [0.0] * (channels * plane)
            for offset, flat in win.taps(spatial, position):
                for c in range(channels):
                    row[c * plane + flat] = float(weight[(m, c, *offset)])
            rows.append(row)
    return rows, (int(weight.shape[0]), *out_spatial)


def sum_pool_matrix(shape: Sequence[int], win: Window) -> tuple[list[list[int]], tuple[int, ...]]:
    """Per-channel window sums (padding counted as zeros): the ``[out][in]`` 0/1 matrix and the output shape."""
    channels, spatial = shape[0], tuple(shape[1:])
    out_spatial = win.output_shape(spatial)
    plane = 1
    for size in spatial:
        plane *= size
    rows: list[list[int]] = []
    for c in range(channels):
        for position in product(*(range(d) for d in out_spatial)):
            row = [0] * (channels * plane)
            for _, flat in win.taps(spatial, position):
                row[c * plane + flat] = 1
            rows.append(row)
    return rows, (channels, *out_spatial)
