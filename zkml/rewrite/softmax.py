"""``Softmax(S + M)`` with a constant mask ``M`` (or ``Where`` filling constant positions) -> the masked softmax (see :mod:`zkml.rewrite`)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zkml.rewrite.graph import DEFAULT_DOMAINS, constant_values, fresh_names, opset_of, taken_names, value_infos

if TYPE_CHECKING:
    import numpy as np
    import onnx

log = logging.getLogger(__name__)

# An additive constant at or below -MASK_THRESHOLD before a Softmax is a mask: float32's exp
# is exactly 0 below about -104, so such an entry contributes nothing while the scores'
# spread stays under ~900. Real additive biases (ALiBi, relative positions) stay far above it.
MASK_THRESHOLD = 1e3
# Where masked entries sit for the row maximum: far below any score, and within ezkl's range
# checks (1e4 * 2**13 < 2**27, under the default decomposition's 2**28).
MAX_MASK = 1e4


def factor_softmax_masks(model: onnx.ModelProto) -> list[str]:
    """Rewrite every ``Softmax(Add(S, M))`` with a constant mask ``M`` (or the ``Where`` equivalent) in place.

    Returns:
        One line per rewritten Softmax.
    """
    graph = model.graph
    softmaxes = [n for n in graph.node if n.op_type == "Softmax" and n.domain in DEFAULT_DOMAINS]
    if not softmaxes:
        return []
    constants = constant_values(model)
    producers = {out: node for node in graph.node for out in node.output}
    uses = Counter(name for node in graph.node for name in node.input) + Counter(out.name for out in graph.output)
    _, shapes = value_infos(model)
    fresh = fresh_names(taken_names(model), "zkml_mask")
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    notes = []
    for softmax in softmaxes:
        found = _find_mask(softmax.input[0], producers, constants, uses, fresh)
        if found is None:
            continue
        shape = shapes.get(softmax.input[0]) or _broadcast(shapes.get(found.unscaled), found.mask.shape)
        axes = _softmax_axes(softmax, opset_of(model), len(shape)) if shape else None
        if shape is None or axes is None or not _every_row_keeps_one(found.mask, shape, axes):
            log.info("%s: a mask before it, but the shape is unknown or a row is fully masked; left as it is", softmax.name)
            continue
        replaced[id(softmax)] = [*found.prefix, *_masked_softmax(model, softmax, found.scores, found.mask, axes, fresh)]
        dropped.update(id(node) for node in found.replaced)
        notes.append(
            f"{softmax.name or softmax.output[0]}: Softmax({found.form}) -> masked softmax "
            f"({int((found.mask <= -MASK_THRESHOLD).sum())} masked entries; ezkl's Exp table would span the mask's {found.mask.min():.3g})"
        )
    nodes = []
    for node in graph.node:
        if id(node) in dropped:
            continue
        nodes.extend(replaced.get(id(node), [node]))
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_dead(model)
    return notes


@dataclass(frozen=True)
class _Mask:
    """What feeds a Softmax, split into scores and an additive constant mask.

    Attributes:
        scores: the tensor the mask is added to (after ``prefix``, scaled like the original).
        mask: the additive mask, scaled like the original.
        unscaled: the scores as the graph has them (their inferred shape is the Softmax's when it has none).
        form: how the graph wrote it, for the note.
        prefix: nodes to run first (the scores' scaling, when the mask was scaled with them).
        replaced: the nodes the rewrite makes dead (used only on the way to this Softmax).
    """

    scores: str
    mask: np.ndarray
    form: str
    unscaled: str
    prefix: tuple[onnx.NodeProto, ...] = ()
    replaced: tuple[onnx.NodeProto, ...] = ()


def _find_mask(
    name: str, producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray], uses: Counter[str], fresh: Callable[[str], str]
) -> _Mask | None:
    """The mask behind the Softmax input ``name``: ``S + M``, ``Where(C, V, S)``, or either scaled by a positive constant."""
    from onnx import helper

    node = producers.get(name)
    if node is None:
        return None
    found = _mask_of(node, constants)
    if found is not None:
        form = "S masked by Where" if node.op_type == "Where" else "S + mask"
        return _Mask(found[0], found[1], form, found[0], replaced=(node,) if uses[name] == 1 else ())
    # Scaled after masking: both the scaling and the mask must serve only this Softmax.
    scale = _positive_scale(node, constants) if uses[name] == 1 else None
    inner = producers.get(node.input[0]) if scale is not None and uses[node.input[0]] == 1 else None
    found = _mask_of(inner, constants) if inner is not None else None
    if scale is None or inner is None or found is None:
        return None
    scores, mask = found
    scaled = fresh("scaled")
    prefix = helper.make_node(node.op_type, [scores, node.input[1]], [scaled], name=scaled)
    mask = mask * scale if node.op_type == "Mul" else mask / scale
    form = f"(S {'masked by Where' if inner.op_type == 'Where' else '+ mask'}) {'*' if node.op_type == 'Mul' else '/'} {scale:.4g}"
    return _Mask(scaled, mask, form, scores, (prefix,), (node, inner))


def _positive_scale(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> float | None:
    """``c`` when ``node`` is ``Mul(X, c)`` or ``Div(X, c)`` with a positive scalar constant ``c`` (X first), else None."""
    import numpy as np

    if node.op_type not in ("Mul", "Div") or node.domain not in DEFAULT_DOMAINS or len(node.input) != 2:
        return None
    if node.input[1] not in constants or node.input[0] in constants:
        return None
    value = np.asarray(constants[node.input[1]])
    if value.size != 1 or not np.issubdtype(value.dtype, np.floating) or not float(value.reshape(-1)[0]) > 0:
        return None
    return float(value.reshape(-1)[0])


def _drop_dead(model: onnx.ModelProto) -> None:
    """Remove what no output depends on any more: the mask's Add or Where and the nodes that computed its constants."""
    graph = model.graph
    outputs = {out.name for out in graph.output}
    nodes = list(graph.node)
    while True:
        used = {name for node in nodes for name in node.input} | outputs
        live = [node for node in nodes if any(out in used for out in node.output)]
        if len(live) == len(nodes):
            break
        nodes = live
    if len(nodes) != len(graph.node):
        del graph.node[:]
        graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input} | outputs
    kept = [init for init in graph.initializer if init.name in used]
    if len(kept) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(kept)


def _mask_of(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> tuple[str, np.ndarray] | None:
    """``(scores name, additive mask array)`` when ``node`` masks the scores with constants, else None.

    Two forms: ``Add(S, M)`` (an additive mask) and ``Where(C, V, S)`` /
    ``Where(C, S, V)`` with a constant condition and a constant at or below
    the threshold (torch's ``masked_fill(mask, -inf)``), the same as adding
    ``V`` where the scores are replaced and 0 elsewhere.
    """
    import numpy as np

    if node.domain not in DEFAULT_DOMAINS:
        return None
    if node.op_type == "Where" and len(node.input) == 3:
        return _where_mask(node, constants)
    if node.op_type != "Add":
        return None
    constant = [name for name in node.input if name in constants]
    if len(constant) != 1:
        return None
    mask = np.asarray(constants[constant[0]])
    if not np.issubdtype(mask.dtype, np.floating) or np.isnan(mask).any():
        return None
    masked = mask <= -MASK_THRESHOLD
    # Only a mask: some entries at the threshold or below, the rest ordinary finite values.
    if not masked.any() or not np.isfinite(mask[~masked]).all() or (np.abs(mask[~masked]) >= MASK_THRESHOLD).any():
        return None
    scores = next(name for name in node.input if name != constant[0])
    return scores, mask


def _where_mask(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> tuple[str, np.ndarray] | None:
    """The additive mask a ``Where`` with a constant condition and a constant fill stands for."""
    import numpy as np

    condition, on_true, on_false = node.input
    if condition not in constants or (on_true in constants) == (on_false in constants):
        return None
    fill_name, scores = (on_true, on_false) if on_true in constants else (on_false, on_true)
    fill = np.asarray(constants[fill_name])
    if not np.issubdtype(fill.dtype, np.floating) or np.isnan(fill).any() or not (fill <= -MASK_THRESHOLD).all():
        return None
    filled = np.asarray(constants[condition]).astype(bool)
    if fill_name == on_false:
        filled = ~filled
    try:
        mask = np.where(filled, fill, np.zeros((), fill.dtype))
    except ValueError:
        return None
    return scores, mask


def _broadcast(shape: tuple[int, ...] | None, other: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape of ``shape`` broadcast with ``other`` (None when unknown or incompatible)."""
    import numpy as np

    if shape is None:
        return None
    try:
        return tuple(int(d) for d in np.broadcast_shapes(shape, other))
    except ValueError:
        return None


def _softmax_axes(node: onnx.NodeProto, opset: int, rank: int) -> list[int] | None:
    """The axes a Softmax normalizes over: one axis from opset 13, the flattened tail before it."""
    from onnx import helper

    axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), -1 if opset >= 13 else 1)
    axis = int(axis) + rank if int(axis) < 0 else int(axis)
    if not 0 <= axis < rank:
        return None
    return [axis] if opset >= 13 else list(range(axis, rank))


def _every_row_keeps_one(mask: np.ndarray, shape: tuple[int, ...], axes: list[int]) -> bool:
    """Whether every softmax row has an unmasked entry (a fully masked row would divide by zero)."""
    import numpy as np

    try:
        keep = np.broadcast_to(mask > -MASK_THRESHOLD, shape)
    except ValueError:
        return False
    return bool(keep.any(axis=tuple(axes)).all())


def _masked_softmax(
    model: onnx.ModelProto, softmax: onnx.NodeProto, scores: str, mask: np.ndarray, axes: list[int], fresh: Callable[[str], str]
) -> list[onnx.NodeProto]:
    """The nodes computing ``softmax``'s output as ``e / ReduceSum(e)``, ``e = Exp(S + kept - max) * keep``."""
    import numpy as np
    from onnx import helper, numpy_helper

    masked = mask <= -MASK_THRESHOLD
    constants = {
        "floor": np.where(masked, -MAX_MASK, mask),
        "kept": np.where(masked, 0.0, mask),
        "keep": (~masked).astype(np.float64),
    }
    names = {key: fresh(key) for key in constants}
    for key, value in constants.items():
        model.graph.initializer.append(numpy_helper.from_array(value.astype(mask.dtype), names[key]))
    t = {key: fresh(key) for key in ("floored", "max", "shifted", "centred", "exp", "num", "den")}
    opset = opset_of(model)
    nodes = [
        helper.make_node("Add", [scores, names["floor"]], [t["floored"]], name=t["floored"]),
        _reduce(model, "ReduceMax", t["floored"], t["max"], axes, opset >= 18, fresh),
        helper.make_node("Add", [scores, names["kept"]], [t["shifted"]], name=t["shifted"]),
        helper.make_node("Sub", [t["shifted"], t["max"]], [t["centred"]], name=t["centred"]),
        helper.make_node("Exp", [t["centred"]], [t["exp"]], name=t["exp"]),
        helper.make_node("Mul", [t["exp"], names["keep"]], [t["num"]], name=t["num"]),
        _reduce(model, "ReduceSum", t["num"], t["den"], axes, opset >= 13, fresh),
        helper.make_node("Div", [t["num"], t["den"]], [softmax.output[0]], name=softmax.name or fresh("div")),
    ]
    return nodes


def _reduce(
    model: onnx.ModelProto, op: str, source: str, out: str, axes: list[int], axes_as_input: bool, fresh: Callable[[str], str]
) -> onnx.NodeProto:
    """A keepdims reduction over ``axes``: axes as an input tensor (newer opsets) or an attribute."""
    import numpy as np
    from onnx import helper, numpy_helper

    if axes_as_input:
        name = fresh("axes")
        model.graph.initializer.append(numpy_helper.from_array(np.array(axes, np.int64), name))
        return helper.make_node(op, [source, name], [out], name=out, keepdims=1)
    return helper.make_node(op, [source], [out], name=out, axes=axes, keepdims=1)


__all__ = ["MASK_THRESHOLD", "MAX_MASK", "factor_softmax_masks"]
