"""The quantized graph the circom backend proves: ezkl's fixed-point arithmetic, read from ONNX.

The circom circuit must compute exactly what ezkl's circuit computes, so that both take the
same public field elements in and give the same ones out (the oracle's input checks and
decoding then work unchanged). ezkl's rules, measured against ``gen_witness`` of ezkl 23:

- every float (input, weight, bias) is quantized as ``round(x * 2**scale)`` in f64 from its
  f32 value, rounding half away from zero (Rust's ``f64::round``);
- a Gemm/MatMul multiplies inputs at scale ``s`` by weights at ``param_scale``, rebases the
  product to the input scale by dividing by ``2**param_scale`` with rounding half away from
  zero (``-1.5 -> -2``, ``-0.5 -> -1``: measured on a 1-weight circuit at the ties), and
  only then adds the bias quantized at ``param_scale`` (== ``s``): ``round(W.x / 2**p) + b``,
  then ReLU. Adding the bias before the rebase (``round((W.x + b * 2**p) / 2**p)``) differs
  exactly at ties whose rounding changes sign: at scale 7 it missed 7 to 11 of 4,800 outputs
  (Gemm, MatMul+Add, each with and without ReLU), the rule here 0 of 4,800;
- a Conv (1d/2d, group 1, unit dilations: ezkl refuses others) rescales the same way, but
  its bias is quantized directly at the product scale ``round(b * 2**(s + param_scale))``
  (the Gemm rule is off by one in 13 to 22 of 48 outputs; this one matches all);
- an AveragePool is the window's sum divided by the kernel size, padding counted, rounded
  half away from zero (kernels of 2, 3, 4 and 6 elements, against ezkl's witness);
- a Sigmoid or Tanh is ezkl's lookup table at the activation scale, its input already rebased
  (the measured rule and the circuit's gadget: :mod:`zkml.circom.lookups`).
- a Softmax subtracts the max, looks ``Exp`` up and multiplies by a rounded reciprocal (:mod:`zkml.circom.softmax`).
- Mul/Div/Add/Sub by constants, BatchNormalization, ReduceSum, Transpose, products with a
  constant first operand and comparisons with constants (0/1 at scale 0), and constant
  subgraphs folded ahead as tract does: the measured rules are in :mod:`zkml.circom.elementwise`.

Conv and AveragePool become Dense steps over the flattened tensor (:mod:`zkml.circom.windows`).
:func:`read_graph` turns such an ONNX graph into a :class:`QuantizedGraph`;
:func:`evaluate` runs it on quantized inputs with those rules, in exact integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from zkml.circom import elementwise, elementwise_reader, softmax
from zkml.circom.fixed_point import Dense, dense_row, divide, quantize, rescale
from zkml.circom.lookups import LOOKUP_OPS, Lookup, apply, read_lookup
from zkml.errors import CircuitError

# Ops that only rename a batch-1 vector: its elements keep their row-major order.
PASSTHROUGH_OPS = frozenset({"Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Dropout"})
SUPPORTED_OPS = (
    frozenset({"Gemm", "MatMul", "Add", "Relu", "Conv", "AveragePool", "Softmax"})
    | PASSTHROUGH_OPS
    | frozenset(LOOKUP_OPS)
    | elementwise.OPS
)
# Passthrough ops that keep the tensor's shape too (a Conv or pool after them still knows its layout).
SHAPE_KEEPING_OPS = frozenset({"Identity", "Dropout"})
ONNX_FLOAT = 1  # TensorProto.FLOAT: a Cast to it (skl2onnx casts its float input) leaves the fixed-point values as they are


def _is_float_cast(node: Any) -> bool:
    return bool(node.op_type == "Cast" and any(a.name == "to" and a.i == ONNX_FLOAT for a in node.attribute))


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


Step = Dense | AddOp | ReluOp | Lookup | elementwise.ElementwiseStep | softmax.Softmax


@dataclass(frozen=True)
class QuantizedGraph:
    """A batch-1 model of linear layers, ReLUs and Adds in ezkl's integers.

    Its inputs and outputs are each the concatenation of the model's input (output) tensors in
    graph order, every one flattened: ezkl's instance order (each input, then each output;
    measured on the proof of a 2-input 2-output model), so the circuit's public signals are
    ezkl's instances and zkml's decoder splits them per tensor unchanged.

    Attributes:
        input, output: the first input and output tensor names (the only ones of most models).
        input_size, output_size: the element counts of all inputs and of all outputs, concatenated.
        scale: the activations' fixed-point scale (ezkl's input scale; outputs have it too).
        param_scale: the weights' scale.
        steps: the operations in order.
        inputs, outputs: every input (output) tensor as ``(name, size)`` in graph order; left empty,
            the one ``(input, input_size)`` (``(output, output_size)``).
    """

    input: str
    output: str
    input_size: int
    output_size: int
    scale: int
    param_scale: int
    steps: tuple[Step, ...]
    inputs: tuple[tuple[str, int], ...] = ()
    outputs: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        for field, first, size in (("inputs", self.input, self.input_size), ("outputs", self.output, self.output_size)):
            tensors = getattr(self, field) or ((first, size),)
            if tensors[0][0] != first or sum(n for _, n in tensors) != size:
                raise ValueError(f"{field} {tensors} do not start with {first!r} and add up to {size} elements")
            object.__setattr__(self, field, tuple(tensors))

    @property
    def rescales(self) -> int:
        """How many divisions with a range-checked remainder the circuit needs."""
        return sum(len(step.bias) for step in self.steps if isinstance(step, Dense))

    def single_io(self) -> bool:
        """The model has one input tensor and one output tensor."""
        return len(self.inputs) == 1 and len(self.outputs) == 1


def slices(tensors: Sequence[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """``(name, offset, size)`` of each tensor in their concatenation."""
    found, offset = [], 0
    for name, size in tensors:
        found.append((name, offset, size))
        offset += size
    return found


def evaluate(graph: QuantizedGraph, inputs: Sequence[int]) -> tuple[int, ...]:
    """Run ``graph`` on quantized inputs in exact integers: the outputs ezkl's witness holds."""
    if len(inputs) != graph.input_size:
        raise CircuitError(f"the model takes {graph.input_size} inputs, got {len(inputs)}")
    values = {name: [int(v) for v in inputs[offset : offset + size]] for name, offset, size in slices(graph.inputs)}
    for step in graph.steps:
        if isinstance(step, Dense):
            x = values[step.src]
            out = [dense_row(step, row, b, x) for row, b in zip(step.weight, step.bias, strict=True)]
            values[step.dst] = [max(v, 0) for v in out] if step.relu else out
        elif isinstance(step, (*elementwise.STEPS, softmax.Softmax)):  # Mul, Sub, comparisons, ...: zkml.circom.elementwise; softmax
            values[step.dst] = step.evaluate(values)
        elif isinstance(step, AddOp):
            values[step.dst] = [a + b for a, b in zip(values[step.a], values[step.b], strict=True)]
        elif isinstance(step, Lookup):
            values[step.dst] = apply(step, values[step.src])
        else:
            values[step.dst] = [max(v, 0) for v in values[step.src]]
    return tuple(v for name, _ in graph.outputs for v in values[name])


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
    """Read an ONNX model of Gemm/MatMul(+bias), Conv, AveragePool, Relu, Sigmoid, Tanh, Add, Flatten/Reshape at ezkl's scales.

    Several inputs and outputs are taken in graph order (see :class:`QuantizedGraph`).

    Raises:
        CircuitError: an op the circom backend does not take (named), a batch other than 1,
            scales it cannot mirror, or an output not at the input scale (named).
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
    folded = elementwise_reader.fold_constants(graph.node, constants, model.opset_import)  # as tract does for ezkl
    unsupported = sorted(
        {
            n.op_type
            for n in graph.node
            if n.op_type not in SUPPORTED_OPS | {"Constant"} and not _is_float_cast(n) and n.output[0] not in folded
        }
    )
    if unsupported:
        raise CircuitError(f"the circom backend does not take {', '.join(unsupported)}", hint="prove this model with the halo2 backend")
    inputs = [i for i in graph.input if i.name not in constants]
    if not inputs:
        raise CircuitError("the circom backend takes models with at least one input that is not a constant")
    reader = _GraphReader(constants, _consumers(graph.node, [o.name for o in graph.output]), scales)
    reader.fused |= folded
    reader.value_shapes.update(elementwise_reader.static_shapes(model))
    for value in inputs:
        reader.sizes[value.name] = _batch1_size(value)
        reader.shapes[value.name] = _batch1_shape(value)
    for node in graph.node:
        reader.read(node)
    ins = tuple((value.name, reader.sizes[value.name]) for value in inputs)
    outs = _read_outputs(reader, [o.name for o in graph.output])
    return QuantizedGraph(
        ins[0][0],
        outs[0][0],
        sum(n for _, n in ins),
        sum(n for _, n in outs),
        scales.input_scale,
        scales.param_scale,
        tuple(reader.steps),
        ins,
        outs,
    )


def _read_outputs(reader: _GraphReader, names: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """Each graph output as ``(computed tensor, size)``, in graph order; each must be computed at the input scale.

    ezkl gives every output its own scale (``model_output_scales``: a comparison's 0/1 is at 0);
    the circom path publishes outputs at the input scale only, so another scale is refused, by name.
    """
    outs = []
    for name in names:
        out = reader.alias(name)
        if out not in reader.sizes:
            raise CircuitError(f"the model's output {name!r} is not computed from its inputs (a constant?)")
        try:
            elementwise_reader.check_output(reader, out)
        except CircuitError as exc:
            message = exc.message if len(names) == 1 else f"{exc.message} (output {name!r})"
            raise CircuitError(message, hint=exc.hint) from exc
        outs.append((out, reader.sizes[out]))
    return tuple(outs)


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


# Stands for "read by the graph's caller": a graph output has it among its consumers, so no later
# node fuses into the step that computes it (a Gemm whose output is published and also ReLU'd).
_GRAPH_OUTPUT = SimpleNamespace(op_type="graph output", input=(), output=())


def _consumers(nodes: Sequence[Any], outputs: Sequence[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            found.setdefault(name, []).append(node)
    for name in outputs:
        found.setdefault(name, []).append(_GRAPH_OUTPUT)
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
        self.value_shapes: dict[str, tuple[int, ...]] = {}  # by ONNX name, full shapes from shape inference
        self.tensor_scales: dict[str, int] = {}  # tensors not at the input scale (a comparison's 0/1 is at 0)

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
        elif elementwise_reader.takes(node, self):  # Mul, Sub, BatchNormalization, comparisons, ...
            elementwise_reader.read_node(self, node)
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
        elif op == "Softmax":  # max, Exp table, reciprocal: see zkml.circom.softmax
            softmax.read_node(self, node)
        elif op in LOOKUP_OPS:  # Sigmoid, Tanh: see zkml.circom.lookups
            src = self.alias(node.input[0])
            self.steps.append(read_lookup(op, src, node.output[0], self.scales.input_scale, self.sizes[src]))
            self.sizes[node.output[0]] = self.sizes[src]
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
        param = self.scales.param_scale
        self.steps.append(
            Dense(
                src=src,
                dst=dst,
                weight=tuple(tuple(quantize(float(w), param) for w in row) for row in weight),
                bias=tuple(quantize(float(b), param) for b in bias),  # at param == input scale: ezkl adds it after the rebase
                shift=param,
                relu=relu is not None,
                bias_after_rebase=True,
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
        inferred = self.value_shapes.get(src_name)  # a Conv's input is [N, C, ...]: N is the batch of 1 inference assumed
        shape = self.shapes.get(src_name) or (inferred[1:] if inferred and inferred[0] == 1 else None)
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


__all__ = [  # the fixed-point primitives stay importable from here, where the rules are described
    "AddOp",
    "Dense",
    "QuantizedGraph",
    "ReluOp",
    "ScaleSettings",
    "Step",
    "divide",
    "evaluate",
    "quantize",
    "read_graph",
    "rescale",
    "slices",
]
