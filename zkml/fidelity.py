"""Fidelity: how far the quantized circuit's outputs are from the float model's.

Each sample runs through onnxruntime (float) and through the compiled circuit
as a witness (fixed point). Witnesses are cheap, so this measures the real
circuit, not a simulation of its rounding.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from zkml.artifacts import CompiledCircuit, Fidelity, OnnxModel
from zkml.circuit import generate_witness
from zkml.data import Samples, write_samples
from zkml.export import run_onnx

log = logging.getLogger(__name__)


def measure_fidelity(
    model: OnnxModel,
    circuit: CompiledCircuit,
    samples: Samples,
    *,
    classifier: bool = False,
    limit: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Fidelity, list[list[float]], list[list[float]]]:
    """Compare float and circuit outputs on up to ``limit`` samples.

    Returns:
        The fidelity summary, then the float and circuit outputs per sample
        (for reports and plots).
    """
    import numpy as np

    count = min(samples.count, limit)
    reference = run_onnx(model, Samples(tuple(array[:count] for array in samples.arrays)))
    float_rows = np.concatenate([out.reshape(count, -1) for out in reference], axis=1)
    circuit_rows = []
    with tempfile.TemporaryDirectory(prefix="zkml-fidelity-") as scratch:
        for index in range(count):
            sample_path = Path(scratch) / f"in{index}.json"
            write_samples(sample_path, samples.sample(index))
            witness = generate_witness(circuit, sample_path, Path(scratch) / f"w{index}.json")
            circuit_rows.append(list(witness.outputs))
            if progress:
                progress(index + 1, count)
    circuit_array = np.asarray(circuit_rows, dtype=np.float64)
    errors = np.abs(circuit_array - float_rows)
    agreement = None
    if classifier and float_rows.shape[1] > 1:
        agreement = float(np.mean(np.argmax(float_rows, axis=1) == np.argmax(circuit_array, axis=1)))
    elif classifier:
        # One output: a probability or logit of the positive class, threshold 0.5 / 0.
        threshold = 0.5 if float_rows.min() >= 0 and float_rows.max() <= 1 else 0.0
        agreement = float(np.mean((float_rows[:, 0] > threshold) == (circuit_array[:, 0] > threshold)))
    fidelity = Fidelity(samples=count, max_abs_error=float(errors.max()), mean_abs_error=float(errors.mean()), argmax_agreement=agreement)
    log.info(
        "fidelity on %d samples: max abs error %.3g, mean %.3g, agreement %s",
        count,
        fidelity.max_abs_error,
        fidelity.mean_abs_error,
        agreement,
    )
    return fidelity, float_rows.tolist(), circuit_rows
