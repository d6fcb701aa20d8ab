"""Batched circuits: one proof covering ``B`` inferences.

The model is exported with a fixed batch axis of ``B`` (a factory's example
input has batch 1, so it is repeated to ``B``; an ONNX file must have a
symbolic batch axis). Calibration data must then come in whole batches: the
circuit's calibration samples are cycled up to a multiple of ``B`` and written
back to back, which ezkl reads as consecutive batches. The rest is the usual
calibrate, compile, SRS and keys, in a folder of its own; the keys are reused
while their binding matches the circuit and SRS.

Proving and verifying (locally or on-chain with the plain verifier) then work
unchanged: the public instances simply hold ``B`` inputs and ``B`` outputs.
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


def _batched_example(example: Any, batch_size: int) -> Any:
    import torch

    if isinstance(example, tuple):
        return tuple(_batched_example(item, batch_size) for item in example)
    if not isinstance(example, torch.Tensor):
        raise ExportError(f"example input is a {type(example).__name__}, not a tensor", hint="return a torch.Tensor from example_input")
    if example.shape[0] != 1:
        # Repeating a batch of n would give n*B; take its first sample.
        example = example[:1]
    return example.repeat(batch_size, *([1] * (example.dim() - 1)))


def export_batched(config: CircuitConfig, batch_size: int, out_path: Path) -> OnnxModel:
    """Export the circuit's model with a fixed batch axis of ``batch_size``.

    Raises:
        ExportError: the model cannot be exported with that batch (an ONNX with a fixed batch of 1).
    """
    from zkml.export import export_model, load_callable
    from zkml.pipeline import _random_example

    if config.onnx is not None:
        model = export_model(config.onnx, out_path, batch_size=batch_size)
    else:
        assert config.factory is not None
        module = load_callable(config.factory, config.root)()
        example = load_callable(config.example_input, config.root)() if config.example_input else _random_example(config.input_shape)
        model = export_model(module, out_path, example_input=_batched_example(example, batch_size), batch_size=batch_size)
    got = model.inputs[0].shape[0] if model.inputs and model.inputs[0].shape else 1
    if got != batch_size:
        raise ExportError(
            f"the model's batch axis is fixed at {got}; cannot make a batch-{batch_size} circuit",
            hint="export the ONNX with a symbolic (dynamic) batch axis, or give the torch factory",
        )
    return model


def scaled_logrows(base_logrows: int, batch_size: int) -> int:
    """The logrows that hold ``batch_size`` copies of a circuit of ``base_logrows`` in the same columns."""
    return base_logrows + max(0, (batch_size - 1).bit_length())


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

    Measured on the example MLP with ezkl 23.0.5: at B=2 calibration keeps
    logrows 15 (the range-check table, not the rows, sets it), but the proof
    grows from 3,072 to 5,600 bytes, the plain verifier passes the EIP-170 limit
    and verify gas per prediction falls only to 0.87x of B=1. Pinning
    ``logrows`` (see :func:`scaled_logrows`) changed none of that at B=2 and
    quadrupled the pk; it stays available for measuring larger B.

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
