"""Reading, checking and writing model input data.

zkml reads ezkl's input format, ``{"input_data": [[...], ...]}`` with one flat
list per model input holding one or more samples back to back, and also
accepts nested lists (a sample, or a batch of samples) in the same place. A
``holdout`` file may add ``"targets"``: one label or value per sample.
Everything is checked against the model's declared input shapes before any
circuit work, so a wrong shape or a NaN is a one-line error, not an ezkl panic.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import TensorSpec
from zkml.errors import InputDataError
from zkml.workspace import write_json_atomic


@dataclass(frozen=True)
class Samples:
    """Samples for every model input: ``arrays[i]`` has shape ``(n, *inputs[i].shape[1:])``.

    Attributes:
        arrays: one float64 array per model input, samples on axis 0.
        targets: optional labels/values from a holdout file.
    """

    arrays: tuple[Any, ...]
    targets: tuple[float, ...] | None = None

    @property
    def count(self) -> int:
        """How many samples there are."""
        return int(self.arrays[0].shape[0])

    def sample(self, index: int) -> Samples:
        """One sample, as a Samples of count 1."""
        return Samples(tuple(array[index : index + 1] for array in self.arrays))


def _flatten(value: Any, where: str) -> list[float]:
    import numpy as np

    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{where}: not a (nested) list of numbers: {exc}") from exc
    return [float(x) for x in array.reshape(-1)]


def read_samples(path: Path, inputs: tuple[TensorSpec, ...]) -> Samples:
    """Read an input JSON file and check it against the model inputs.

    Args:
        path: JSON in ezkl's ``input_data`` format (flat or nested lists).
        inputs: the model's input specs; the first dimension is the batch.

    Raises:
        InputDataError: unreadable file, wrong number of inputs, a length that is
            not a whole number of samples, differing sample counts, NaN or inf.
    """
    import numpy as np

    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputDataError(f"input file {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise InputDataError(f"input file {path} is not valid JSON: {exc}") from exc
    data = payload.get("input_data") if isinstance(payload, dict) else payload
    if not isinstance(data, list) or not data:
        raise InputDataError(f'{path}: expected {{"input_data": [[...], ...]}} with one list per model input')
    # A single-input model may give its one list without the outer wrapper.
    if len(inputs) == 1 and not any(isinstance(item, list) for item in data):
        data = [data]
    if len(data) != len(inputs):
        raise InputDataError(
            f"{path}: has {len(data)} input lists but the model takes {len(inputs)} inputs ({', '.join(s.name for s in inputs)})"
        )
    arrays = []
    counts = set()
    for index, (values, spec) in enumerate(zip(data, inputs, strict=True)):
        flat = _flatten(values, f"{path} input {index}")
        per_sample = spec.size // max(spec.shape[0], 1) if spec.shape else 1
        if per_sample == 0 or len(flat) == 0 or len(flat) % per_sample:
            raise InputDataError(
                f"{path}: input {spec.name!r} has {len(flat)} values, not a multiple of one sample's {per_sample} "
                f"(shape {list(spec.shape)})",
                hint="give one or more whole samples, flattened row-major",
            )
        bad = [i for i, x in enumerate(flat) if not math.isfinite(x)]
        if bad:
            raise InputDataError(
                f"{path}: input {spec.name!r} has NaN or inf at flat index {bad[0]} ({len(bad)} in all)",
                hint="replace non-finite values before proving",
            )
        count = len(flat) // per_sample
        counts.add(count)
        arrays.append(np.asarray(flat, dtype=np.float64).reshape((count, *spec.shape[1:])))
    if len(counts) != 1:
        raise InputDataError(f"{path}: inputs hold different numbers of samples {sorted(counts)}")
    targets = payload.get("targets") if isinstance(payload, dict) else None
    target_tuple = None
    if targets is not None:
        target_tuple = tuple(_flatten(targets, f"{path} targets"))
        if len(target_tuple) != next(iter(counts)):
            raise InputDataError(f"{path}: {len(target_tuple)} targets for {next(iter(counts))} samples")
    return Samples(tuple(arrays), target_tuple)


def write_samples(path: Path, samples: Samples) -> None:
    """Write samples in ezkl's ``input_data`` format (atomically)."""
    payload: dict[str, Any] = {"input_data": [[float(x) for x in array.reshape(-1)] for array in samples.arrays]}
    if samples.targets is not None:
        payload["targets"] = list(samples.targets)
    write_json_atomic(path, payload)


def generate_around(samples: Samples, count: int, *, seed: int = 0, spread: float = 0.1) -> Samples:
    """Make calibration samples by jittering the given ones.

    Each new sample is a given sample plus Gaussian noise scaled to ``spread``
    times that feature's magnitude (or an absolute ``spread`` for features near
    zero), so the calibrated range covers the neighbourhood of real inputs.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for array in samples.arrays:
        picks = array[rng.integers(0, array.shape[0], size=count)]
        scale = np.maximum(np.abs(picks), 1.0) * spread
        out.append(picks + rng.normal(size=picks.shape) * scale)
    # Keep the originals so the real inputs are inside the calibrated range.
    return Samples(tuple(np.concatenate([array, extra]) for array, extra in zip(samples.arrays, out, strict=True)))


def feature_ranges(samples: Samples) -> list[tuple[list[float], list[float]]]:
    """Per-input, per-feature (min, max) over all samples, flattened."""
    ranges = []
    for array in samples.arrays:
        flat = array.reshape(array.shape[0], -1)
        ranges.append((flat.min(axis=0).tolist(), flat.max(axis=0).tolist()))
    return ranges


def check_in_range(samples: Samples, ranges: list[tuple[list[float], list[float]]], margin: float) -> None:
    """Refuse inputs outside the calibrated range (widened by ``margin`` of its span).

    Raises:
        InputDataError: naming the first offending feature and the allowed interval.
    """
    import numpy as np

    for index, (array, (lows, highs)) in enumerate(zip(samples.arrays, ranges, strict=True)):
        flat = array.reshape(array.shape[0], -1)
        low = np.asarray(lows)
        high = np.asarray(highs)
        span = np.maximum(high - low, 1e-9)
        allowed_low = low - margin * span
        allowed_high = high + margin * span
        outside = (flat < allowed_low) | (flat > allowed_high)
        if outside.any():
            sample, feature = (int(v) for v in np.argwhere(outside)[0])
            raise InputDataError(
                f"input {index} feature {feature} of sample {sample} is {flat[sample, feature]:.6g}, outside the calibrated "
                f"range [{allowed_low[feature]:.6g}, {allowed_high[feature]:.6g}]",
                hint="calibrate with data that covers it (zkml calibrate --data ...) or raise input_range_margin",
            )
