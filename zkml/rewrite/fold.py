"""Fold what the graph computes from shapes and constants into constants (see :mod:`zkml.rewrite`).

Old exporters (torch at low opsets, or with constant folding off or a dynamic
axis) compute sizes in the graph: ``Shape -> Gather -> Unsqueeze`` feeding a
``Slice``'s bounds, a ``Reshape``'s target, a ``Range`` or ``ConstantOfShape``
that builds an attention mask. ezkl needs those as constants (preflight refuses
a ``Slice`` with computed bounds, a ``Cast`` to bool, a ``Trilu``), and the
mask rewrites only see a mask that is a constant. Once every shape is static
(:func:`zkml.shapes.resolve_shapes`), those values are known before any input
arrives, so they become initializers.

A node is folded when every input is known (an initializer, a ``Constant``, a
folded value, or the ``Shape``/``Size`` of a tensor whose static shape ONNX
shape inference gives) and either it depends on a shape, or none of its
outputs is a float (index, shape and mask arithmetic). Float arithmetic on
constants alone (``Transpose`` of a weight, an int8 weight cast and scaled)
is left as exported: ezkl quantizes those operands itself, and folding them
would change the circuit of an ordinary model for nothing. Values are computed
by onnx's reference evaluator, one node at a time, so the folded graph computes
exactly what the original did. A fold that would make a large tensor out of
small inputs (``Expand`` or ``ConstantOfShape`` of a float to a big shape) is
not done: ezkl builds those itself, and the file stays small.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from zkml.rewrite.graph import DEFAULT_DOMAINS, FOLD_LIMIT, FOLDABLE, fold_node, value_infos

if TYPE_CHECKING:
    import numpy as np
    import onnx
    from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

_T = TypeVar("_T")
log = logging.getLogger(__name__)

# A fold may produce up to this many elements more than its inputs hold (a 256-token causal mask);
# beyond it, only folds that do not grow (a Slice, a Cast) are done.
MAX_GROWN = 1 << 16
# Rounds of fold then re-infer: a folded Reshape target can make a later Shape's input static.
MAX_ROUNDS = 8
# Ops never folded: their values are drawn at random on every run.
NOT_FOLDED = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"})
FLOAT_TYPES = frozenset({1, 10, 11, 16})  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
NOTE_PREFIX = "folded "


@dataclass
class _Known:
    """What one pass knows before any input arrives.

    Attributes:
        initializers: tensor name -> the graph's initializer (converted to an array only when used).
        values: tensor name -> numpy array: Constants, computed values, and the initializers used.
        shaped: tensors whose value depends on a ``Shape`` or ``Size``.
        folded: the nodes to replace by their outputs' values.
    """

    initializers: dict[str, onnx.TensorProto]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    shaped: set[str] = field(default_factory=set)
    folded: list[onnx.NodeProto] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.values or name in self.initializers

    def size(self, name: str) -> int:
        """Elements of a known tensor, without converting an initializer."""
        import math

        value = self.values.get(name)
        return int(value.size) if value is not None else math.prod(self.initializers[name].dims)

    def get(self, name: str) -> np.ndarray:
        if name not in self.values:
            from onnx import numpy_helper

            self.values[name] = numpy_helper.to_array(self.initializers[name])
        return self.values[name]


def fold_shapes(model: onnx.ModelProto) -> list[str]:
    """Replace the nodes whose values are known before any input arrives by initializers, in place.

    Which nodes: those that depend on a static shape, and those that compute
    no float from constants (the module docstring says why not the others).
    Rounds repeat while one folds something, since shapes inferred anew may
    make another ``Shape`` static.

    Args:
        model: an ``onnx.ModelProto`` with static input shapes.

    Returns:
        One note saying what was folded (empty when nothing was).
    """
    removed: Counter[str] = Counter()
    created: set[str] = set()
    for _ in range(MAX_ROUNDS):
        known = _known(model)
        if not known.folded:
            break
        gone, made = _replace(model, known)
        removed.update(gone)
        created = (created | made) & {init.name for init in model.graph.initializer}
    if not removed:
        return []
    ops = ", ".join(f"{op} x{count}" if count > 1 else op for op, count in removed.most_common())
    nodes, constants = _count(sum(removed.values()), "node"), _count(len(created), "constant")
    return [f"{NOTE_PREFIX}{nodes} computed from shapes and constants ({ops}) into {constants}"]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _known(model: onnx.ModelProto) -> _Known:
    """One pass over the graph in order: every value known ahead, and the nodes worth folding."""
    from onnx import numpy_helper

    types, shapes = value_infos(model, data_prop=True)
    graph = model.graph
    known = _Known({init.name: init for init in graph.initializer})
    outputs = {out.name for out in graph.output}
    opsets = list(model.opset_import)
    for node in graph.node:
        if node.domain not in DEFAULT_DOMAINS or _has_subgraph(node):
            continue
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            # The other forms (value_int, value_floats, ...) the reference evaluator reads.
            constant = {node.output[0]: numpy_helper.to_array(value)} if value is not None else fold_node(node, {}, opsets)
            known.values.update(constant or {})
            continue
        if node.op_type in NOT_FOLDED or not node.input:
            continue
        shaped = node.op_type in ("Shape", "Size") or any(name in known.shaped for name in node.input)
        no_float = all(types.get(name, 0) not in FLOAT_TYPES for name in node.output if name)
        computed = _shape_of(node, shapes) if node.op_type in ("Shape", "Size") else None
        # Float arithmetic on constants alone is only computed where the mask analysis computes it too.
        if computed is None and all(known.has(name) for name in node.input if name) and (shaped or no_float or node.op_type in FOLDABLE):
            computed = _evaluate(node, known, opsets)
        if computed is None or not _consistent(computed, types, shapes):
            continue
        known.values.update(computed)
        if shaped:
            known.shaped.update(computed)
        no_float = no_float and all(value.dtype.kind not in "fc" for value in computed.values())
        if (shaped or no_float) and len(computed) == len([n for n in node.output if n]) and not outputs.intersection(node.output):
            known.folded.append(node)
    return known


def _has_subgraph(node: onnx.NodeProto) -> bool:
    return any(attribute.HasField("g") or len(attribute.graphs) for attribute in node.attribute)


def _shape_of(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray] | None:
    """A ``Shape`` or ``Size`` of a tensor with a static shape, computed from that shape."""
    import numpy as np
    from onnx import helper

    shape = shapes.get(node.input[0])
    if shape is None:
        return None
    if node.op_type == "Size":
        return {node.output[0]: np.array(int(np.prod(shape, dtype=np.int64)), np.int64)}
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    # ONNX's start/end count from the back when negative and clamp to the rank, as Python slicing does.
    start, end = int(attributes.get("start", 0)), attributes.get("end")
    return {node.output[0]: np.array(shape[start : None if end is None else int(end)], np.int64)}


def _evaluate(node: onnx.NodeProto, known: _Known, opsets: list[onnx.OperatorSetIdProto]) -> dict[str, np.ndarray] | None:
    """``node``'s outputs from its known inputs, unless they would grow past :data:`MAX_GROWN`."""

    size = sum(known.size(name) for name in node.input if name)
    if size > FOLD_LIMIT:
        return None
    inputs = {name: known.get(name) for name in node.input if name}
    computed = fold_node(node, inputs, opsets)
    if computed is None:
        return None
    produced = sum(int(value.size) for value in computed.values())
    if produced > FOLD_LIMIT or produced > max(size, MAX_GROWN):
        log.info("not folding %s (%s): %d elements from %d", node.name, node.op_type, produced, size)
        return None
    return computed


def _consistent(computed: dict[str, np.ndarray], types: dict[str, int], shapes: dict[str, tuple[int, ...]]) -> bool:
    """Whether the evaluated values have the types and shapes inference gives (else the node is left alone)."""
    from onnx import helper

    for name, value in computed.items():
        if name in types and types[name] and helper.tensor_dtype_to_np_dtype(types[name]) != value.dtype:
            log.debug("not folding %s: evaluated %s, inferred type %d", name, value.dtype, types[name])
            return False
        if name in shapes and tuple(shapes[name]) != tuple(value.shape):
            log.debug("not folding %s: evaluated shape %s, inferred %s", name, value.shape, shapes[name])
            return False
    return True


def _replace(model: onnx.ModelProto, known: _Known) -> tuple[Counter[str], set[str]]:
    """Put the folded nodes' used outputs in as initializers, then drop what no longer feeds anything.

    Returns:
        The removed nodes' op types, and the names of the initializers made.
    """
    from onnx import numpy_helper

    graph = model.graph
    outputs = {out.name for out in graph.output}
    used_before = _used_names(graph.node) | outputs
    folded = {id(node) for node in known.folded}
    kept = [node for node in graph.node if id(node) not in folded]
    used = _used_names(kept) | outputs
    made = {name for node in known.folded for name in node.output if name in used}
    for name in sorted(made):
        graph.initializer.append(numpy_helper.from_array(known.values[name], name))
    # Nodes whose value was known (Constants, the folded nodes' inputs) may now be dead.
    knowable = {id(node) for node in kept if node.output and all(known.has(out) for out in node.output if out)}
    kept = _prune(kept, knowable, outputs)
    live = {id(node) for node in kept}
    removed = Counter(node.op_type for node in graph.node if id(node) not in live)
    _set(graph.node, kept)
    used = _used_names(kept) | outputs
    # Only what folding left unused goes; an initializer the graph never used stays as it was.
    _set(graph.initializer, [init for init in graph.initializer if init.name in used or init.name not in used_before])
    initializers = {init.name for init in graph.initializer}
    if model.ir_version < 4:  # before IR 4 every initializer is also listed as a graph input
        _list_as_inputs(graph, made & initializers)
    _set(graph.input, [v for v in graph.input if v.name not in known.initializers or v.name in initializers])
    produced = {name for node in kept for name in node.output}
    _set(graph.value_info, [v for v in graph.value_info if v.name in produced and v.name not in initializers])
    return removed, made & initializers


def _set(field: RepeatedCompositeFieldContainer[_T], items: list[_T]) -> None:
    """Replace a repeated protobuf field's items (skipped when nothing changes)."""
    if len(items) != len(field):
        kept = list(items)
        del field[:]
        field.extend(kept)


def _list_as_inputs(graph: onnx.GraphProto, names: set[str]) -> None:
    from onnx import helper

    for init in graph.initializer:
        if init.name in names:
            graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))


def _prune(nodes: list[onnx.NodeProto], knowable: set[int], outputs: set[str]) -> list[onnx.NodeProto]:
    """``nodes`` without the knowable ones nothing uses any more (repeated: a Constant feeding a dead Unsqueeze)."""
    while True:
        used = _used_names(nodes) | outputs
        live = [node for node in nodes if id(node) not in knowable or any(out in used for out in node.output)]
        if len(live) == len(nodes):
            return live
        nodes = live


def _used_names(nodes: Iterable[onnx.NodeProto]) -> set[str]:
    """Every tensor name the nodes read, including names their subgraphs read from the outer scope."""
    used: set[str] = set()
    for node in nodes:
        used.update(name for name in node.input if name)
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                used |= _used_names(subgraph.node)
    return used


__all__ = ["MAX_GROWN", "NOTE_PREFIX", "fold_shapes"]
