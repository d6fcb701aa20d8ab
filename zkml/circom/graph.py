"""The quantized graph the circom backend proves: ezkl's fixed-point arithmetic, read from ONNX.

The circom circuit must compute exactly what ezkl's circuit computes, so that both take the
same public field elements in and give the same ones out (the oracle's input checks and
decoding then work unchanged). ezkl's rules, measured against ``gen_witness`` of ezkl 23:

- every float (input, weight, bias) is quantized as ``round(x * 2**scale)`` in f64 from its
  f32 value, rounding half away from zero (Rust's ``f64::round``);
- a Gemm/MatMul multiplies inputs at scale ``s`` by weights at ``param_scale`` and adds the
  bias quantized at ``param_scale`` then multiplied by ``2**s`` (the bias is *not*
  re-quantized at the product scale: 150 of 150 random inputs match only this way);
- the product is rebased to the input scale by dividing by ``2**param_scale`` with
  rounding half away from zero (``-1.5 -> -2``, ``-0.5 -> -1``: measured on a 1-weight
  circuit at the ties), then ReLU is applied;
- a Conv (1d/2d, group 1, unit dilations: ezkl refuses others) rescales the same way, but
  its bias is quantized directly at the product scale ``round(b * 2**(s + param_scale))``
  (the Gemm rule is off by one in 13 to 22 of 48 outputs; this one matches all);
- an AveragePool is the window's sum divided by the kernel size, padding counted, rounded
  half away from zero (kernels of 2, 3, 4 and 6 elements, against ezkl's witness).

Conv and AveragePool become Dense steps over the flattened tensor (:mod:`zkml.circom.windows`).
:func:`read_graph` turns such an ONNX graph into a :class:`QuantizedGraph`;
:func:`evaluate` runs it on quantized inputs with those rules, in exact integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.errors import CircuitError

# Ops that only rename a batch-1 vector: its elements keep their row-major order.
PASSTHROUGH_OPS = frozenset({"Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Dropout"})
SUPPORTED_OPS = frozenset({"Gemm", "MatMul", "Add", "Relu", "Conv", "AveragePool"}) | PASSTHROUGH_OPS
# Passthrough ops that keep the tensor's shape too (a Conv or pool after them still knows its layout).
SHAPE_KEEPING_OPS = frozenset({"Identity", "Dropout"})
ONNX_FLOAT = 1  # TensorProto.FLOAT: a Cast to it (skl2onnx casts its float input) leaves the fixed-point values as they are


def _is_float_cast(node: Any) -> bool:
    return bool(node.op_type == "Cast" and any(a.name == "to" and a.i == ONNX_FLOAT for a in node.attribute))


@dataclass(frozen=True)
class Dense:
    """``dst = rescale(weight @ src + bias)``, then ReLU when ``relu``.

    Attributes:
        src, dst: tensor names.
        weight: ``[out][in]`` integers at the param scale.
        bias: ``[out]`` integers at the product scale (input scale + param scale).
        shift: the rebase divides by ``2**shift``.
        relu: a ReLU follows (fused: its sign test reuses the rescale's range check).
        divisor: when set, the rebase divides by it instead (an AveragePool's window size that is
            not a power of two); still rounding half away from zero.
    """

    src: str
    dst: str
    weight: tuple[tuple[int, ...], ...]
    bias: tuple[int, ...]
    shift: int
    relu: bool
    divisor: int | None = None

    @property
    def denominator(self) -> int:
        """What the rebase divides by."""
        return self.divisor if self.divisor is not None else 1 << self.shift


@dataclass(frozen=True)
class AddOp:
    """``dst = a + b`` for two activations at the same scale."""

    a: str
    b: str
    dst: str


@dataclass(frozen=True)
class ReluOp:
    """``dst = max(src, 0)`` for an activation that is not a Dense output."""

    src: str
    dst: str


Step = Dense | AddOp | ReluOp


@dataclass(frozen=True)
class QuantizedGraph:
    """A batch-1 model of linear layers, ReLUs and Adds in ezkl's integers.

    Attributes:
        input, output: the graph's input and output tensor names.
        input_size, output_size: their element counts.
        scale: the activations' fixed-point scale (ezkl's input scale; outputs have it too).
        param_scale: the weights' scale.
        steps: the operations in order.
    """

    input: str
    output: str
    input_size: int
    output_size: int
    scale: int
    param_scale: int
    steps: tuple[Step, ...]

    @property
    def rescales(self) -> int:
        """How many divisions with a range-checked remainder the circuit needs."""
        return sum(len(step.bias) for step in self.steps if isinstance(step, Dense))


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


def evaluate(graph: QuantizedGraph, inputs: Sequence[int]) -> tuple[int, ...]:
    """Run ``graph`` on quantized inputs in exact integers: the outputs ezkl's witness holds."""
    if len(inputs) != graph.input_size:
        raise CircuitError(f"the model takes {graph.input_size} inputs, got {len(inputs)}")
    values: dict[str, list[int]] = {graph.input: [int(v) for v in inputs]}
    for step in graph.steps:
        if isinstance(step, Dense):
            x = values[step.src]
            out = [
                divide(sum(w * v for w, v in zip(row, x, strict=True)) + b, step.denominator)
                for row, b in zip(step.weight, step.bias, strict=True)
            ]
            values[step.dst] = [max(v, 0) for v in out] if step.relu else out
        elif isinstance(step, AddOp):
            values[step.dst] = [a + b for a, b in zip(values[step.a], values[step.b], strict=True)]
        else:
            values[step.dst] = [max(v, 0) for v in values[step.src]]
    return tuple(values[graph.output])


# --------------------------------------------------------------------------- reading ONNX


@dataclass(frozen=True)
class ScaleSettings:
    """The parts of ezkl's settings the quantized graph depends on."""

    input_scale: int
    param_scale: int
    scale_rebase_multiplier: int = 1

    @classmethod
    def read(cls, settings_path: Path) -> ScaleSettings:
        """Read them from an ezkl ``settings.json``.

        Raises:
            CircuitError: the file is not ezkl settings.
        """
        import json

        try:
            run_args = json.loads(Path(settings_path).read_text())["run_args"]
            return cls(int(run_args["input_scale"]), int(run_args["param_scale"]), int(run_args.get("scale_rebase_multiplier") or 1))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CircuitError(f"{settings_path} is not an ezkl settings file: {exc}") from exc

    def check_supported(self) -> None:
        """The circom backend mirrors ezkl's rebase only where it rebases after every product."""
        if self.input_scale != self.param_scale or self.scale_rebase_multiplier != 1:
            raise CircuitError(
                f"the circom backend supports input_scale == param_scale with scale_rebase_multiplier 1, not "
                f"{self.input_scale}/{self.param_scale}/{self.scale_rebase_multiplier}",
                hint="calibrate with equal input and param scales for the circom backend",
            )


def read_graph(onnx_path: Path, scales: ScaleSettings) -> QuantizedGraph:
    """Read an ONNX model of Gemm/MatMul(+bias), Conv, AveragePool, Relu, Add, Flatten/Reshape at ezkl's scales.

    Raises:
        CircuitError: an op the circom backend does not take (named), a batch other than 1,
            or scales it cannot mirror.
    """
    import onnx
    from onnx import numpy_helper

    scales.check_supported()
    model = onnx.load(str(onnx_path))
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    unsupported = sorted({n.op_type for n in graph.node if n.op_type not in SUPPORTED_OPS | {"Constant"} and not _is_float_cast(n)})
    if unsupported:
        why = (
            " (ezkl computes Sigmoid/Tanh through lookup tables whose rounding is not mirrored yet)"
            if {"Sigmoid", "Tanh"} & set(unsupported)
            else ""
        )
        raise CircuitError(
            f"the circom backend does not take {', '.join(unsupported)}{why}", hint="prove this model with the halo2 backend"
        )
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise CircuitError("the circom backend takes models with one input and one output")
    reader = _GraphReader(constants, _consumers(graph.node), scales)
    reader.sizes[inputs[0].name] = _batch1_size(inputs[0])
    reader.shapes[inputs[0].name] = _batch1_shape(inputs[0])
    for node in graph.node:
        reader.read(node)
    out = reader.alias(graph.output[0].name)
    return QuantizedGraph(
        inputs[0].name, out, reader.sizes[inputs[0].name], reader.sizes[out], scales.input_scale, scales.param_scale, tuple(reader.steps)
    )


def _batch1_size(value_info: Any) -> int:
    dims = [d.dim_value if d.HasField("dim_value") else 1 for d in value_info.type.tensor_type.shape.dim]
    if len(dims) > 1 and dims[0] != 1:
        raise CircuitError(f"the circom backend proves batch 1; the input has shape {dims}")
    size = 1
    for dim in dims:
        size *= dim
    return size


def _batch1_shape(value_info: Any) -> tuple[int, ...]:
    """The input's shape without its batch axis (a Conv or pool reads its channels and spatial axes from it)."""
    dims = [d.dim_value if d.HasField("dim_value") else 1 for d in value_info.type.tensor_type.shape.dim]
    return tuple(dims[1:])


def _consumers(nodes: Sequence[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


class _GraphReader:
    """Walks the ONNX nodes in order, fusing MatMul+Add(const) into a Dense and Dense (or Conv, pool)+Relu into one step."""

    def __init__(self, constants: Mapping[str, Any], consumers: Mapping[str, list[Any]], scales: ScaleSettings) -> None:
        self.constants = constants
        self.consumers = consumers
        self.scales = scales
        self.steps: list[Step] = []
        self.sizes: dict[str, int] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}  # by ONNX name, batch axis dropped; only where known
        self.aliases: dict[str, str] = {}
        self.fused: set[str] = set()  # outputs of nodes already folded into an earlier step

    def alias(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def read(self, node: Any) -> None:
        op = node.op_type
        if op == "Constant" or node.output[0] in self.fused:
            return
        if op in PASSTHROUGH_OPS or _is_float_cast(node):
            self.aliases[node.output[0]] = self.alias(node.input[0])
            if (op in SHAPE_KEEPING_OPS or op == "Cast") and node.input[0] in self.shapes:
                self.shapes[node.output[0]] = self.shapes[node.input[0]]
        elif op in ("Gemm", "MatMul"):
            self._dense(node)
        elif op in ("Conv", "AveragePool"):
            self._window_layer(node)
        elif op == "Add":
            a, b = (self.alias(n) for n in node.input)
            if a not in self.sizes or b not in self.sizes or self.sizes[a] != self.sizes[b]:
                raise CircuitError(f"Add {node.name!r}: the circom backend adds two activations of one size, or a bias after a MatMul")
            self.steps.append(AddOp(a, b, node.output[0]))
            self.sizes[node.output[0]] = self.sizes[a]
        else:  # a Relu that no Dense could take
            src = self.alias(node.input[0])
            self.steps.append(ReluOp(src, node.output[0]))
            self.sizes[node.output[0]] = self.sizes[src]

    def _only_consumer(self, name: str, op: str) -> Any | None:
        found = self.consumers.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op else None

    def _dense(self, node: Any) -> None:
        import numpy as np

        attrs = {a.name: a for a in node.attribute}
        if any(attrs[n].f != 1.0 for n in ("alpha", "beta") if n in attrs) or ("transA" in attrs and attrs["transA"].i):
            raise CircuitError(f"Gemm {node.name!r}: transA, alpha or beta other than the defaults")
        if node.input[1] not in self.constants:
            raise CircuitError(f"{node.op_type} {node.name!r}: the circom backend takes constant weights only")
        weight = np.asarray(self.constants[node.input[1]], dtype=np.float32)
        weight = weight if "transB" in attrs and attrs["transB"].i else weight.T  # to [out][in]
        bias_name = node.input[2] if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2] else None
        dst = node.output[0]
        add = self._only_consumer(dst, "Add") if bias_name is None else None
        if add is not None and [n for n in add.input if n != dst][0] in self.constants:
            bias_name, dst = [n for n in add.input if n != dst][0], add.output[0]
            self.fused.add(dst)
        relu = self._only_consumer(dst, "Relu")
        if relu is not None:
            dst = relu.output[0]
            self.fused.add(dst)
        rows, src = weight.shape[0], self.alias(node.input[0])
        if weight.ndim != 2 or weight.shape[1] != self.sizes.get(src):
            raise CircuitError(
                f"{node.op_type} {node.name!r}: weights {list(weight.shape)} do not take the {self.sizes.get(src)}-element vector it is given",
                hint="the circom backend takes batch-1 vectors through dense layers (an MLP)",
            )
        bias = (
            np.zeros(rows, dtype=np.float32)
            if bias_name is None
            else np.broadcast_to(np.asarray(self.constants[bias_name], dtype=np.float32).reshape(-1), (rows,))
        )
        scale, param = self.scales.input_scale, self.scales.param_scale
        self.steps.append(
            Dense(
                src=src,
                dst=dst,
                weight=tuple(tuple(quantize(float(w), param) for w in row) for row in weight),
                bias=tuple(quantize(float(b), param) << scale for b in bias),  # ezkl scales the bias up; it does not re-quantize it
                shift=param,
                relu=relu is not None,
            )
        )
        self.sizes[dst] = rows

    def _window_layer(self, node: Any) -> None:
        """A Conv (group 1) or an AveragePool as a Dense over the flattened input (see :mod:`zkml.circom.windows`).

        A Conv rescales like a Gemm, its bias quantized at the product scale. An AveragePool is the
        window's sum divided by the kernel size with padding counted (count_include_pad), rounded
        half away from zero; a window that leaves padding out is refused.
        """
        import numpy as np

        from zkml.circom import windows

        src_name = node.input[0]
        shape = self.shapes.get(src_name)
        where = f"{node.op_type} {node.name!r}"
        if shape is None or len(shape) not in (2, 3):
            raise CircuitError(f"{where}: the circom backend takes a Conv or pool on a 1d or 2d input of known shape, not {shape}")
        attrs = {a.name: a for a in node.attribute}
        relu = self._only_consumer(node.output[0], "Relu")
        dst = relu.output[0] if relu is not None else node.output[0]
        scale, param = self.scales.input_scale, self.scales.param_scale
        if node.op_type == "Conv":
            if node.input[1] not in self.constants or (len(node.input) > 2 and node.input[2] and node.input[2] not in self.constants):
                raise CircuitError(f"{where}: the circom backend takes constant weights only")
            if "group" in attrs and attrs["group"].i != 1:
                raise CircuitError(f"{where}: the circom backend takes group=1 convolutions, not group={attrs['group'].i}")
            if "dilations" in attrs and any(d != 1 for d in attrs["dilations"].ints):
                raise CircuitError(f"{where}: the circom backend takes unit dilations (as ezkl does)")
            weight = np.asarray(self.constants[node.input[1]], dtype=np.float32)
            if weight.shape[1] != shape[0]:
                raise CircuitError(f"{where}: weights {list(weight.shape)} do not take {shape[0]} channels")
            matrix, out_shape = windows.conv_matrix(weight, shape, windows.window(node, shape[1:], weight.shape[2:]))
            bias = (
                np.asarray(self.constants[node.input[2]], dtype=np.float32)
                if len(node.input) > 2 and node.input[2]
                else np.zeros(weight.shape[0])
            )
            plane = len(matrix) // weight.shape[0]
            step = Dense(
                src=self.alias(src_name),
                dst=dst,
                weight=tuple(tuple(quantize(w, param) for w in row) for row in matrix),
                bias=tuple(quantize(float(bias[j // plane]), scale + param) for j in range(len(matrix))),
                shift=param,
                relu=relu is not None,
            )
        else:
            kernel = tuple(attrs["kernel_shape"].ints)
            count = int(np.prod(kernel))
            include_pad = bool(attrs["count_include_pad"].i) if "count_include_pad" in attrs else False
            padded = "pads" in attrs and any(attrs["pads"].ints)
            if count < 2 or (padded and not include_pad) or ("ceil_mode" in attrs and attrs["ceil_mode"].i):
                raise CircuitError(
                    f"{where}: the circom backend takes average pools over 2+ elements with padding counted in floor mode, "
                    f"not kernel {list(kernel)}{' with padding left out' if padded and not include_pad else ''}"
                )
            sums, out_shape = windows.sum_pool_matrix(shape, windows.window(node, shape[1:], kernel))
            power_of_two = count & (count - 1) == 0
            step = Dense(
                self.alias(src_name),
                dst,
                tuple(tuple(row) for row in sums),
                (0,) * len(sums),
                count.bit_length() - 1,
                relu is not None,
                divisor=None if power_of_two else count,
            )
        if relu is not None:
            self.fused.add(dst)
        self.steps.append(step)
        self.sizes[dst] = len(step.weight)
        self.shapes[dst] = out_shape
