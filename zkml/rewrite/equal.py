"""``Equal`` -> ``Not(Or(Less, Greater))`` on numbers, ``Not(Xor)`` on booleans (see :mod:`zkml.rewrite`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from zkml.rewrite.graph import DEFAULT_DOMAINS, fresh_names, opset_of, taken_names, value_infos

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

# Less and Greater take integer inputs from opset 9 on (floats from 7).
MIN_OPSET = 9


def lower_equal(model: onnx.ModelProto) -> list[str]:
    """``Equal`` -> ``Not(Or(Less, Greater))`` (numbers) or ``Not(Xor)`` (booleans)."""
    from onnx import TensorProto, helper

    graph = model.graph
    if not any(node.op_type == "Equal" and node.domain in DEFAULT_DOMAINS for node in graph.node):
        return []
    if opset_of(model) < MIN_OPSET:
        log.info("Equal left as it is: opset %d < %d has no integer Less/Greater", opset_of(model), MIN_OPSET)
        return []
    types, _ = value_infos(model)
    taken = taken_names(model)
    nodes: list[onnx.NodeProto] = []
    notes: list[str] = []
    for index, node in enumerate(graph.node):
        if node.op_type != "Equal" or node.domain not in DEFAULT_DOMAINS:
            nodes.append(node)
            continue
        a, b = node.input
        out = node.output[0]
        name = node.name or f"node{index}"
        fresh = fresh_names(taken, f"{name}/zkml")
        if types.get(a) == TensorProto.BOOL or types.get(b) == TensorProto.BOOL:
            differ = fresh("xor")
            nodes += [
                helper.make_node("Xor", [a, b], [differ], name=differ),
                helper.make_node("Not", [differ], [out], name=name),
            ]
            notes.append(f"{name}: Equal -> Not(Xor) (booleans)")
            continue
        less, greater, differ = fresh("less"), fresh("greater"), fresh("differ")
        nodes += [
            helper.make_node("Less", [a, b], [less], name=less),
            helper.make_node("Greater", [a, b], [greater], name=greater),
            helper.make_node("Or", [less, greater], [differ], name=differ),
            helper.make_node("Not", [differ], [out], name=name),
        ]
        notes.append(f"{name}: Equal -> Not(Or(Less, Greater)) (ezkl 23 gives a true Equal the value 2**-scale)")
    del graph.node[:]
    graph.node.extend(nodes)
    return notes
