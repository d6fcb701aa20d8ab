"""A batched circuit as a workspace: its manifest records, and the batch it proves by default.

:func:`zkml.proving.batch.prepare_batched` builds (or reuses) the batched circuit in
a folder, as ``prove-many`` and the service do. When that folder is addressed as a
workspace (``zkml ... TARGET --batch-size B``), :func:`record_batched` writes the
manifest entries the rest of zkml reads (the calibrated input ranges, the files'
hashes, the compile record whose fingerprint ``zkml provenance`` recomputes), so
every later stage (keys, prove, verify, verifier, deploy, the oracle) runs on it
unchanged. :func:`example_batch` picks the samples ``zkml prove``/``zkml run``
prove when no batch is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.config import CircuitConfig
from zkml.data import Samples
from zkml.errors import ConfigError, InputDataError

if TYPE_CHECKING:
    from zkml.artifacts import TensorSpec
    from zkml.proving.batch import PreparedBatch, StageCallback
    from zkml.stage_runner import StageRunner
    from zkml.workspace import Workspace


def stage_reporter(runner: StageRunner) -> StageCallback:
    """A :data:`zkml.proving.batch.StageCallback` that reports to a pipeline's progress and timings."""
    from zkml.artifacts import StageTiming
    from zkml.stage_runner import ProgressEvent

    def report(stage: str, state: str, seconds: float) -> None:
        runner.progress(ProgressEvent(stage, state, seconds=seconds))
        if state != "start":
            runner.timings.append(StageTiming(stage, seconds, state == "reused"))

    return report


def prepare_recorded(ws: Workspace, runner: StageRunner, config: CircuitConfig, batch_size: int, *, ezkl: str) -> PreparedBatch:
    """:func:`zkml.proving.batch.prepare_batched` into a workspace, reported to its runner, then :func:`record_batched`."""
    from zkml.proving.batch import prepare_batched

    prepared = prepare_batched(config, batch_size, ws, on_stage=stage_reporter(runner))
    record_batched(ws, prepared, batch_size, ezkl=ezkl)
    return prepared


def record_batched(ws: Workspace, prepared: PreparedBatch, batch_size: int, *, ezkl: str) -> None:
    """Record the batched circuit's ``export``, ``calibrate`` and ``compile`` in the manifest (unless already current).

    The compile record's fingerprint follows the pipeline's formula (model, settings,
    fidelity data, ezkl), with the batched calibration samples as the fidelity data, so
    provenance can recompute it. No fidelity is measured: each of the ``B`` copies is the
    batch-1 graph, whose fidelity the batch-1 workspace reports.
    """
    from zkml.artifacts import sha256_file
    from zkml.data import feature_ranges
    from zkml.workspace import fingerprint

    model, circuit = prepared.model, prepared.circuit
    settings = circuit.settings
    calibration = sha256_file(ws.calibration)
    records: dict[str, tuple[dict[str, Any], dict[str, Path], dict[str, Any]]] = {
        "export": (
            {"batch_inputs": prepared.inputs_digest, "batch_size": batch_size},
            {"model": ws.onnx},
            {"opset": model.opset, "inputs": [list(s.shape) for s in model.inputs], "outputs": [list(s.shape) for s in model.outputs]},
        ),
        "calibrate": (
            {"model": model.sha256, "data": calibration, "batch_size": batch_size},
            {"settings": ws.settings},
            {"logrows": settings.logrows, "input_ranges": feature_ranges(prepared.samples), "batch_size": batch_size},
        ),
        "compile": (
            {"model": model.sha256, "settings": settings.sha256, "fidelity_data": calibration, "ezkl": ezkl},
            {"compiled": ws.compiled},
            {"batch_size": batch_size},
        ),
    }
    for stage, (parts, outputs, details) in records.items():
        key = fingerprint({"stage": stage, **parts})
        if ws.current_outputs(stage, key) is None:
            ws.record(stage, key, outputs, seconds=0.0, details=details)


@dataclass(frozen=True)
class ExampleBatch:
    """One batch drawn from a circuit's example data.

    Attributes:
        samples: ``batch_size`` samples.
        taken: how many came from each source, in order: ``input`` (the circuit's input file),
            ``calibration`` (its calibration data), ``padding`` (copies of the first sample:
            their outputs are not predictions).
    """

    samples: Samples
    taken: dict[str, int]

    @property
    def padded(self) -> int:
        return self.taken.get("padding", 0)


def example_batch(config: CircuitConfig, inputs: tuple[TensorSpec, ...], batch_size: int) -> ExampleBatch:
    """``batch_size`` samples from the circuit's example data: its input's, then its calibration data's, then padding.

    Raises:
        InputDataError: the input holds more samples than one batch, or is malformed.
        ConfigError: the circuit has no input to start from.
    """
    import numpy as np

    from zkml.data import read_input, read_samples

    if config.input is None:
        raise ConfigError(f"circuit {config.name} has no input data to prove a batch of", hint="give --input FILE")
    given = read_input(config.input, inputs)
    if given.count > batch_size:
        raise InputDataError(
            f"{config.input} holds {given.count} samples; the batch-{batch_size} circuit proves {batch_size} per proof",
            hint=f"give at most {batch_size} samples, or prove them all with `zkml prove-many --batch-size {batch_size}`",
        )
    parts, taken = [given], {"input": given.count}
    missing = batch_size - given.count
    if missing and config.calibration is not None and Path(config.calibration).is_file():
        extra = read_samples(config.calibration, inputs)
        extra = Samples(tuple(array[:missing] for array in extra.arrays))
        parts.append(extra)
        taken["calibration"] = extra.count
        missing -= extra.count
    if missing:
        parts.append(Samples(tuple(np.repeat(array[:1], missing, axis=0) for array in given.arrays)))
        taken["padding"] = missing
    joined = Samples(tuple(np.concatenate([part.arrays[i] for part in parts]) for i in range(len(given.arrays))))
    return ExampleBatch(joined, taken)


def write_example_batch(
    path: Path, config: CircuitConfig, input_path: Path | None, inputs: tuple[TensorSpec, ...], batch_size: int
) -> ExampleBatch:
    """:func:`example_batch` from ``input_path`` (the circuit's input, or the one given), written to ``path``."""
    from dataclasses import replace

    from zkml.data import write_samples

    batch = example_batch(replace(config, input=input_path), inputs, batch_size)
    write_samples(path, batch.samples)
    return batch


__all__ = ["ExampleBatch", "example_batch", "prepare_recorded", "record_batched", "stage_reporter", "write_example_batch"]
