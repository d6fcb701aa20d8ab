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

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.artifacts import CompiledCircuit, Keys, OnnxModel, Srs
from zkml.config import CircuitConfig
from zkml.data import Samples
from zkml.errors import ConfigError, ExportError, KeysError
from zkml.proving.unroll import unroll_batch
from zkml.proving.warm import ProverSpec, freeze_ranges
from zkml.workspace import Layout

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection
    from zkml.evm.verifier import Vka

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
        spec: what a :class:`~zkml.proving.warm.WarmProver` needs.
        seconds: time of each build stage (``export``, ``calibrate``, ``compile``, ``srs``, ``keys``; ``reused``
            instead of the first three when the folder's circuit was reused).
        keys_reused: the keys were already there.
    """

    batch_size: int
    root: Path
    model: OnnxModel
    spec: ProverSpec
    seconds: dict[str, float] = field(default_factory=dict)
    keys_reused: bool = False


def _first_sample(example: object) -> Any:  # a tensor, or a (nested) tuple of them
    import torch

    if isinstance(example, tuple):
        return tuple(_first_sample(item) for item in example)
    if not isinstance(example, torch.Tensor):
        raise ExportError(f"example input is a {type(example).__name__}, not a tensor", hint="return a torch.Tensor from example_input")
    return example[:1]


def export_batched(config: CircuitConfig, batch_size: int, out_path: Path) -> OnnxModel:
    """Export the circuit's model for one sample, then unroll it to a batch of ``batch_size``.

    The batch-1 model is kept next to ``out_path`` as ``<stem>.b1.onnx``.

    Raises:
        ExportError: the model cannot be exported, or its batch axis is fixed at a value other than 1.
    """
    import onnx

    from zkml.export import export_model, load_callable, random_example
    from zkml.shapes import resolve_shapes

    out_path = Path(out_path)
    single_path = out_path.with_name(f"{out_path.stem}.b1.onnx")
    if config.onnx is not None:
        single = export_model(config.onnx, single_path, batch_size=1)
    else:
        assert config.factory is not None
        module = load_callable(config.factory, config.root)()
        example = load_callable(config.example_input, config.root)() if config.example_input else random_example(config.input_shape)
        single = export_model(module, single_path, example_input=_first_sample(example), batch_size=1)
    proto = onnx.load(str(single.path))
    resolve_shapes(proto, 1)
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
        out_dir: folder for the batched artifacts (reused keys live here), named as in a workspace.
        allow_dev_srs: accept the insecure development SRS.
        device: proving device request (``auto``, ``cpu``, ``gpu``).
        logrows: pin the circuit's logrows (None: calibration chooses).

    Raises:
        ConfigError: ``batch_size`` < 1.
        ZkmlError: any stage's failure.
    """
    from zkml.data import feature_ranges
    from zkml.proving.device import select_device
    from zkml.srs import resolve_srs

    if logrows is not None:
        config = config.with_circuit(logrows=logrows)
    layout = Layout(out_dir)
    seconds: dict[str, float] = {}
    prepared = prepare_batched(config, batch_size, layout, on_stage=lambda stage, state, took: _keep(seconds, stage, state, took))
    model, samples, circuit = prepared.model, prepared.samples, prepared.circuit
    with _timed(seconds, "srs"):
        srs = resolve_srs(circuit.settings.logrows, allow_dev=allow_dev_srs)
    with _timed(seconds, "keys"):
        keys, reused = load_or_make_keys(circuit, srs, layout.root)
    spec = ProverSpec(
        circuit=circuit,
        keys=keys,
        srs=srs,
        inputs=model.inputs,
        # Calibration samples are the cycled batches: their per-feature ranges are the originals'.
        input_ranges=freeze_ranges(feature_ranges(samples)),
        range_margin=config.circuit.input_range_margin,
        device=select_device(device),
    )
    log.info(
        "batch-%d circuit of %s: logrows %d, keys %s", batch_size, config.name, circuit.settings.logrows, "reused" if reused else "made"
    )
    return BatchedCircuit(batch_size, layout.root, model, spec, seconds, reused)


def _keep(seconds: dict[str, float], stage: str, state: str, took: float) -> None:
    """Keep a finished stage's time (``reused`` for the folder's circuit taken as it was)."""
    if state == "done":
        seconds[stage] = took
    elif state == "reused":
        seconds["reused"] = seconds.get("reused", 0.0) + took


# Called with (stage, state, seconds): state is ``start``, ``done`` or ``reused`` (seconds 0 for ``start``).
StageCallback = Callable[[str, str, float], None]


@dataclass(frozen=True)
class PreparedBatch:
    """A batched circuit up to its compiled form (no SRS, no keys): what ``zkml estimate`` and the workspace need.

    Attributes:
        model: the batched ONNX model.
        samples: the calibration samples, in whole batches.
        circuit: the compiled circuit and its settings.
        inputs_digest: the digest of everything that made it (:func:`_inputs_fingerprint`).
        reused: the folder's circuit was taken as it was (its inputs unchanged).
    """

    model: OnnxModel
    samples: Samples
    circuit: CompiledCircuit
    inputs_digest: str
    reused: bool


def prepare_batched(config: CircuitConfig, batch_size: int, layout: Layout, *, on_stage: StageCallback | None = None) -> PreparedBatch:
    """Export, calibrate and compile a batch-``batch_size`` circuit into ``layout``, or reuse the one there.

    The folder's circuit is reused while the digest of everything that made it (model
    source, data, circuit config, layout, ezkl) is the one its ``batch.json`` records and
    its compiled circuit still hashes to the recorded value.

    Args:
        config: the circuit.
        batch_size: inferences per proof.
        layout: the folder (created if missing).
        on_stage: told when ``export``, ``calibrate`` and ``compile`` start and end (or are reused).

    Raises:
        ConfigError: ``batch_size`` < 1, or no data to calibrate on.
        ZkmlError: any stage's failure.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be >= 1")
    layout.root.mkdir(parents=True, exist_ok=True)
    report: StageCallback = on_stage or (lambda stage, state, took: None)
    # Export and calibration are not byte-reproducible (so neither is the circuit's hash, to
    # which the keys are bound): reuse them while the inputs that made them are unchanged.
    digest = _inputs_fingerprint(config, batch_size)
    recorded = _read_stamp(layout, digest)
    if recorded is None:
        model, samples, circuit = _make_circuit(config, batch_size, layout, digest, report)
        return PreparedBatch(model, samples, circuit, digest, reused=False)
    from zkml.data import read_samples
    from zkml.export import inspect_onnx
    from zkml.settings import read_settings

    start = time.perf_counter()
    model = inspect_onnx(layout.onnx, batch_size=batch_size)
    settings = read_settings(layout.settings)
    samples = read_samples(layout.calibration, model.inputs)
    circuit = CompiledCircuit(layout.compiled, recorded["compiled"], settings)
    took = time.perf_counter() - start
    for stage in BUILD_STAGES:
        report(stage, "reused", took / len(BUILD_STAGES))
    return PreparedBatch(model, samples, circuit, digest, reused=True)


# The stages prepare_batched runs, in order (named as the pipeline's).
BUILD_STAGES = ("export", "calibrate", "compile")


@contextlib.contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Record the wall time of the ``with`` body as ``seconds[stage]``."""
    start = time.perf_counter()
    yield
    seconds[stage] = time.perf_counter() - start


@contextlib.contextmanager
def _reported(report: StageCallback, stage: str) -> Iterator[None]:
    """Tell ``report`` when the ``with`` body (one stage) starts and how long it took."""
    report(stage, "start", 0.0)
    start = time.perf_counter()
    yield
    report(stage, "done", time.perf_counter() - start)


def _make_circuit(
    config: CircuitConfig, batch_size: int, layout: Layout, digest: str, report: StageCallback
) -> tuple[OnnxModel, Samples, CompiledCircuit]:
    """Export, calibrate and compile into ``layout``, then stamp the folder with the inputs' digest."""
    from zkml.calibrate import calibrate, rebase_multipliers_for
    from zkml.circuit import compile_circuit
    from zkml.data import write_samples
    from zkml.workspace import write_json_atomic

    with _reported(report, "export"):
        model = export_batched(config, batch_size, layout.onnx)
    with _reported(report, "calibrate"):
        samples = _calibration_batches(config, model, batch_size)
        write_samples(layout.calibration, samples)
        settings = calibrate(
            model, layout.calibration, layout.settings, config.circuit, rebase_multipliers=rebase_multipliers_for(config.backend)
        )
    with _reported(report, "compile"):
        circuit = compile_circuit(model, settings, layout.compiled)
    write_json_atomic(layout.batch_stamp, {"inputs": digest, "compiled": circuit.sha256, "batch_size": batch_size})
    return model, samples, circuit


def _calibration_batches(config: CircuitConfig, model: OnnxModel, batch_size: int) -> Samples:
    """The circuit's calibration data (or samples jittered around its input) in whole batches."""
    from zkml.data import generate_around, read_samples

    source = config.calibration or config.input
    if source is None:
        raise ConfigError(f"circuit {config.name} has no calibration or input data to calibrate a batched circuit on")
    samples = read_samples(source, model.inputs)
    if config.calibration is None:
        samples = generate_around(samples, config.circuit.calibration_samples)
    return cycle_to_batches(samples, batch_size)


def load_or_make_keys(circuit: CompiledCircuit, srs: Srs, folder: Path) -> tuple[Keys, bool]:
    """The folder's keys while their binding matches ``circuit`` and ``srs``, else new ones; True when reused.

    Keys made by any earlier build of the same circuit (``prove-many``, the workspace, the
    service) are reused: the binding in ``keys.json`` names the circuit and SRS they are for.
    """
    from zkml.keys import check_keys_match, load_keys, setup_keys

    try:
        keys = load_keys(folder, verify_hashes=False)
        check_keys_match(keys, circuit, srs)
        return keys, True
    except KeysError:
        return setup_keys(circuit, srs, folder), False


def _inputs_fingerprint(config: CircuitConfig, batch_size: int) -> str:
    """A digest of everything that makes the batched circuit: model, data, settings, layout, ezkl."""
    from zkml import _ezkl
    from zkml.artifacts import sha256_file
    from zkml.calibrate import rebase_multipliers_for
    from zkml.export import source_digest
    from zkml.workspace import fingerprint

    parts: dict[str, Any] = {
        "batch_size": batch_size,
        # How the batched graph is built: a folder made by another layout must not be reused.
        "layout": BATCH_LAYOUT,
        "circuit": vars(config.circuit),
        "ezkl": _ezkl.version(),
        "model": sha256_file(config.onnx) if config.onnx else source_digest(str(config.factory), config.root),
        "example": config.example_input,
        "shape": config.input_shape,
    }
    for label, path in (("calibration", config.calibration), ("input", config.input)):
        parts[label] = sha256_file(path) if path is not None and Path(path).is_file() else None
    rebase = rebase_multipliers_for(config.backend)
    if rebase is not None:  # keyed only then: halo2 batch folders keep their digest
        parts["scale_rebase_multipliers"] = list(rebase)
    return fingerprint(parts)


def _read_stamp(layout: Layout, digest: str) -> dict[str, Any] | None:
    """The recorded build when it was made from the same inputs and its circuit is intact."""
    import json

    from zkml.artifacts import sha256_file

    try:
        recorded = json.loads(layout.batch_stamp.read_text())
    except (OSError, ValueError):
        return None
    if recorded.get("inputs") != digest or not all(path.is_file() for path in (layout.onnx, layout.settings, layout.compiled)):
        return None
    if sha256_file(layout.compiled) != recorded.get("compiled"):
        return None
    return dict(recorded)


# -- proving and verifying batches ---------------------------------------------------------


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
    vka: Vka | None = None


def deploy_batch_verifier(conn: Connection, spec: ProverSpec, root: Path | None = None, *, kind: str = "auto") -> BatchVerifier:
    """Deploy a verifier for a (batched) circuit on ``conn``.

    A batch's public instances grow with ``B`` and the plain verifier's code with
    them; past the EIP-170 limit it cannot deploy on mainnet. With ``kind="auto"``
    :func:`zkml.evm.verifier.choose_verifier_kind` decides: the plain verifier
    while it fits, else the reusable verifier with this circuit's VKA.

    Args:
        conn: the chain (:func:`zkml.evm.rpc.connect`).
        spec: the circuit, keys and SRS (``BatchedCircuit.spec``).
        root: the folder whose ``evm/plain`` and ``evm/reusable`` receive the verifiers and whose
            ``deployments.json`` records them, as in a workspace (default: the circuit's own folder).
        kind: ``auto``, ``plain`` or ``reusable``.

    Raises:
        ConfigError: ``kind`` is not auto, plain or reusable.
        EvmError, ChainError: generation, compilation or deployment failed.
    """
    from zkml.evm.deploy import deploy_verifier, register_vka
    from zkml.evm.verifier import EIP170_LIMIT, choose_verifier_kind, create_vka, generate_verifier

    if kind not in ("auto", "plain", "reusable"):
        raise ConfigError(f"verifier kind {kind!r} is unknown", hint="use auto, plain or reusable")
    layout = Layout(root if root is not None else Path(spec.circuit.settings.path).parent)
    keys, settings, srs = spec.keys, spec.circuit.settings, spec.srs
    if kind in ("auto", "plain"):
        plain = generate_verifier(keys.vk_path, settings.path, srs.path, layout.evm_dir())
        if kind == "plain" or choose_verifier_kind(plain.runtime_bytes) == "plain":
            deployed = deploy_verifier(conn, plain, layout.root, srs_unsafe=srs.unsafe, srs_reason=srs.unsafe_reason)
            return BatchVerifier(deployed.address, "plain", plain.runtime_bytes)
        log.info("plain verifier is %d bytes (> %d): using the reusable verifier", plain.runtime_bytes, EIP170_LIMIT)
    reusable = generate_verifier(keys.vk_path, settings.path, srs.path, layout.evm_dir(reusable=True), reusable=True)
    vka = create_vka(keys.vk_path, settings.path, srs.path, layout.vka)
    shared = deploy_verifier(conn, reusable, layout.root, srs_unsafe=srs.unsafe, srs_reason=srs.unsafe_reason)
    register_vka(conn, shared, reusable, vka, layout.root, srs_unsafe=srs.unsafe, srs_reason=srs.unsafe_reason)
    return BatchVerifier(shared.address, "reusable", reusable.runtime_bytes, vka)
