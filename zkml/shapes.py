"""Static shapes for a circuit: symbolic dimensions resolved from the concrete input shapes.

Circuits have fixed shapes. Converters (hummingbird, onnxmltools, torch with
dynamic axes) often leave symbolic dimensions on intermediate and output
tensors even when every input is fixed: the batch axis of an input is set to
the declared batch size, and ONNX shape inference (with data propagation, so
``Shape -> Gather -> Reshape`` chains resolve) then derives every other tensor's
shape from the inputs. Only a tensor that stays symbolic after that is refused,
by name.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from zkml.errors import ExportError

if TYPE_CHECKING:
    import numpy as np
    import onnx

log = logging.getLogger(__name__)


def _concrete(dim: onnx.TensorShapeProto.Dimension) -> bool:
    return bool(dim.HasField("dim_value") and dim.dim_value > 0)


def _is_static(value: onnx.ValueInfoProto) -> bool:
    tensor_type = value.type.tensor_type
    return tensor_type.HasField("shape") and all(_concrete(dim) for dim in tensor_type.shape.dim)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph inputs that are fed at run time (not initializers listed as inputs)."""
    initializer_names = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in initializer_names]


def fix_input_shapes(model: onnx.ModelProto, batch_size: int) -> None:
    """Set a symbolic batch axis (axis 0) of every graph input to ``batch_size``.

    Raises:
        ExportError: an input has a symbolic dimension on another axis (its size
            cannot be known from the model alone), or no shape at all.
    """
    for value in graph_inputs(model):
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            raise ExportError(f"input {value.name!r} has no declared shape", hint="export with a fixed input shape")
        for axis, dim in enumerate(tensor_type.shape.dim):
            if _concrete(dim):
                continue
            if axis != 0:
                raise ExportError(
                    f"input {value.name!r} has a symbolic dimension {dim.dim_param or '?'!r} at axis {axis}",
                    hint="export with fixed input shapes; only the batch axis (0) may be dynamic",
                )
            dim.ClearField("dim_param")
            dim.dim_value = batch_size


def resolve_shapes(model: onnx.ModelProto, batch_size: int) -> list[str]:
    """Make every input and output of ``model`` static, in place.

    Fixes the inputs' batch axes, then re-derives intermediate and output
    shapes by ONNX shape inference from those concrete inputs. Intermediate
    shape annotations that stay symbolic are dropped (the circuit compiler
    derives them itself from the inputs).

    Returns:
        The names of the outputs whose shapes were resolved here.

    Raises:
        ExportError: an input is symbolic beyond its batch axis, or an output
            stays symbolic after inference (named, with its inferred shape).
    """
    for value in list(graph_inputs(model)) + list(model.graph.output):
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            raise ExportError(
                f"{'output' if value in model.graph.output else 'input'} {value.name!r} is a {kind or 'value of unknown type'}, not a tensor",
                hint="circuits take and give tensors: convert without sequence/map outputs (e.g. skl2onnx/onnxmltools zipmap=False)",
            )
    fix_input_shapes(model, batch_size)
    symbolic_outputs = [value.name for value in model.graph.output if not _is_static(value)]
    symbolic_inner = [value.name for value in model.graph.value_info if not _is_static(value)]
    if not symbolic_outputs and not symbolic_inner:
        return []
    inferred = _infer(model)
    by_name = {value.name: value for value in list(inferred.graph.value_info) + list(inferred.graph.output)}
    unresolved = []
    for value in model.graph.output:
        if _is_static(value):
            continue
        found = by_name.get(value.name)
        if found is not None and _is_static(found):
            value.type.tensor_type.shape.CopyFrom(found.type.tensor_type.shape)
        else:
            unresolved.append((value.name, _describe(found or value)))
    if unresolved:
        unresolved = _resolve_by_running(model, unresolved)
    unresolved = [(name, shape) for name, shape in unresolved if not _batch_only(model, name, batch_size)]
    if unresolved:
        name, shape = unresolved[0]
        more = f" (and {len(unresolved) - 1} more output(s))" if len(unresolved) > 1 else ""
        raise ExportError(
            f"output tensor {name!r} has shape {shape}, still symbolic after inferring shapes from the fixed inputs{more}",
            hint="export with fixed shapes, or make the output's size independent of the input values",
        )
    # Annotations are optional in ONNX: keep the static ones, drop what stays symbolic.
    kept = [by_name.get(value.name, value) for value in model.graph.value_info]
    del model.graph.value_info[:]
    model.graph.value_info.extend(value for value in kept if _is_static(value))
    if symbolic_outputs:
        log.info("resolved symbolic output shapes from the inputs: %s", ", ".join(symbolic_outputs))
    return symbolic_outputs


def _batch_only(model: onnx.ModelProto, name: str, batch_size: int) -> bool:
    """Set an output whose only symbolic axis is its first to ``batch_size`` (the declared batch); False if it has others."""
    value = next(v for v in model.graph.output if v.name == name)
    tensor_type = value.type.tensor_type
    dims = tensor_type.shape.dim if tensor_type.HasField("shape") else []
    if not dims or not all(_concrete(d) for d in dims[1:]):
        return False
    if not _concrete(dims[0]):
        dims[0].ClearField("dim_param")
        dims[0].dim_value = batch_size
    return True


def _resolve_by_running(model: onnx.ModelProto, unresolved: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Shapes inference could not derive, read off two runs at the fixed input shapes.

    ONNX inference stops at ops it cannot propagate values through; running
    the graph gives the real shapes. Two different inputs must give the same
    shape, else the size depends on the values (a circuit cannot hold that)
    and the output stays unresolved.

    Returns:
        The outputs still unresolved, with what is known of their shapes.
    """
    import numpy as np

    from zkml.reference import open_evaluator

    names = [name for name, _ in unresolved]
    inputs = graph_inputs(model)
    try:
        evaluator = open_evaluator(model.SerializeToString())
        runs = []
        for seed in (0, 1):
            rng = np.random.default_rng(seed)
            feeds = {value.name: _random_feed(value, rng) for value in inputs}
            runs.append([np.shape(out) for out in evaluator.run(names, feeds)])
    except Exception as exc:  # a graph that cannot run keeps its outputs unresolved, named below
        log.warning("could not run the model to read its output shapes: %s", exc)
        return unresolved
    still = []
    for index, (name, known) in enumerate(unresolved):
        first, second = runs[0][index], runs[1][index]
        value = next(v for v in model.graph.output if v.name == name)
        if first != second or 0 in first:
            still.append((name, f"{known} (runs gave {list(first)} and {list(second)})"))
            continue
        shape = value.type.tensor_type.shape
        shape.Clear()
        shape.SetInParent()  # a scalar output has a shape with no dims, not no shape
        for size in first:
            shape.dim.add().dim_value = int(size)
    return still


def _random_feed(value: onnx.ValueInfoProto, rng: np.random.Generator) -> np.ndarray:
    from onnx import helper

    tensor_type = value.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
    shape = tuple(int(d.dim_value) for d in tensor_type.shape.dim)
    return rng.normal(size=shape).astype(dtype)


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference from the inputs alone: stale symbolic annotations are cleared first."""
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.value_info[:]
    for value in probe.graph.output:
        if not _is_static(value):
            value.type.tensor_type.ClearField("shape")
    try:
        return onnx.shape_inference.infer_shapes(probe, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # inference is best effort: unresolved outputs are named below
        log.warning("ONNX shape inference failed: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return probe


def _describe(value: onnx.ValueInfoProto) -> str:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return "unknown"
    return "[" + ", ".join(str(d.dim_value) if _concrete(d) else (d.dim_param or "?") for d in tensor_type.shape.dim) + "]"


__all__ = ["fix_input_shapes", "graph_inputs", "resolve_shapes"]
