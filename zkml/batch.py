"""Batched circuits: one proof covering ``B`` inferences.

The batch-1 model is exported as usual and then *unrolled*: the batched graph
slices each input into its ``B`` samples, runs a copy of the batch-1 graph on
each (weights shared) and concatenates the outputs. ezkl then lays out ``B``
copies of the same gates: more rows, the same columns, so the proving key,
verifying key, proof and Solidity verifier keep the size of the batch-1
circuit and only the public instances grow.

Why not export with a batch axis of ``B``: ezkl 23.0.5 compiles a Gemm over a
``[B, n]`` input with a different, wider gate layout. Measured on the example
MLP at the same logrows 15: B=2 doubled the proving key (138 -> 271 MB),
grew the proof from 3,072 to 5,600 bytes and the plain verifier past the
EIP-170 limit (25,117 bytes), and cost 0.87x the B=1 verify gas per
prediction. Unrolled, B=16 keeps the 3,072-byte proof and the 13,381-byte
verifier, and verify gas per prediction is 0.079x of B=1 (691,135 gas for
16 predictions vs 546,949 for one).

Calibration data must come in whole batches: the circuit's calibration
samples are cycled up to a multiple of ``B`` and written back to back, which
ezkl reads as consecutive batches. The rest is the usual calibrate, compile,
SRS and keys, in a folder of its own; the keys are reused while their binding
matches the circuit and SRS.

Proving and verifying (locally or on-chain) then work unchanged: the public
instances hold the ``B`` samples' inputs, then the ``B`` samples' outputs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkml.artifacts import CompiledCircuit, OnnxModel
from zkml.config import CircuitConfig
from zkml.data import Samples
from zkml.errors import ConfigError, ExportError, KeysError
from zkml.prover import ProverSpec

log = logging.getLogger(__name__)

# Bumped whenever export_batched builds a different graph for the same inputs.
BATCH_LAYOUT = "unrolled-1"


@dataclass(frozen=True)
class BatchedCircuit:
    """A circuit compiled for batches of ``batch_size``, with keys, ready to prove.

    Attributes:
        batch_size: inferences per proof.
        root: the folder holding its artifacts.
        model: the batched ONNX model.
        spec: what a :class:`~zkml.prover.WarmProver` needs.
        seconds: time of each build stage (``export``, ``calibrate``, ``compile``, ``srs``, ``keys``).
        keys_reused: the keys were already there.
    """

    batch_size: int
    root: Path
    model: OnnxModel
    spec: ProverSpec
    seconds: dict[str, float] = field(default_factory=dict)
    keys_reused: bool = False


def _first_sample(example: Any) -> Any:
    import torch

    if isinstance(example, tuple):
        return tuple(_first_sample(item) for item in example)
    if not isinstance(example, torch.Tensor):
        raise ExportError(f"example input is a {type(example).__name__}, not a tensor", hint="return a torch.Tensor from example_input")
    return example[:1]


def unroll_batch(proto: Any, batch_size: int) -> Any:
    """A graph that runs a batch-1 ONNX graph once per sample of a batch of ``batch_size``.

    Every graph input ``x`` of shape ``[1, ...]`` becomes ``[B, ...]`` and is
    sliced into its samples; the nodes are copied once per sample with their
    tensors renamed ``s<i>/<name>`` (initializers, i.e. the weights, are
    shared); each output is the concatenation of the copies' outputs on axis 0.

    Raises:
        ExportError: an input or output has no batch axis of 1, or a node holds
            a subgraph (If/Loop/Scan bodies would need renaming inside).
    """
    import numpy as np
    import onnx
    from onnx import AttributeProto, helper, numpy_helper

    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be >= 1")
    graph = proto.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
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

    opset = next((imp.version for imp in proto.opset_import if imp.domain in ("", "ai.onnx")), 0)
    prefix = "zkml_batch"
    new_initializers = list(graph.initializer)
    nodes = []
    # Slice takes its bounds as inputs from opset 10 on, as attributes before.
    bounds_as_inputs = opset >= 10
    axes = f"{prefix}/axes"
    if bounds_as_inputs:
        new_initializers.append(numpy_helper.from_array(np.array([0], dtype=np.int64), axes))
    for i in range(batch_size):
        rename = {value.name: f"s{i}/{value.name}" for value in inputs}
        starts, ends = f"{prefix}/start{i}", f"{prefix}/end{i}"
        if bounds_as_inputs:
            new_initializers.append(numpy_helper.from_array(np.array([i], dtype=np.int64), starts))
            new_initializers.append(numpy_helper.from_array(np.array([i + 1], dtype=np.int64), ends))
        for value in inputs:
            name = f"{prefix}/slice{i}/{value.name}"
            if bounds_as_inputs:
                nodes.append(helper.make_node("Slice", [value.name, starts, ends, axes], [rename[value.name]], name=name))
            else:
                nodes.append(helper.make_node("Slice", [value.name], [rename[value.name]], name=name, starts=[i], ends=[i + 1], axes=[0]))

        def renamed(name: str, i: int = i, rename: dict[str, str] = rename) -> str:
            if not name or name in initializers:  # "" = an omitted optional input
                return name
            return rename.setdefault(name, f"s{i}/{name}")

        for node in graph.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.name = f"s{i}/{node.name or node.op_type}"
            copy.input[:] = [renamed(name) for name in node.input]
            copy.output[:] = [renamed(name) for name in node.output]
            nodes.append(copy)
    for value in graph.output:
        parts = [f"s{i}/{value.name}" for i in range(batch_size)]
        nodes.append(helper.make_node("Concat", parts, [value.name], name=f"{prefix}/concat/{value.name}", axis=0))

    def batched(value: Any) -> Any:
        out = onnx.ValueInfoProto()
        out.CopyFrom(value)
        out.type.tensor_type.shape.dim[0].dim_value = batch_size
        return out

    unrolled = helper.make_graph(
        nodes,
        graph.name or "model",
        [batched(value) for value in inputs],
        [batched(value) for value in graph.output],
        initializer=new_initializers,
    )
    result = helper.make_model(unrolled, opset_imports=list(proto.opset_import), producer_name="zkml-batch")
    result.ir_version = proto.ir_version
    return result


def export_batched(config: CircuitConfig, batch_size: int, out_path: Path) -> OnnxModel:
    """Export the circuit's model for one sample, then unroll it to a batch of ``batch_size``.

    The batch-1 model is kept next to ``out_path`` as ``<stem>.b1.onnx``.

    Raises:
        ExportError: the model cannot be exported, or its batch axis is fixed at a value other than 1.
    """
    import onnx

    from zkml.export import _fix_batch_dims, export_model, load_callable
    from zkml.pipeline import _random_example

    out_path = Path(out_path)
    single_path = out_path.with_name(f"{out_path.stem}.b1.onnx")
    if config.onnx is not None:
        single = export_model(config.onnx, single_path, batch_size=1)
    else:
        assert config.factory is not None
        module = load_callable(config.factory, config.root)()
        example = load_callable(config.example_input, config.root)() if config.example_input else _random_example(config.input_shape)
        single = export_model(module, single_path, example_input=_first_sample(example), batch_size=1)
    proto = onnx.load(str(single.path))
    _fix_batch_dims(proto, 1)
    return export_model(unroll_batch(proto, batch_size), out_path, batch_size=batch_size)


def cycle_to_batches(samples: Samples, batch_size: int, *, min_batches: int = 2) -> Samples:
    """Repeat samples cyclically up to a whole number (at least ``min_batches``) of batches."""
    import numpy as np

    batches = max(min_batches, -(-samples.count // batch_size))
    total = batches * batch_size
    order = np.arange(total) % samples.count
    return Samples(tuple(array[order] for array in samples.arrays))


def build_batched(
    config: CircuitConfig,
    batch_size: int,
    out_dir: Path,
    *,
    allow_dev_srs: bool = True,
    device: str = "auto",
    logrows: int | None = None,
) -> BatchedCircuit:
    """Export, calibrate, compile and make keys for a batch-``batch_size`` version of a circuit.

    Calibration chooses the logrows (``B`` copies need about ``B`` times the rows), unless ``logrows`` pins them.

    Args:
        config: the circuit (as for :class:`~zkml.pipeline.Pipeline`).
        batch_size: inferences per proof (1 gives the ordinary circuit in this layout).
        out_dir: folder for the batched artifacts (reused keys live here).
        allow_dev_srs: accept the insecure development SRS.
        device: proving device request (``auto``, ``cpu``, ``gpu``).
        logrows: pin the circuit's logrows (None: calibration chooses).

    Raises:
        ConfigError: ``batch_size`` < 1.
        ZkmlError: any stage's failure.
    """
    from zkml.calibrate import calibrate
    from zkml.circuit import compile_circuit
    from zkml.data import feature_ranges, generate_around, read_samples, write_samples
    from zkml.device import select_device
    from zkml.keys import check_keys_match, load_keys, setup_keys
    from zkml.srs import resolve_srs
    from zkml.workspace import write_json_atomic

    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be >= 1")
    if logrows is not None:
        config = config.with_circuit(logrows=logrows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    # Export and calibration are not byte-reproducible (so neither is the circuit's hash, to
    # which the keys are bound): reuse them while the inputs that made them are unchanged.
    stamp = out / "batch.json"
    inputs_digest = _inputs_fingerprint(config, batch_size)
    recorded = _read_stamp(stamp, inputs_digest)
    start = time.perf_counter()
    if recorded is not None:
        from zkml.calibrate import read_settings
        from zkml.export import inspect_onnx

        model = inspect_onnx(out / "model.onnx", batch_size=batch_size)
        settings = read_settings(out / "settings.json")
        samples = read_samples(out / "calibration.json", model.inputs)
        circuit = CompiledCircuit(out / "model.compiled", recorded["compiled"], settings)
        seconds["reused"] = time.perf_counter() - start
    else:
        model = export_batched(config, batch_size, out / "model.onnx")
        seconds["export"] = time.perf_counter() - start

        start = time.perf_counter()
        source = config.calibration or config.input
        if source is None:
            raise ConfigError(f"circuit {config.name} has no calibration or input data to calibrate a batched circuit on")
        samples = read_samples(source, model.inputs)
        if config.calibration is None:
            samples = generate_around(samples, config.circuit.calibration_samples)
        samples = cycle_to_batches(samples, batch_size)
        calibration = out / "calibration.json"
        write_samples(calibration, samples)
        settings = calibrate(model, calibration, out / "settings.json", config.circuit)
        seconds["calibrate"] = time.perf_counter() - start

        start = time.perf_counter()
        circuit = compile_circuit(model, settings, out / "model.compiled")
        seconds["compile"] = time.perf_counter() - start
        write_json_atomic(stamp, {"inputs": inputs_digest, "compiled": circuit.sha256, "batch_size": batch_size})

    start = time.perf_counter()
    srs = resolve_srs(settings.logrows, allow_dev=allow_dev_srs)
    seconds["srs"] = time.perf_counter() - start

    start = time.perf_counter()
    reused = False
    try:
        keys = load_keys(out, verify_hashes=False)
        check_keys_match(keys, circuit, srs)
        reused = True
    except KeysError:
        keys = setup_keys(circuit, srs, out)
    seconds["keys"] = time.perf_counter() - start

    # Calibration samples are the cycled batches: their per-feature ranges are the originals'.
    ranges = feature_ranges(samples)
    spec = ProverSpec(
        circuit=circuit,
        keys=keys,
        srs=srs,
        inputs=model.inputs,
        input_ranges=tuple((tuple(lo), tuple(hi)) for lo, hi in ranges),
        range_margin=config.circuit.input_range_margin,
        device=select_device(device),
    )
    log.info("batch-%d circuit of %s: logrows %d, keys %s", batch_size, config.name, settings.logrows, "reused" if reused else "made")
    return BatchedCircuit(batch_size, out, model, spec, seconds, reused)


def _inputs_fingerprint(config: CircuitConfig, batch_size: int) -> str:
    from zkml import _ezkl
    from zkml.artifacts import sha256_file
    from zkml.pipeline import _source_digest
    from zkml.workspace import fingerprint

    parts: dict[str, Any] = {
        "batch_size": batch_size,
        # How the batched graph is built: a folder made by another layout must not be reused.
        "layout": BATCH_LAYOUT,
        "circuit": vars(config.circuit),
        "ezkl": _ezkl.version(),
        "model": sha256_file(config.onnx) if config.onnx else _source_digest(str(config.factory), config.root),
        "example": config.example_input,
        "shape": config.input_shape,
    }
    for label, path in (("calibration", config.calibration), ("input", config.input)):
        parts[label] = sha256_file(path) if path is not None and Path(path).is_file() else None
    return fingerprint(parts)


def _read_stamp(stamp: Path, digest: str) -> dict[str, Any] | None:
    """The recorded build when it was made from the same inputs and its circuit is intact."""
    import json

    from zkml.artifacts import sha256_file

    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    folder = stamp.parent
    if recorded.get("inputs") != digest or not all((folder / n).is_file() for n in ("model.onnx", "settings.json", "model.compiled")):
        return None
    if sha256_file(folder / "model.compiled") != recorded.get("compiled"):
        return None
    return dict(recorded)


def write_batch_input(samples: Samples, batch_size: int, path: Path, *, start: int = 0) -> Path:
    """Write ``batch_size`` samples (cycling from ``start``) as one batched input file."""
    import numpy as np

    from zkml.data import write_samples

    order = (np.arange(batch_size) + start) % samples.count
    write_samples(path, Samples(tuple(array[order] for array in samples.arrays)))
    return Path(path)


@dataclass(frozen=True)
class BatchVerifier:
    """A verifier deployed for a batched circuit.

    Attributes:
        address: where it is.
        kind: ``plain`` (one contract per circuit) or ``reusable`` (shared contract + this circuit's VKA).
        runtime_bytes: the contract's runtime code size.
        vka: the circuit's VKA for the reusable verifier (pass it to ``verify_onchain``).
    """

    address: str
    kind: str
    runtime_bytes: int
    vka: Any = None


def deploy_batch_verifier(conn: Any, spec: ProverSpec, out_dir: Path, *, kind: str = "auto") -> BatchVerifier:
    """Deploy a verifier for a (batched) circuit on ``conn``.

    A batch's public instances grow with ``B`` and the plain verifier's code with
    them; past the EIP-170 limit (24,576 bytes) it cannot deploy on mainnet. With
    ``kind="auto"`` the plain verifier is used while it fits, else the reusable
    verifier with this circuit's VKA.

    Raises:
        ConfigError: ``kind`` is not auto, plain or reusable.
        EvmError, ChainError: generation, compilation or deployment failed.
    """
    from zkml.evm.deploy import deploy_verifier, register_vka
    from zkml.evm.verifier import EIP170_LIMIT, create_vka, generate_verifier

    if kind not in ("auto", "plain", "reusable"):
        raise ConfigError(f"verifier kind {kind!r} is unknown", hint="use auto, plain or reusable")
    out = Path(out_dir)
    keys, settings, srs = spec.keys, spec.circuit.settings, spec.srs
    if kind in ("auto", "plain"):
        plain = generate_verifier(keys.vk_path, settings.path, srs.path, out / "plain")
        if kind == "plain" or plain.runtime_bytes <= EIP170_LIMIT:
            deployed = deploy_verifier(conn, plain, out / "plain", srs_unsafe=srs.unsafe)
            return BatchVerifier(deployed.address, "plain", plain.runtime_bytes)
        log.info("plain verifier is %d bytes (> %d): using the reusable verifier", plain.runtime_bytes, EIP170_LIMIT)
    reusable = generate_verifier(keys.vk_path, settings.path, srs.path, out / "reusable", reusable=True)
    vka = create_vka(keys.vk_path, settings.path, srs.path, out / "reusable" / "model.vka")
    shared = deploy_verifier(conn, reusable, out / "reusable", srs_unsafe=srs.unsafe)
    register_vka(conn, shared, reusable, vka, out / "reusable", srs_unsafe=srs.unsafe)
    return BatchVerifier(shared.address, "reusable", reusable.runtime_bytes, vka)
