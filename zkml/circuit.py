"""Compile: the ONNX model plus settings become an ezkl circuit; witnesses run it.

A witness is the circuit's execution on one input: the quantized inputs and
outputs that a proof will commit to. Generating it is cheap (milliseconds), so
it also serves to measure fidelity and to catch inputs the calibrated circuit
cannot hold before the expensive proving step.
"""

from __future__ import annotations

import logging
from pathlib import Path

from zkml import _ezkl
from zkml.artifacts import CompiledCircuit, Keys, OnnxModel, Settings, Srs, Witness, sha256_file
from zkml.errors import CircuitError, InputDataError
from zkml.workspace import atomic_path

log = logging.getLogger(__name__)


def compile_circuit(model: OnnxModel, settings: Settings, out_path: Path) -> CompiledCircuit:
    """Compile ``model`` with ``settings`` into ``out_path``.

    Raises:
        CircuitError: ezkl could not compile the model.
    """
    with atomic_path(out_path) as tmp:
        try:
            _ezkl.call("compile_circuit", str(model.path), str(tmp), str(settings.path))
        except _ezkl.EzklFailure as exc:
            raise CircuitError(f"compiling {model.path.name} failed: {exc}", hint="run zkml preflight on the model") from exc
    return CompiledCircuit(Path(out_path), sha256_file(out_path), settings)


def decode_outputs(witness_data: dict[str, object], settings: Settings) -> tuple[float, ...]:
    """The circuit's outputs as floats (fixed-point, negatives as p - |x|)."""
    values: list[float] = []
    outputs = witness_data.get("outputs", [])
    assert isinstance(outputs, list)
    for index, felts in enumerate(outputs):
        scale = settings.output_scales[index] if index < len(settings.output_scales) else settings.output_scales[-1]
        values.extend(_ezkl.felt_to_float(felt, scale) for felt in felts)
    return tuple(values)


def _lookup_overflow(witness_data: dict[str, object], settings: Settings) -> str | None:
    """Say why a witness falls outside the calibrated lookup range, if it does."""
    low, high = settings.lookup_range
    max_in = witness_data.get("max_lookup_inputs", 0)
    min_in = witness_data.get("min_lookup_inputs", 0)
    assert isinstance(max_in, int) and isinstance(min_in, int)
    if (low, high) != (0, 0) and (max_in > high or min_in < low):
        return f"lookup inputs span [{min_in}, {max_in}] but the circuit was calibrated for [{low}, {high}]"
    return None


def generate_witness(
    circuit: CompiledCircuit,
    input_path: Path,
    out_path: Path,
    *,
    keys: Keys | None = None,
    srs: Srs | None = None,
) -> Witness:
    """Run the circuit on one input file and write the witness.

    Args:
        circuit: the compiled circuit.
        input_path: one sample in ezkl's ``input_data`` format (already checked).
        out_path: where to write ``witness.json``.
        keys, srs: needed only for committed (polycommit) visibilities.

    Raises:
        InputDataError: the input falls outside what the circuit was calibrated for.
        CircuitError: ezkl failed to run the circuit.
    """
    kwargs: dict[str, str] = {}
    if keys is not None:
        kwargs["vk_path"] = str(keys.vk_path)
    if srs is not None:
        kwargs["srs_path"] = str(srs.path)
    with atomic_path(out_path) as tmp:
        try:
            data = _ezkl.call("gen_witness", str(input_path), str(circuit.path), str(tmp), **kwargs)
        except _ezkl.EzklFailure as exc:
            raise CircuitError(
                f"running the circuit on {Path(input_path).name} failed: {exc}",
                hint="check the input against the model's shape and calibrated range",
            ) from exc
        overflow = _lookup_overflow(data, circuit.settings)
        if overflow:
            raise InputDataError(f"{Path(input_path).name}: {overflow}", hint="recalibrate with data that covers this input")
    return Witness(Path(out_path), sha256_file(out_path), circuit.sha256, decode_outputs(data, circuit.settings))
