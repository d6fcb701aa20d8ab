"""Fidelity: how far the quantized circuit's outputs are from the float model's.

Each sample runs through the float model (onnxruntime, or onnx's reference
evaluator where onnxruntime refuses the graph: :func:`zkml.export.evaluate_float`)
and through the compiled circuit as a witness (fixed point). Witnesses are cheap, so this measures the real
circuit, not a simulation of its rounding. :func:`fidelity_metrics` is the one
summary of such outputs, for the pipeline and the tuner alike.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.artifacts import CompiledCircuit, Fidelity, OnnxModel
from zkml.circuit import generate_witness
from zkml.data import Samples, write_samples
from zkml.export import run_onnx

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

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
    fidelity = fidelity_metrics(float_rows, circuit_rows, classifier=classifier)
    log.info(
        "fidelity on %d samples: max abs error %.3g, mean %.3g, agreement %s",
        count,
        fidelity.max_abs_error,
        fidelity.mean_abs_error,
        fidelity.argmax_agreement,
    )
    return fidelity, float_rows.tolist(), circuit_rows


def fidelity_metrics(float_rows: ArrayLike, circuit_rows: ArrayLike, *, classifier: bool = False) -> Fidelity:
    """Summarise float vs circuit outputs: one row a sample, one column an output.

    Args:
        float_rows: the float model's outputs (nested lists or an array).
        circuit_rows: the circuit's outputs, same shape.
        classifier: also measure class agreement: argmax over several
            outputs; one output is a probability (cut at 0.5) when every
            float output lies in [0, 1], else a logit (cut at 0).

    Returns:
        Max and mean absolute error, max error relative to the largest float
        output, and the agreement (None unless ``classifier``).
    """
    import numpy as np

    floats = np.asarray(float_rows, dtype=np.float64)
    circuit = np.asarray(circuit_rows, dtype=np.float64)
    errors = np.abs(circuit - floats)
    max_abs = float(errors.max()) if errors.size else 0.0
    scale = float(np.max(np.abs(floats))) if floats.size else 0.0
    agreement = None
    if classifier and floats.shape[1] > 1:
        agreement = float(np.mean(np.argmax(floats, axis=1) == np.argmax(circuit, axis=1)))
    elif classifier:
        threshold = 0.5 if floats.min() >= 0 and floats.max() <= 1 else 0.0
        agreement = float(np.mean((floats[:, 0] > threshold) == (circuit[:, 0] > threshold)))
    return Fidelity(
        samples=int(floats.shape[0]),
        max_abs_error=max_abs,
        mean_abs_error=float(errors.mean()) if errors.size else 0.0,
        argmax_agreement=agreement,
        # Relative to the output's scale, so outputs near zero do not make it meaningless.
        max_rel_error=max_abs / scale if scale > 0 else max_abs,
    )
