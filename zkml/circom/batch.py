"""A batch of ``B`` predictions in one circom circuit, with halo2's batched instances as its public signals.

zkml's halo2 batch circuit (:mod:`zkml.proving.batch`) unrolls the batch-1 ONNX graph ``B``
times over an input ``[B, n]`` and an output ``[B, m]``; ezkl's instances are then all the
inputs, row-major (sample by sample), followed by all the outputs, row-major. The circom
batch circuit here takes the same field elements in the same order, so the adapter, the
oracle's batch submit and its input checks take its proofs unchanged:

- :func:`batch_source` instantiates the batch-1 model template that
  :func:`zkml.circom.codegen.circom_source` writes ``B`` times under a ``Batch`` main
  template whose public inputs are ``inputs[B*n]`` then ``outputs[B*m]``. The source stays
  the size of the batch-1 one; the constraints are ``B`` times the batch-1 circuit's.
- :func:`batch_graph` is the same function as one :class:`~zkml.circom.graph.QuantizedGraph`
  (block-diagonal weights, element-wise steps over the concatenated samples), so :func:`zkml.circom.graph.evaluate` and
  :func:`zkml.circom.prove.prove` compute the batch's outputs in that order unchanged.
  It is the circuit's *meaning*, for witness and checks; it is not compiled (its zero blocks
  would make the source grow as ``B**2``).
- :func:`compile_batch` writes and compiles the circuit: a
  :class:`~zkml.circom.build.CircomCircuit` that :func:`zkml.circom.build.setup_keys`,
  :func:`zkml.circom.prove.prove` and :mod:`zkml.circom.evm` take as they take a batch-1 one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from zkml.circom.build import CIRCUIT_NAME, CircomCircuit, r1cs_counts
from zkml.circom.codegen import VALUE_BITS, circom_source
from zkml.circom.elementwise import Combine, Compare, Linear, Logic
from zkml.circom.graph import AddOp, Dense, QuantizedGraph, ReluOp, ScaleSettings, Step, evaluate, read_graph
from zkml.circom.lookups import Lookup
from zkml.circom.softmax import Softmax
from zkml.errors import CircuitError

log = logging.getLogger(__name__)

SAMPLE_TEMPLATE = "Model"  # the batch-1 template's name in the batch circuit
_MAIN_PREFIX = "component main "


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise CircuitError(f"batch size {batch_size} must be >= 1")


def _check_one_tensor_each(graph: QuantizedGraph, batch_size: int) -> None:
    """ezkl batches several input (output) tensors tensor by tensor, not sample by sample: not mirrored here."""
    if batch_size > 1 and not graph.single_io():
        raise CircuitError(
            f"the circom batch circuit takes models with one input and one output tensor, not {len(graph.inputs)} and {len(graph.outputs)}",
            hint="prove batches of this model with the halo2 backend (zkml ... --batch-size B)",
        )


def batch_source(graph: QuantizedGraph, batch_size: int, *, value_bits: int = VALUE_BITS) -> str:
    """The circom source proving ``graph`` on ``batch_size`` samples: public ``inputs[B*n]`` then ``outputs[B*m]``.

    Sample ``b``'s inputs are ``inputs[b*n .. b*n+n)`` and its outputs ``outputs[b*m .. b*m+m)``:
    ezkl's instance order for a ``[B, n]`` input and a ``[B, m]`` output.

    Raises:
        CircuitError: ``batch_size`` < 1.
    """
    _check_batch_size(batch_size)
    _check_one_tensor_each(graph, batch_size)
    single = circom_source(graph, template=SAMPLE_TEMPLATE, value_bits=value_bits)
    lines = single.splitlines()
    mains = [i for i, line in enumerate(lines) if line.startswith(_MAIN_PREFIX)]
    if len(mains) != 1:  # codegen's output changed shape: better to fail than to prove two mains
        raise CircuitError(f"the batch-1 circom source has {len(mains)} main components, expected 1")
    n, m = graph.input_size, graph.output_size
    batch = [
        "// The batch: the batch-1 model once per sample; public signals as ezkl's batched instances.",
        "template Batch(B) {",
        f"    signal input inputs[B * {n}];",
        f"    signal input outputs[B * {m}];",
        "    component sample[B];",
        "    for (var b = 0; b < B; b++) {",
        f"        sample[b] = {SAMPLE_TEMPLATE}();",
        f"        for (var i = 0; i < {n}; i++) {{ sample[b].inputs[i] <== inputs[b * {n} + i]; }}",
        f"        for (var j = 0; j < {m}; j++) {{ sample[b].outputs[j] <== outputs[b * {m} + j]; }}",
        "    }",
        "}",
        "",
        f"component main {{public [inputs, outputs]}} = Batch({batch_size});",
    ]
    return "\n".join([*lines[: mains[0]], *batch, *lines[mains[0] + 1 :]])


def _block_diagonal(steps: Sequence[Dense], batch_size: int) -> Dense:
    """One Dense doing ``steps[b]`` on the ``b``-th block of its input, for every sample ``b``."""
    first = steps[0]
    cols = len(first.weight[0])
    weight: list[tuple[int, ...]] = []
    for b, step in enumerate(steps):
        left, right = (0,) * (b * cols), (0,) * ((batch_size - b - 1) * cols)
        weight += [left + row + right for row in step.weight]
    bias = tuple(v for step in steps for v in step.bias)
    return replace(first, weight=tuple(weight), bias=bias)  # every other field (rebase, ReLU, ...) is the sample's


def batch_graph(graph: QuantizedGraph, batch_size: int) -> QuantizedGraph:
    """``graph`` on ``batch_size`` samples as one graph: sample-major inputs in, sample-major outputs out.

    Every Dense becomes block-diagonal (one block per sample), an element-wise step acts on the
    concatenated samples (its per-element constants repeated per sample, a Linear's input indices
    shifted per sample) and a Softmax takes each sample's groups, so :func:`zkml.circom.graph.evaluate`
    of it equals the per-sample evaluations concatenated, in ezkl's batched instance order.

    Raises:
        CircuitError: ``batch_size`` < 1.
    """
    _check_batch_size(batch_size)
    if batch_size == 1:
        return graph
    _check_one_tensor_each(graph, batch_size)
    sizes = _tensor_sizes(graph)
    steps = [_batched_step(step, batch_size, sizes) for step in graph.steps]
    return QuantizedGraph(
        graph.input,
        graph.output,
        graph.input_size * batch_size,
        graph.output_size * batch_size,
        graph.scale,
        graph.param_scale,
        tuple(steps),
    )


def _tensor_sizes(graph: QuantizedGraph) -> dict[str, int]:
    """Every tensor's element count in one sample: the inputs', then each step's output's."""
    sizes = dict(graph.inputs)
    for step in graph.steps:
        if isinstance(step, Dense):
            sizes[step.dst] = len(step.weight)
        elif isinstance(step, AddOp):
            sizes[step.dst] = sizes[step.a]
        elif isinstance(step, ReluOp):
            sizes[step.dst] = sizes[step.src]
        else:
            sizes[step.dst] = step.size
    return sizes


def _batched_step(step: Step, batch_size: int, sizes: Mapping[str, int]) -> Step:
    """``step`` on ``batch_size`` samples laid one after another: per-sample constants repeated, indices shifted per sample."""
    if isinstance(step, Dense):
        return _block_diagonal([step] * batch_size, batch_size)
    if isinstance(step, AddOp | ReluOp):
        return step  # element-wise without constants: the same op on the concatenated samples
    if isinstance(step, Lookup | Combine | Logic):
        return replace(step, size=step.size * batch_size)  # element-wise, no per-element constants
    if isinstance(step, Softmax):
        return replace(step, groups=step.groups * batch_size)  # each sample's groups, one after another
    if isinstance(step, Compare):
        return replace(step, thresholds=step.thresholds * batch_size)
    if isinstance(step, Linear):
        n = sizes[step.src]
        rows = tuple(tuple((i + b * n, c) for i, c in row) for b in range(batch_size) for row in step.rows)
        return replace(step, rows=rows, offset=step.offset * batch_size)
    raise CircuitError(f"the circom batch circuit does not take {type(step).__name__} steps")  # a new step type: batch it here


def batch_outputs(graph: QuantizedGraph, samples: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The batch's outputs (signed integers, sample-major) from the batch-1 ``graph``, one sample at a time."""
    return tuple(v for sample in samples for v in evaluate(graph, sample))


def compile_batch(onnx_path: Path, settings_path: Path, batch_size: int, folder: Path) -> CircomCircuit:
    """Generate the batch circuit of a batch-1 ONNX model at ezkl's scales and compile it (R1CS + wasm witness generator).

    Args:
        onnx_path: the batch-1 model (a batch workspace keeps it as ``model.b1.onnx``).
        settings_path: ezkl's settings (the batch-1 or the batched circuit's: same scales).
        batch_size: samples per proof.
        folder: where the circuit's files go.

    Raises:
        CircuitError: an op or setting the circom backend does not take, or circom failed.
    """
    single = read_graph(Path(onnx_path), ScaleSettings.read(Path(settings_path)))
    return compile_graph(single, batch_size, folder)


def compile_graph(single: QuantizedGraph, batch_size: int, folder: Path) -> CircomCircuit:
    """Compile the batch circuit of the batch-1 graph ``single`` into ``folder`` (see :func:`compile_batch`)."""
    from zkml.artifacts import sha256_file
    from zkml.circom import tools

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{CIRCUIT_NAME}.circom"
    source.write_text(batch_source(single, batch_size))
    # --O1 as zkml.circom.build: its substitutions also remove the per-sample wiring (signal = signal).
    tools.run(
        "circom2", [source.name, "--r1cs", "--wasm", "--O1", "-o", "."], doing="compiling the batch circuit", error=CircuitError, cwd=folder
    )
    r1cs = folder / f"{CIRCUIT_NAME}.r1cs"
    constraints, public = r1cs_counts(r1cs)
    expected = batch_size * (single.input_size + single.output_size)
    if public != expected:
        raise CircuitError(f"the batch circuit has {public} public signals, expected {expected}")
    log.info("batch-%d circom circuit: %d constraints, %d public signals", batch_size, constraints, public)
    return CircomCircuit(folder, batch_graph(single, batch_size), constraints, public, sha256_file(r1cs))
