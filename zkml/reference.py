"""The float model's own outputs: onnxruntime first, onnx's reference evaluator where onnxruntime refuses.

onnxruntime has no kernel for some valid graphs that the circuit compiler
accepts (``MatMul`` on int8 inputs, ``Equal`` on floats, ...): it refuses them
when the session is created. Such a graph is still a valid model, so its float
reference comes from ``onnx.reference.ReferenceEvaluator`` (onnx's own
implementation of the spec: slow, but it runs every standard op). Which
evaluator produced a reference is recorded wherever the reference is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import ExportError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import onnxruntime
    from onnx.reference import ReferenceEvaluator

log = logging.getLogger(__name__)

ONNXRUNTIME = "onnxruntime"
ONNX_REFERENCE = "onnx.reference"


@dataclass(frozen=True)
class FloatEvaluator:
    """A loaded float evaluator for one ONNX file.

    Attributes:
        name: ``onnxruntime`` or ``onnx.reference``.
        fallback_reason: why onnxruntime was not used (None when it was).
        session: the loaded session (an ``InferenceSession`` or a ``ReferenceEvaluator``).
    """

    name: str
    fallback_reason: str | None
    session: onnxruntime.InferenceSession | ReferenceEvaluator

    def run(self, output_names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one batch; one array per output name.

        Raises:
            ExportError: the evaluator failed on these inputs.
        """
        try:
            return list(self.session.run(output_names, feeds))
        except Exception as exc:
            raise ExportError(f"{self.name} failed to run the model: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _onnxruntime(source: Path | bytes) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options, providers=["CPUExecutionProvider"])


def _reference(source: Path | bytes) -> ReferenceEvaluator:
    import onnx
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(str(source)))


def open_evaluator(source: Path | bytes, *, prefer: str = ONNXRUNTIME) -> FloatEvaluator:
    """Load a model in onnxruntime, or in onnx's reference evaluator when onnxruntime refuses it.

    Args:
        source: the ONNX file, or a serialized model.
        prefer: ``onnx.reference`` skips onnxruntime (for tests and comparisons).

    Raises:
        ExportError: neither evaluator can load the model (both reasons given).
    """
    reason = None
    label = "the model" if isinstance(source, bytes) else Path(source).name
    if prefer == ONNXRUNTIME:
        try:
            return FloatEvaluator(ONNXRUNTIME, None, _onnxruntime(source))
        except Exception as exc:
            reason = _first_line(exc)
            log.warning("onnxruntime refuses %s (%s); using onnx's reference evaluator for the float reference", label, reason)
    try:
        return FloatEvaluator(ONNX_REFERENCE, reason, _reference(source))
    except Exception as exc:
        raise ExportError(
            f"no float evaluator can load {label}: onnxruntime: {reason or 'not tried'}; onnx.reference: {_first_line(exc)}",
            hint="check the model with onnx.checker and onnxruntime before proving it",
        ) from exc


def run_batches(
    evaluator: FloatEvaluator, inputs: list[tuple[str, tuple[int, ...], str]], arrays: tuple[np.ndarray, ...], outputs: list[str]
) -> list[npt.NDArray[np.float64]]:
    """Run every sample of ``arrays`` through ``evaluator``, a model batch at a time.

    Args:
        evaluator: from :func:`open_evaluator`.
        inputs: (name, shape, onnx dtype name) of each model input; shape[0] is the batch.
        arrays: one array per input, samples on axis 0 (a whole number of batches).
        outputs: the output names, in the order wanted.

    Returns:
        One float64 array per output, shaped ``(samples, -1)``.

    Raises:
        ExportError: when a batch fails; if onnxruntime fails where the
            reference evaluator would not, the reference evaluator's result is used.
    """
    import numpy as np

    batch = inputs[0][1][0] if inputs[0][1] else 1
    count = int(arrays[0].shape[0])
    chunks: list[list[npt.NDArray[np.float64]]] = [[] for _ in outputs]
    for start in range(0, count, batch):
        feeds = {
            name: arrays[i][start : start + batch].reshape(shape).astype(_numpy_dtype(dtype))
            for i, (name, shape, dtype) in enumerate(inputs)
        }
        for index, value in enumerate(evaluator.run(outputs, feeds)):
            chunks[index].append(np.asarray(value, dtype=np.float64).reshape(batch, -1))
    return [np.concatenate(parts) for parts in chunks]


def _numpy_dtype(onnx_dtype: str) -> np.dtype[Any] | type[np.float32]:
    """numpy dtype for an ONNX element type name (``float``, ``int64``, ...); float32 when unknown."""
    import numpy as np
    from onnx import TensorProto, helper

    try:
        return helper.tensor_dtype_to_np_dtype(TensorProto.DataType.Value(onnx_dtype.upper()))
    except (ValueError, KeyError):
        return np.float32


__all__ = ["ONNXRUNTIME", "ONNX_REFERENCE", "FloatEvaluator", "open_evaluator", "run_batches"]
