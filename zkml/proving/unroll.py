"""The graph rewrite behind batched circuits: one batch-1 ONNX graph copied once per sample.

ezkl lays out ``B`` copies of the same gates for the unrolled graph: more rows,
the same columns, so keys, proof and verifier keep the batch-1 circuit's size
(see :mod:`zkml.proving.batch` for the measurements). Pure ONNX: no torch, no ezkl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zkml.errors import ConfigError, ExportError

if TYPE_CHECKING:
    import onnx

# Names of the tensors and nodes the unrolling adds (the copies are named s<i>/...).
_PREFIX = "zkml_batch"


def unroll_batch(proto: onnx.ModelProto, batch_size: int) -> onnx.ModelProto:
    """A graph that runs a batch-1 ONNX graph once per sample of a batch of ``batch_size``.

    Every graph input ``x`` of shape ``[1, ...]`` becomes ``[B, ...]`` and is
    sliced into its samples; the nodes are copied once per sample with their
    tensors renamed ``s<i>/<name>`` (initializers, i.e. the weights, are
    shared); each output is the concatenation of the copies' outputs on axis 0.

    Args:
        proto: the batch-1 ``onnx.ModelProto`` (left unchanged).
        batch_size: samples per batch.

    Returns:
        A new ``onnx.ModelProto`` with the same opsets and IR version.

    Raises:
        ConfigError: ``batch_size`` < 1.
        ExportError: an input or output has no batch axis of 1, or a node holds
            a subgraph (If/Loop/Scan bodies would need renaming inside).
    """
    import numpy as np
    from onnx import helper, numpy_helper

    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be >= 1")
    graph = proto.graph
    shared = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in shared]
    _check_unrollable(graph, inputs, batch_size)
    opset = next((imp.version for imp in proto.opset_import if imp.domain in ("", "ai.onnx")), 0)
    # Slice takes its bounds as inputs from opset 10 on, as attributes before.
    bounds_as_inputs = opset >= 10
    initializers = list(graph.initializer)
    if bounds_as_inputs:
        initializers.append(numpy_helper.from_array(np.array([0], dtype=np.int64), f"{_PREFIX}/axes"))
    nodes: list[onnx.NodeProto] = []
    for i in range(batch_size):
        rename = {value.name: f"s{i}/{value.name}" for value in inputs}
        slices, bounds = _slice_sample(inputs, i, rename, bounds_as_inputs)
        initializers += bounds
        nodes += slices + _copy_nodes(graph, i, rename, shared)
    for value in graph.output:
        parts = [f"s{i}/{value.name}" for i in range(batch_size)]
        nodes.append(helper.make_node("Concat", parts, [value.name], name=f"{_PREFIX}/concat/{value.name}", axis=0))
    unrolled = helper.make_graph(
        nodes,
        graph.name or "model",
        [_with_batch(value, batch_size) for value in inputs],
        [_with_batch(value, batch_size) for value in graph.output],
        initializer=initializers,
    )
    result = helper.make_model(unrolled, opset_imports=list(proto.opset_import), producer_name="zkml-batch")
    result.ir_version = proto.ir_version
    return result


def _check_unrollable(graph: onnx.GraphProto, inputs: list[onnx.ValueInfoProto], batch_size: int) -> None:
    """Refuse graphs whose copies would not be one sample each, or could not be renamed."""
    from onnx import AttributeProto

    for value in list(inputs) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        first = dims[0].dim_value if dims and dims[0].HasField("dim_value") else None
        if first != 1:
            raise ExportError(
                f"tensor {value.name!r} has its batch axis fixed at {first if first is not None else 'nothing (a scalar)'}; "
                f"cannot make a batch-{batch_size} circuit",
                hint="export the model for one sample (batch axis 1 or symbolic) and let zkml batch it",
            )
    for node in graph.node:
        if any(attr.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for attr in node.attribute):
            raise ExportError(f"node {node.name or node.op_type!r} ({node.op_type}) holds a subgraph; zkml cannot batch it")


def _slice_sample(
    inputs: list[onnx.ValueInfoProto], i: int, rename: dict[str, str], bounds_as_inputs: bool
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The Slice nodes that cut sample ``i`` out of each batched input, and the bound tensors they read."""
    import numpy as np
    from onnx import helper, numpy_helper

    starts, ends, axes = f"{_PREFIX}/start{i}", f"{_PREFIX}/end{i}", f"{_PREFIX}/axes"
    bounds = []
    if bounds_as_inputs:
        bounds = [
            numpy_helper.from_array(np.array([i], dtype=np.int64), starts),
            numpy_helper.from_array(np.array([i + 1], dtype=np.int64), ends),
        ]
    nodes = []
    for value in inputs:
        name = f"{_PREFIX}/slice{i}/{value.name}"
        if bounds_as_inputs:
            nodes.append(helper.make_node("Slice", [value.name, starts, ends, axes], [rename[value.name]], name=name))
        else:
            nodes.append(helper.make_node("Slice", [value.name], [rename[value.name]], name=name, starts=[i], ends=[i + 1], axes=[0]))
    return nodes, bounds


def _copy_nodes(graph: onnx.GraphProto, i: int, rename: dict[str, str], shared: set[str]) -> list[onnx.NodeProto]:
    """Every node of ``graph`` for sample ``i``: tensors renamed ``s<i>/<name>``, the ``shared`` weights kept."""
    import onnx

    def renamed(name: str) -> str:
        if not name or name in shared:  # "" = an omitted optional input
            return name
        return rename.setdefault(name, f"s{i}/{name}")

    copies = []
    for index, node in enumerate(graph.node):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        # Unnamed nodes get their position: two unnamed Gemms named alike make ezkl (tract) refuse the graph.
        copy.name = f"s{i}/{node.name or f'{node.op_type}_{index}'}"
        copy.input[:] = [renamed(name) for name in node.input]
        copy.output[:] = [renamed(name) for name in node.output]
        copies.append(copy)
    return copies


def _with_batch(value: onnx.ValueInfoProto, batch_size: int) -> onnx.ValueInfoProto:
    """A copy of a graph input/output description with its batch axis set to ``batch_size``."""
    import onnx

    out = onnx.ValueInfoProto()
    out.CopyFrom(value)
    out.type.tensor_type.shape.dim[0].dim_value = batch_size
    return out
