"""Corpus models whose masks and reshapes are computed from shapes in the graph, as old exporters write them.

torch's legacy exporter with constant folding off, or with a dynamic axis,
traces ``x.size(1)`` as ``Shape -> Gather`` and builds from it what a newer
exporter writes as constants: a causal mask's slice bounds, a ``Range`` of
positions, a ``ConstantOfShape`` and ``Trilu``, a multi-head ``view``'s
target shape. zkml folds them at export (:mod:`zkml.rewrite.fold`); before
that it refused each model (a ``Slice`` with computed bounds, a ``Cast`` to
bool, a ``Trilu``). Each model here is one shape of the pattern.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .models import SEED, CorpusModel, _randn, _save, _seeded, _torch_export

TOKENS, WIDTH, BLOCK = 4, 4, 8
# A dynamic batch axis is enough for the legacy exporter to trace every size as Shape -> Gather.
DYNAMIC = {"input": {0: "batch"}, "output": {0: "batch"}}


def _export(make: Callable[[], Any], path: Path, opset: int) -> list[list[float]]:
    return _torch_export(_seeded(make), (_randn(1, TOKENS, WIDTH),), path, opset, dynamic=DYNAMIC, fold=False)


def _gpt_attention(path: Path) -> list[list[float]]:
    """minGPT's causal mask: a ``tril`` buffer of the block size sliced to ``x.size(1)``, ``== 0``, ``masked_fill(-inf)``."""
    import torch
    from torch import nn

    class CausalSelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)
            self.register_buffer("tril", torch.tril(torch.ones(BLOCK, BLOCK)).view(1, BLOCK, BLOCK))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.q(x), self.k(x), self.v(x)
            tokens = x.size(1)
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            scores = scores.masked_fill(self.tril[:, :tokens, :tokens] == 0, float("-inf"))
            return torch.softmax(scores, dim=-1) @ v + x

    return _export(CausalSelfAttention, path, 10)


def _arange_mask(path: Path) -> list[list[float]]:
    """A causal mask from positions, ``arange(T)[None, :] > arange(T)[:, None]``, and a scale from ``k.size(-1)``."""
    import torch
    from torch import nn

    class PositionMasked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.q(x), self.k(x), self.v(x)
            scores = q @ k.transpose(-2, -1) * k.size(-1) ** -0.5
            positions = torch.arange(x.size(1))
            future = positions[None, :] > positions[:, None]
            return torch.softmax(scores.masked_fill(future, -1e9), dim=-1) @ v

    return _export(PositionMasked, path, 11)


def _triu_mask(path: Path) -> list[list[float]]:
    """An additive mask made in the graph, ``torch.full((T, T), -inf).triu(1)`` (ConstantOfShape, Trilu)."""
    import torch
    from torch import nn

    class AdditiveMasked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.q(x), self.k(x), self.v(x)
            tokens = x.size(1)
            mask = torch.full((tokens, tokens), float("-inf")).triu(1)
            return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(WIDTH) + mask, dim=-1) @ v

    return _export(AdditiveMasked, path, 14)


def _multihead(path: Path) -> list[list[float]]:
    """minGPT's multi-head block: ``view(B, T, H, C // H)`` targets and the mask's bounds from ``x.size()``."""
    import torch
    from torch import nn

    class MultiHead(nn.Module):
        def __init__(self, heads: int = 2) -> None:
            super().__init__()
            self.attn, self.proj, self.heads = nn.Linear(WIDTH, 3 * WIDTH), nn.Linear(WIDTH, WIDTH), heads
            self.register_buffer("bias", torch.tril(torch.ones(BLOCK, BLOCK)).view(1, 1, BLOCK, BLOCK))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batch, tokens, width = x.size()
            q, k, v = (t.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2) for t in self.attn(x).split(width, dim=2))
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            scores = scores.masked_fill(self.bias[:, :, :tokens, :tokens] == 0, float("-inf"))
            y = torch.softmax(scores, dim=-1) @ v
            return self.proj(y.transpose(1, 2).contiguous().view(batch, tokens, width))

    return _export(MultiHead, path, 13)


def _window_mask(path: Path) -> list[list[float]]:
    """Hand-written banded attention: positions from ``Shape(start=1, end=2)`` and ``Range``, keys farther than one
    position masked through ``Cast`` to bool, the scale ``sqrt(Size(x) / T)``; opset 15."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED)

    def make(op: str, inputs: list[str], output: str, **attributes: Any) -> Any:
        return helper.make_node(op, inputs, [output], name=output, **attributes)

    nodes = [
        make("Shape", ["x"], "tokens_1d", start=1, end=2),
        make("Squeeze", ["tokens_1d", "axis0"], "tokens"),
        make("Range", ["zero", "tokens", "one"], "positions"),
        make("Unsqueeze", ["positions", "axis1"], "rows"),
        make("Unsqueeze", ["positions", "axis0"], "cols"),
        make("Sub", ["rows", "cols"], "offset"),
        make("Abs", ["offset"], "distance"),
        make("Sub", ["distance", "one"], "beyond"),
        make("Max", ["beyond", "zero"], "overhang"),
        make("Cast", ["overhang"], "far", to=TensorProto.BOOL),
        make("Size", ["x"], "elements"),
        make("Div", ["elements", "tokens"], "width"),
        make("Cast", ["width"], "width_f", to=TensorProto.FLOAT),
        make("Sqrt", ["width_f"], "scale"),
        make("MatMul", ["x", "w_k"], "keys"),
        make("Transpose", ["keys"], "keys_t", perm=[0, 2, 1]),
        make("MatMul", ["x", "keys_t"], "dots"),
        make("Div", ["dots", "scale"], "scores"),
        make("Where", ["far", "fill", "scores"], "masked"),
        make("Softmax", ["masked"], "weights", axis=-1),
        make("MatMul", ["weights", "x"], "y"),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array(-1e4, np.float32), "fill"),
        numpy_helper.from_array((rng.normal(size=(WIDTH, WIDTH)) / 2).astype(np.float32), "w_k"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", TOKENS, WIDTH])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", TOKENS, WIDTH])
    _save(path, nodes, [x], [y], inits, opset=15)
    return [rng.normal(size=TOKENS * WIDTH).tolist()]


def shaped_models() -> list[CorpusModel]:
    """The corpus models whose masks and reshapes are computed from shapes in the graph."""
    return [
        CorpusModel(
            "torch_gpt_attention_op10_shapes",
            "shapes computed in the graph: minGPT causal attention, tril[:, :T, :T] == 0 with T = x.size(1) "
            "(Shape, Gather, Slice, Equal, Cast to bool), opset 10",
            _gpt_attention,
        ),
        CorpusModel(
            "torch_arange_mask_op11_shapes",
            "shapes computed in the graph: causal mask from arange(x.size(1)) (Range, Greater, Cast to bool), scale from k.size(-1), opset 11",
            _arange_mask,
        ),
        CorpusModel(
            "torch_triu_mask_op14_shapes",
            "shapes computed in the graph: additive mask full((T, T), -inf).triu(1) (ConstantOfShape, Trilu), opset 14",
            _triu_mask,
        ),
        CorpusModel(
            "torch_multihead_attention_op13_shapes",
            "shapes computed in the graph: minGPT 2-head causal attention, view(B, T, H, D) targets and mask bounds from x.size() "
            "(Reshape, Slice), opset 13",
            _multihead,
        ),
        CorpusModel(
            "onnx_window_mask_op15_shapes",
            "shapes computed in the graph: hand-written banded attention mask, Shape(start, end), Size, Range, Cast to bool, opset 15",
            _window_mask,
        ),
    ]
