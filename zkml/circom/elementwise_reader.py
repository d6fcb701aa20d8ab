"""Reading ONNX nodes into :mod:`zkml.circom.elementwise`'s steps, by the rules measured there.

:mod:`zkml.circom.graph`'s reader hands a node here when :func:`takes` says so; each op becomes one
step whose integers are the constants quantized as ezkl quantizes them. Tensor scales are tracked
(a comparison's 0/1 is at scale 0, and a product of it with a constant is not rebased; Not/Or/And/Xor
are taken only on such 0/1s, which the circuit already constrains).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Protocol

from zkml.circom.elementwise import BOOLEAN_OPS, OPS, Combine, Compare, Linear, Logic, quantize_array
from zkml.errors import CircuitError


class Reader(Protocol):
    """What :mod:`zkml.circom.graph`'s reader exposes to this module (duck-typed: graph imports this module)."""

    constants: Mapping[str, Any]
    scales: Any  # graph.ScaleSettings
    steps: list[Any]
    sizes: dict[str, int]
    value_shapes: dict[str, tuple[int, ...]]
    tensor_scales: dict[str, int]
    consumers: Mapping[str, list[Any]]
    fused: set[str]

    def alias(self, name: str) -> str: ...


def fold_constants(nodes: Iterable[Any], constants: MutableMapping[str, Any], opsets: Any) -> set[str]:
    """Compute ahead every node whose inputs are all constants (as tract does for ezkl); the names of their outputs."""
    from zkml.rewrite.graph import fold_node

    folded: set[str] = set()
    for node in nodes:
        inputs = [name for name in node.input if name]
        if node.op_type == "Constant" or not inputs or not all(name in constants for name in inputs):
            continue
        values = fold_node(node, dict(constants), list(opsets))
        if values is not None:
            constants.update(values)
            folded.update(values)
    return folded


def static_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape from ONNX shape inference, a symbolic batch taken as 1 (empty when inference fails)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in copy.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    try:
        inferred = onnx.shape_inference.infer_shapes(copy)
    except Exception:  # an op inference rejects: the ops below then ask for the shape they lack
        return {}
    shapes: dict[str, tuple[int, ...]] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim):
            shapes[value.name] = tuple(d.dim_value for d in tensor.shape.dim)
    return shapes


def scale_of(reader: Reader, name: str) -> int:
    return reader.tensor_scales.get(reader.alias(name), reader.scales.input_scale)


def takes(node: Any, reader: Reader) -> bool:
    """This module reads ``node``: one of :data:`OPS`, an Add with a constant or across scales, a product with a constant first or a 0/1."""
    op = node.op_type
    if op == "Add":
        return any(n in reader.constants for n in node.input) or scale_of(reader, node.input[0]) != scale_of(reader, node.input[1])
    if op in ("Gemm", "MatMul"):
        return node.input[0] in reader.constants or scale_of(reader, node.input[0]) != reader.scales.input_scale
    return op in OPS


def read_node(reader: Reader, node: Any) -> None:
    """Append ``node``'s step (each op's measured rule: :mod:`zkml.circom.elementwise`).

    Raises:
        CircuitError: a variant ezkl computes differently or that was not measured (named).
    """
    op = node.op_type
    if op in ("Add", "Sub"):
        _add_or_sub(reader, node)
    elif op in ("Mul", "Div"):
        _scale_by_constant(reader, node)
    elif op == "BatchNormalization":
        _batch_norm(reader, node)
    elif op in ("ReduceSum", "Transpose"):
        _rearrange(reader, node)
    elif op in ("Gemm", "MatMul"):
        _product(reader, node)
    elif op in BOOLEAN_OPS:
        _logic(reader, node)
    else:
        _compare(reader, node)


def check_output(reader: Reader, name: str) -> None:
    """The circuit's outputs are at the input scale (the oracle decodes them so); a comparison's 0/1 is not."""
    if scale_of(reader, name) != reader.scales.input_scale:
        raise CircuitError(
            f"the model's output is at scale {scale_of(reader, name)}, not the input scale {reader.scales.input_scale}",
            hint="prove this model with the halo2 backend",
        )


def _where(node: Any) -> str:
    return f"{node.op_type} {node.name!r}"


def _shape(reader: Reader, node: Any, name: str) -> tuple[int, ...]:
    if name in reader.constants:
        return tuple(reader.constants[name].shape)
    if name not in reader.value_shapes:
        raise CircuitError(f"{_where(node)}: the circom backend needs the static shape of {name!r}")
    return reader.value_shapes[name]


def _operands(reader: Reader, node: Any) -> tuple[str, Any, bool]:
    """(the activation, the constant as f32, whether the constant comes first) of a binary op with one constant."""
    import numpy as np

    first, second = node.input[0], node.input[1]
    if (first in reader.constants) == (second in reader.constants):
        raise CircuitError(f"{_where(node)}: the circom backend takes this op with one constant operand, not two activations")
    if first in reader.constants:
        return second, np.asarray(reader.constants[first], dtype=np.float32), True
    return first, np.asarray(reader.constants[second], dtype=np.float32), False


def _elementwise_constant(reader: Reader, node: Any, x: str, constant: Any) -> Any:
    """``constant`` broadcast to ``x``'s shape (refused when it would broadcast ``x`` instead)."""
    import numpy as np

    shape = _shape(reader, node, x)
    if tuple(np.broadcast_shapes(shape, constant.shape)) != shape:
        raise CircuitError(f"{_where(node)}: a constant of shape {list(constant.shape)} would broadcast the activation {list(shape)}")
    return np.broadcast_to(constant, shape).reshape(-1)


def _rebase(reader: Reader, in_scale: int) -> tuple[int, int]:
    """(shift, output scale) of a product by a constant at the param scale: rebased only above the input scale."""
    product = in_scale + reader.scales.param_scale
    target = reader.scales.input_scale
    return (product - target, target) if product > target else (0, product)


def _append(reader: Reader, node: Any, src: str, matrix: Any, shift: int, out_scale: int, *, offset: Any = None) -> None:
    """A :class:`Linear` step from an int64 ``[out][in]`` matrix over ``src``'s row-major elements.

    A rebase that divides every coefficient exactly (tree_ensemble's 0/1 feature selectors, 1.0
    at the param scale) cannot round: the coefficients are divided ahead and the rebase, with its
    range checks, is left out.
    """
    import numpy as np

    source = reader.alias(src)
    if matrix.shape[1] != reader.sizes.get(source):
        raise CircuitError(f"{_where(node)}: takes {matrix.shape[1]} elements, its input has {reader.sizes.get(source)}")
    if shift and not np.any(matrix % (1 << shift)):
        matrix, shift = matrix >> shift, 0
    rows = tuple(tuple((int(i), int(row[i])) for i in np.flatnonzero(row)) for row in matrix)
    dst = node.output[0]
    offsets = (0,) * len(rows) if offset is None else tuple(int(o) for o in offset)
    step = Linear(source, dst, rows, shift, offsets, node.op_type)
    bound = _bound(reader, step)
    relu = reader.consumers.get(dst, [])
    if bound is not None and len(relu) == 1 and relu[0].op_type == "Relu":  # a bounded ReLU is cheaper fused
        dst = relu[0].output[0]
        reader.fused.add(dst)
        step = dataclasses.replace(step, dst=dst, relu_bits=bound.bit_length() + 2)
    reader.steps.append(step)
    reader.sizes[dst] = len(rows)
    reader.tensor_scales[dst] = out_scale


def _bound(reader: Reader, step: Any) -> int | None:
    """A bound on ``|value|`` of an exact step's outputs computed from 0/1s (None when only the value bits bound them)."""
    if isinstance(step, Compare | Logic):
        return 1
    if not isinstance(step, Linear) or step.shift:
        return None
    producer = next((s for s in reversed(reader.steps) if s.dst == step.src), None)
    inner = None if producer is None else _bound(reader, producer)
    if inner is None:
        return None
    return max((sum(abs(c) for _, c in row) * inner + abs(o) for row, o in zip(step.rows, step.offset, strict=True)), default=0)


def _diagonal(values: Any) -> Any:
    import numpy as np

    return np.diag(np.asarray(values, dtype=np.int64))


def _add_or_sub(reader: Reader, node: Any) -> None:
    import numpy as np

    sign = -1 if node.op_type == "Sub" else 1
    if all(n not in reader.constants for n in node.input[:2]):
        a, b = node.input[0], node.input[1]
        shape_a, shape_b = _shape(reader, node, a), _shape(reader, node, b)
        if shape_a != shape_b:
            raise CircuitError(
                f"{_where(node)}: the circom backend combines activations of one shape, not {list(shape_a)} and {list(shape_b)}"
            )
        sa, sb = scale_of(reader, a), scale_of(reader, b)
        top = max(sa, sb)
        dst = node.output[0]
        size = reader.sizes[reader.alias(a)]
        reader.steps.append(Combine(reader.alias(a), reader.alias(b), dst, 1 << (top - sa), sign << (top - sb), size))
        reader.sizes[dst] = size
        reader.tensor_scales[dst] = top
        return
    x, constant, constant_first = _operands(reader, node)
    scale = scale_of(reader, x)
    if scale != reader.scales.input_scale:
        raise CircuitError(f"{_where(node)}: adding a constant to a tensor at scale {scale} (not the input scale) was not measured")
    quantized = quantize_array(_elementwise_constant(reader, node, x, constant), scale)
    x_sign = -1 if constant_first and sign < 0 else 1
    offset = quantized if not (sign < 0 and not constant_first) else -quantized
    _append(reader, node, x, _diagonal(np.full(len(quantized), x_sign)), 0, scale, offset=offset)


def _is_power_of_two(value: float) -> bool:
    import math

    return value != 0 and math.frexp(abs(value))[0] == 0.5


def _scale_by_constant(reader: Reader, node: Any) -> None:
    import numpy as np

    x, constant, constant_first = _operands(reader, node)
    divide = node.op_type == "Div"
    if divide and (constant_first or not np.all(constant != 0)):
        raise CircuitError(f"{_where(node)}: the circom backend divides an activation by a non-zero constant only")
    scalar = float(constant.reshape(-1)[0]) if constant.size == 1 else None
    if scalar is not None and abs(scalar) != 1 and _is_power_of_two(scalar) and (abs(scalar) > 1) == divide:
        raise CircuitError(
            f"{_where(node)}: a {node.op_type} by the scalar {scalar} makes ezkl change the scale instead of "
            "computing (x * 0.5 comes out as x at scale + 1); the circom backend does not mirror it"
        )
    factor = np.float32(1) / constant if divide else constant
    coefficients = quantize_array(_elementwise_constant(reader, node, x, factor), reader.scales.param_scale)
    shift, out_scale = _rebase(reader, scale_of(reader, x))
    _append(reader, node, x, _diagonal(coefficients), shift, out_scale)


def _batch_norm(reader: Reader, node: Any) -> None:
    import numpy as np

    attrs = {a.name: a for a in node.attribute}
    if len([o for o in node.output if o]) > 1 or ("training_mode" in attrs and attrs["training_mode"].i):
        raise CircuitError(f"{_where(node)}: the circom backend takes BatchNormalization in inference mode only")
    x = node.input[0]
    if any(name not in reader.constants for name in node.input[1:5]):
        raise CircuitError(f"{_where(node)}: the circom backend takes BatchNormalization with constant parameters only")
    if scale_of(reader, x) != reader.scales.input_scale:
        raise CircuitError(f"{_where(node)}: a BatchNormalization of a tensor at scale {scale_of(reader, x)} was not measured")
    gamma, beta, mean, var = (np.asarray(reader.constants[name], dtype=np.float32) for name in node.input[1:5])
    epsilon = np.float32(attrs["epsilon"].f if "epsilon" in attrs else 1e-5)
    slope = (gamma / np.sqrt(var + epsilon)).astype(np.float32)  # tract's affine form, in f32
    intercept = (beta - mean * slope).astype(np.float32)
    shape = _shape(reader, node, x)
    per_channel = (1, len(slope)) + (1,) * (len(shape) - 2)
    if len(shape) < 2 or shape[1] != len(slope):
        raise CircuitError(f"{_where(node)}: {len(slope)} channels do not match the input {list(shape)}")
    slopes = np.broadcast_to(slope.reshape(per_channel), shape).reshape(-1)
    intercepts = np.broadcast_to(intercept.reshape(per_channel), shape).reshape(-1)
    shift, out_scale = _rebase(reader, reader.scales.input_scale)
    matrix = _diagonal(quantize_array(slopes, reader.scales.param_scale))
    _append(reader, node, x, matrix, shift, out_scale, offset=quantize_array(intercepts, out_scale))


def _basis(shape: tuple[int, ...]) -> Any:
    """One row-major unit tensor of ``shape`` per element, stacked on a new first axis."""
    import numpy as np

    size = int(np.prod(shape))
    return np.eye(size, dtype=np.int64).reshape(size, *shape)


def _as_matrix(images: Any) -> Any:
    """The ``[out][in]`` matrix from the op's images of the basis (stacked on the first axis)."""
    return images.reshape(images.shape[0], -1).T


def _rearrange(reader: Reader, node: Any) -> None:
    """ReduceSum or Transpose: integers moved and added exactly."""
    import numpy as np

    x = node.input[0]
    shape = _shape(reader, node, x)
    attrs = {a.name: a for a in node.attribute}
    basis = _basis(shape)
    if node.op_type == "Transpose":
        perm = list(attrs["perm"].ints) if "perm" in attrs else list(reversed(range(len(shape))))
        images = np.transpose(basis, (0, *[p + 1 for p in perm]))
    else:
        axes_input = node.input[1] if len(node.input) > 1 and node.input[1] else None
        if axes_input is not None and axes_input not in reader.constants:
            raise CircuitError(f"{_where(node)}: the circom backend takes ReduceSum over constant axes only")
        axes = [int(a) for a in reader.constants[axes_input]] if axes_input else list(attrs["axes"].ints) if "axes" in attrs else []
        noop = "noop_with_empty_axes" in attrs and attrs["noop_with_empty_axes"].i
        keep = bool(attrs["keepdims"].i) if "keepdims" in attrs else True
        if not axes and noop:
            images = basis
        else:
            axes = [a % len(shape) for a in axes] or list(range(len(shape)))
            images = basis.sum(axis=tuple(a + 1 for a in axes), keepdims=keep)
    _append(reader, node, x, _as_matrix(images), 0, scale_of(reader, x))


def _product(reader: Reader, node: Any) -> None:
    """A MatMul/Gemm with one constant operand (either side), the product rebased only above the input scale."""
    import numpy as np

    attrs = {a.name: a for a in node.attribute}
    if any(attrs[n].f != 1.0 for n in ("alpha",) if n in attrs) or (
        len(node.input) > 2 and node.input[2] and not ("beta" in attrs and attrs["beta"].f == 0.0)
    ):
        raise CircuitError(f"{_where(node)}: the circom backend takes this product without alpha or a bias")
    x, constant, constant_first = _operands(reader, node)
    weight = quantize_array(constant, reader.scales.param_scale)
    basis = _basis(_shape(reader, node, x))
    if basis.ndim < 3:
        raise CircuitError(f"{_where(node)}: the circom backend takes products of 2d or batched operands here")
    trans_a, trans_b = (bool(attrs[n].i) if n in attrs else False for n in ("transA", "transB"))
    if constant_first:
        images = np.matmul(weight.T if trans_a else weight, np.swapaxes(basis, -1, -2) if trans_b else basis)
    else:
        images = np.matmul(np.swapaxes(basis, -1, -2) if trans_a else basis, weight.T if trans_b else weight)
    shift, out_scale = _rebase(reader, scale_of(reader, x))
    _append(reader, node, x, _as_matrix(images), shift, out_scale)


_MIRRORED = {"LessOrEqual": "GreaterOrEqual", "Less": "Greater", "Greater": "Less", "GreaterOrEqual": "LessOrEqual", "Equal": "Equal"}


def _compare(reader: Reader, node: Any) -> None:
    x, constant, constant_first = _operands(reader, node)
    scale = scale_of(reader, x)
    if scale != reader.scales.input_scale:
        raise CircuitError(f"{_where(node)}: comparing a tensor at scale {scale} (not the input scale) was not measured")
    thresholds = quantize_array(_elementwise_constant(reader, node, x, constant), scale)
    op = _MIRRORED[node.op_type] if constant_first else node.op_type
    dst = node.output[0]
    reader.steps.append(Compare(reader.alias(x), dst, tuple(int(t) for t in thresholds), op))
    reader.sizes[dst] = len(thresholds)
    reader.tensor_scales[dst] = 0


def _is_boolean(reader: Reader, name: str) -> bool:
    """``name`` holds 0/1s the circuit enforces: a :class:`Compare`'s or a :class:`Logic`'s output."""
    source = reader.alias(name)
    producer = next((s for s in reversed(reader.steps) if s.dst == source), None)
    return isinstance(producer, Compare | Logic)


def _logic(reader: Reader, node: Any) -> None:
    """Not, Or, And, Xor of 0/1s, refused on anything the circuit does not already constrain to 0/1."""
    operands = [name for name in node.input if name]
    if any(name in reader.constants for name in operands):
        raise CircuitError(f"{_where(node)}: the circom backend takes this op on comparisons' outputs, not on a constant")
    for name in operands:
        if not _is_boolean(reader, name):
            raise CircuitError(
                f"{_where(node)}: the circom backend takes {node.op_type} only on 0/1s computed by a comparison, not {name!r}"
            )
    shapes = {_shape(reader, node, name) for name in operands}
    if len(shapes) > 1:
        raise CircuitError(f"{_where(node)}: the circom backend combines booleans of one shape, not {sorted(map(list, shapes))}")
    a, b = (reader.alias(name) for name in operands) if len(operands) == 2 else (reader.alias(operands[0]), None)
    dst = node.output[0]
    size = reader.sizes[a]
    reader.steps.append(Logic(node.op_type, a, b, dst, size))
    reader.sizes[dst] = size
    reader.tensor_scales[dst] = 0
