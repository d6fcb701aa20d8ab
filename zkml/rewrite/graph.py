"""Small helpers the rewrites share: opsets, inferred types and shapes, constants, fresh names."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import onnx

log = logging.getLogger(__name__)

DEFAULT_DOMAINS = ("", "ai.onnx")


def opset_of(model: onnx.ModelProto) -> int:
    return next((int(imp.version) for imp in model.opset_import if imp.domain in DEFAULT_DOMAINS), 0)


def value_infos(model: onnx.ModelProto, *, data_prop: bool = False) -> tuple[dict[str, int], dict[str, tuple[int, ...]]]:
    """Tensor name -> ONNX element type, and -> static shape, as far as shape inference knows.

    ``data_prop`` lets inference carry values through shape arithmetic
    (``Shape -> Gather -> Concat -> Reshape``), so more shapes come out static.
    """
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=data_prop)
    except Exception as exc:  # an inference failure only means fewer known types
        log.debug("shape inference for rewrites failed: %s", exc)
        inferred = model
    graph = inferred.graph
    types = {init.name: int(init.data_type) for init in graph.initializer}
    shapes = {init.name: tuple(int(d) for d in init.dims) for init in graph.initializer}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        if value.type.HasField("tensor_type"):
            tensor = value.type.tensor_type
            types[value.name] = int(tensor.elem_type)
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
            if tensor.HasField("shape") and all(d is not None for d in dims):
                shapes[value.name] = tuple(int(d) for d in dims)  # type: ignore[arg-type]
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in DEFAULT_DOMAINS:
            for attribute in node.attribute:
                if attribute.name == "value":
                    types[node.output[0]] = int(attribute.t.data_type)
    return types, shapes


# Ops computed ahead of time when every input is a constant: what exporters leave unfolded
# (the attention scale sqrt(d) as Pow(d, 0.5); with folding off, a causal mask sliced,
# compared and cast: Slice, Unsqueeze, Equal, Cast, Not). Deterministic, shape-only or elementwise.
FOLDABLE = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Neg", "Reciprocal", "Abs",
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "Where",
        "Cast", "Slice", "Unsqueeze", "Squeeze", "Reshape", "Transpose", "Expand", "Concat", "Identity", "Shape", "Gather",
        "Trilu",
    }
)  # fmt: skip
# Larger constants are not folded: analysis only needs masks and scales.
FOLD_LIMIT = 1 << 20


def constant_values(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Tensor name -> numpy array: initializers, ``Constant`` nodes, and :data:`FOLDABLE` ops on them.

    The graph is not changed; this only tells the rewrites which tensors are
    known before any input arrives (ezkl folds them itself). Folding runs onnx's
    reference evaluator on the single node; a node it cannot run stays unknown.
    """
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    opsets = list(model.opset_import)
    for node in model.graph.node:
        if node.domain not in DEFAULT_DOMAINS:
            continue
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attribute.t)
        elif node.op_type in FOLDABLE and node.input and all(name in values for name in node.input if name):
            folded = fold_node(node, values, opsets)
            if folded is not None:
                values.update(folded)
    return values


def fold_node(node: onnx.NodeProto, values: dict[str, np.ndarray], opsets: list[onnx.OperatorSetIdProto]) -> dict[str, np.ndarray] | None:
    """``node``'s outputs from its constant inputs in ``values`` (None when the reference evaluator cannot run it)."""
    import numpy as np
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    inputs = [name for name in node.input if name]
    outputs = [name for name in node.output if name]  # an optional output left out has no name
    if sum(np.asarray(values[name]).size for name in inputs) > FOLD_LIMIT:
        return None
    graph = helper.make_graph(
        [node],
        "fold",
        [],
        [helper.make_empty_tensor_value_info(name) for name in outputs],
        [numpy_helper.from_array(np.asarray(values[name]), name) for name in inputs],
    )
    try:
        results = ReferenceEvaluator(helper.make_model(graph, opset_imports=opsets)).run(None, {})
    except Exception as exc:  # an op the evaluator rejects here only stays unknown
        log.debug("not folding %s (%s): %s", node.name, node.op_type, exc)
        return None
    return {name: np.asarray(value) for name, value in zip(outputs, results, strict=False)}


def taken_names(model: onnx.ModelProto) -> set[str]:
    """Every tensor, initializer and node name in the graph."""
    graph = model.graph
    names = {name for node in graph.node for name in (*node.input, *node.output)} | {node.name for node in graph.node}
    return names | {init.name for init in graph.initializer} | {value.name for value in [*graph.input, *graph.output]}


def fresh_names(taken: set[str], prefix: str) -> Callable[[str], str]:
    """A function giving names starting with ``prefix`` that no tensor or node in the graph uses."""

    def fresh(suffix: str) -> str:
        candidate, counter = f"{prefix}_{suffix}", 1
        while candidate in taken:
            counter += 1
            candidate = f"{prefix}_{suffix}{counter}"
        taken.add(candidate)
        return candidate

    return fresh
