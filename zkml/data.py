"""Reading, checking and writing model input data.

zkml reads ezkl's input format, ``{"input_data": [[...], ...]}`` with one flat
list per model input holding one or more samples back to back, and also
accepts nested lists (a sample, or a batch of samples, one sample's shape
innermost) in the same place, or for a one-input model a bare list. A
``holdout`` file may add ``"targets"``: one label or value per sample.
Everything is checked against the model's declared input shapes before any
circuit work, so a wrong shape or a NaN is a one-line error, not an ezkl panic;
an input to prove (:func:`read_input`) is also refused unread over a size limit
(``$ZKML_MAX_INPUT_BYTES``). ezkl is only ever given the checked samples,
rewritten by :func:`input_payload`, never the file as it came.

:func:`samples_from_payload` is the one normaliser: files (``zkml prove``,
``prove-many``) and the service's request bodies both go through it, so they
accept exactly the same inputs; :func:`normalise_input` gives its result in ezkl's form.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.artifacts import TensorSpec
from zkml.errors import ConfigError, InputDataError
from zkml.workspace import write_json_atomic

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# The top-level keys of an input file: ezkl's ``input_data`` (and its optional
# ``output_data``, which zkml ignores: the circuit computes the outputs), and a
# holdout file's ``targets``. Anything else is refused, not carried along.
INPUT_KEYS = ("input_data", "output_data", "targets")
MAX_INPUT_BYTES_ENV = "ZKML_MAX_INPUT_BYTES"
# 4 MiB: the largest committed input (cnn_classifier, 64 values) is 394 bytes and the
# largest data file 77 KB, while 4 MiB holds ~175,000 numbers (22,000 mlp_regressor
# samples, read and checked in 0.13 s here); a 100 MB file is refused without being read.
DEFAULT_MAX_INPUT_BYTES = 4 << 20
MIN_MAX_INPUT_BYTES = 1024


@dataclass(frozen=True)
class Samples:
    """Samples for every model input: ``arrays[i]`` has shape ``(n, *inputs[i].shape[1:])``.

    Attributes:
        arrays: one float64 array per model input, samples on axis 0.
        targets: optional labels/values from a holdout file.
    """

    arrays: tuple[npt.NDArray[np.float64], ...]
    targets: tuple[float, ...] | None = None

    @property
    def count(self) -> int:
        """How many samples there are."""
        return int(self.arrays[0].shape[0])

    def sample(self, index: int) -> Samples:
        """One sample, as a Samples of count 1."""
        return Samples(tuple(array[index : index + 1] for array in self.arrays))


def max_input_bytes() -> int:
    """The size limit for an input file to prove: ``$ZKML_MAX_INPUT_BYTES``, else :data:`DEFAULT_MAX_INPUT_BYTES`.

    Raises:
        ConfigError: the variable is not a whole number of bytes of at least 1024.
    """
    raw = os.environ.get(MAX_INPUT_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < MIN_MAX_INPUT_BYTES:
        raise ConfigError(
            f"{MAX_INPUT_BYTES_ENV}={raw!r} is not a size in bytes of at least {MIN_MAX_INPUT_BYTES}",
            hint=f"unset it for the default {DEFAULT_MAX_INPUT_BYTES:,} bytes, or give a number such as {8 << 20}",
        )
    return value


def _read_bounded(path: Path, max_bytes: int | None) -> bytes:
    """The file's bytes, refusing one over ``max_bytes`` before reading it (and never reading past the limit)."""
    too_big = f"set {MAX_INPUT_BYTES_ENV} to raise the limit, or give a smaller file"
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise InputDataError(
                    f"input file {path} is {size:,} bytes, over the {max_bytes:,}-byte limit for input files", hint=too_big
                )
            # A pipe or device reports no size: read one byte past the limit to tell.
            raw = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise InputDataError(f"input file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise InputDataError(f"input file {path} is a folder, not a JSON file") from exc
    except OSError as exc:
        raise InputDataError(f"input file {path} cannot be read: {exc.strerror or exc}") from exc
    if max_bytes is not None and len(raw) > max_bytes:
        raise InputDataError(f"input file {path} is over the {max_bytes:,}-byte limit for input files", hint=too_big)
    return raw


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            # Two parsers may keep different copies of a repeated key: refuse rather than pick one.
            raise ValueError(f"key {key!r} appears more than once")
        seen[key] = value
    return seen


def _load_payload(path: Path, max_bytes: int | None) -> object:
    """Parse an input file: size first, then JSON (repeated keys refused); its content is checked by :func:`samples_from_payload`."""
    raw = _read_bounded(path, max_bytes)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:
        raise InputDataError(f"input file {path} is not valid JSON: {exc}") from exc


def _check_numbers(value: object, where: str) -> None:
    """Refuse anything but (nested lists of) JSON numbers: strings, booleans and nulls are not inputs."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))  # so the first offending value is the one named
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise InputDataError(
                f"{where} holds a {type(item).__name__} ({item!r:.40}), not a number",
                hint="give numbers only (no strings, booleans, nulls or objects)",
            )


def _as_array(value: object, where: str) -> npt.NDArray[np.float64]:
    import numpy as np

    _check_numbers(value, where)
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputDataError(f"{where}: not a (nested) list of numbers: {exc}") from exc


def _flatten(value: object, where: str) -> list[float]:
    return [float(x) for x in _as_array(value, where).reshape(-1)]


def _nesting_fits(shape: tuple[int, ...], sample_shape: tuple[int, ...]) -> bool:
    """Whether nested lists of ``shape`` can only mean samples of ``sample_shape``.

    A flat list however deeply wrapped (``[[[...]]]``) fits; so do nested lists whose
    innermost dimensions are one sample's shape, with or without its leading 1s
    (an 8x8 image for a ``[1, 8, 8]`` sample). A 2x4 nesting of an 8-value sample does not.
    """
    dims = list(shape)
    while len(dims) > 1 and dims[0] == 1:
        dims.pop(0)
    if len(dims) <= 1 or not sample_shape or any(d <= 0 for d in sample_shape):
        return True
    core = list(sample_shape)
    while core and core[0] == 1:
        core.pop(0)
    return any(candidate and list(shape[-len(candidate) :]) == candidate for candidate in (list(sample_shape), core))


def _depth(value: object) -> int:
    """How many lists deep ``value`` is, along its first items (numpy's own check covers ragged nesting)."""
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    return depth


def _input_array(values: object, spec: TensorSpec, where: str, index: int) -> npt.NDArray[np.float64]:
    """One model input's samples as an ``(n, *spec.shape[1:])`` array, every check passed."""
    import numpy as np

    sample_shape = tuple(int(d) for d in spec.shape[1:])
    # Rows of samples, each sample at most with the model's own batch axis of 1: anything deeper is a
    # mistake, refused before numpy sees it (it gives up at 64 dimensions with a message about arrays).
    deepest = max(len(spec.shape), 1) + 1
    depth = _depth(values)
    if depth > deepest:
        raise InputDataError(
            f"{where}: input {spec.name!r} is nested {depth} lists deep; "
            f"one sample is {list(sample_shape)}, so at most {deepest} levels (rows of samples) make sense",
            hint='give {"input_data": [[flat values of every sample]]}, a bare flat list, or one row per sample',
        )
    array = _as_array(values, f"{where} input {index}")
    # Flat (row-major), or nested with one sample's shape innermost; any other nesting is ambiguous.
    if not _nesting_fits(tuple(array.shape), sample_shape):
        raise InputDataError(
            f"{where}: input {spec.name!r} is nested as {list(array.shape)} but one sample is {list(sample_shape)}",
            hint="give a flat list (row-major), or nested lists whose innermost dimensions are one sample's shape",
        )
    flat = array.reshape(-1)
    per_sample = spec.size // max(spec.shape[0], 1) if spec.shape else 1
    if per_sample == 0 or len(flat) == 0 or len(flat) % per_sample:
        raise InputDataError(
            f"{where}: input {spec.name!r} has {len(flat)} values, not a multiple of one sample's {per_sample} (shape {list(spec.shape)})",
            hint="give one or more whole samples, flattened row-major",
        )
    bad = np.flatnonzero(~np.isfinite(flat))
    if len(bad):
        raise InputDataError(
            f"{where}: input {spec.name!r} has NaN or inf at flat index {int(bad[0])} ({len(bad)} in all)",
            hint="replace non-finite values before proving",
        )
    return flat.reshape((len(flat) // per_sample, *spec.shape[1:]))


def read_samples(path: Path, inputs: tuple[TensorSpec, ...], *, max_bytes: int | None = None) -> Samples:
    """Read an input JSON file and check it against the model inputs.

    Everything is checked, in this order, before anything is returned: the size
    (when ``max_bytes`` is given, before the file is parsed), JSON syntax (a key
    given twice is refused), then the content as :func:`samples_from_payload` checks it.

    Args:
        path: JSON in ezkl's ``input_data`` format (flat or nested lists), or a bare list.
        inputs: the model's input specs; the first dimension is the batch.
        max_bytes: refuse a larger file unread (None: no limit; inputs to prove use
            :func:`read_input`, which applies :func:`max_input_bytes`).

    Raises:
        InputDataError: a file too large, unreadable or not JSON, or content :func:`samples_from_payload` refuses.
    """
    path = Path(path)
    return samples_from_payload(_load_payload(path, max_bytes), inputs, where=str(path))


def samples_from_payload(payload: object, inputs: tuple[TensorSpec, ...], *, where: str = "input") -> Samples:
    """Check an input as a user may give it (already parsed JSON) against the model inputs: the one normaliser.

    The service, ``zkml prove`` and ``zkml prove-many`` all accept exactly what this
    accepts. Per model input: a flat list of one or more samples (row-major), rows
    of samples, or nested lists with one sample's shape innermost (at most one level
    more than the model's own shape); inside ``{"input_data": [...]}`` (ezkl's form,
    one entry per model input) or, for a one-input model, bare. Checked in this
    order: the top-level keys (:data:`INPUT_KEYS`), numbers only (no strings,
    booleans or nulls), the number of inputs, each input's depth, nesting and
    length, finiteness, equal sample counts, and the number of targets.

    Args:
        payload: the parsed JSON.
        inputs: the model's input specs; the first dimension is the batch.
        where: how the input is named in messages (a file's path, or ``input``).

    Raises:
        InputDataError: one line naming what was given and what the model wants.
    """
    if isinstance(payload, dict):
        unknown = sorted(set(payload) - set(INPUT_KEYS))
        if unknown:
            raise InputDataError(
                f"{where}: unknown key {unknown[0]!r}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
                hint=f"allowed: {', '.join(INPUT_KEYS)}",
            )
    data = payload.get("input_data") if isinstance(payload, dict) else payload
    if not isinstance(data, list) or not data:
        raise InputDataError(f'{where}: expected {{"input_data": [[...], ...]}} with one list per model input')
    # A single-input model may give its one list without the outer wrapper, or its samples as rows
    # (several lists can only be samples when the model takes one input).
    if len(inputs) == 1 and (not any(isinstance(item, list) for item in data) or len(data) > 1):
        data = [data]
    if len(inputs) > 1 and not any(isinstance(item, list) for item in data):
        raise InputDataError(
            f"{where}: is one flat list of {len(data)} values but the model takes {len(inputs)} inputs ({', '.join(s.name for s in inputs)})",
            hint='give {"input_data": [[...], ...]} with one list per model input',
        )
    if len(data) != len(inputs):
        raise InputDataError(
            f"{where}: has {len(data)} input lists but the model takes {len(inputs)} inputs ({', '.join(s.name for s in inputs)})"
        )
    arrays = [_input_array(values, spec, where, index) for index, (values, spec) in enumerate(zip(data, inputs, strict=True))]
    counts = {int(array.shape[0]) for array in arrays}
    if len(counts) != 1:
        raise InputDataError(f"{where}: inputs hold different numbers of samples {sorted(counts)}")
    targets = payload.get("targets") if isinstance(payload, dict) else None
    target_tuple = None
    if targets is not None:
        target_tuple = tuple(_flatten(targets, f"{where} targets"))
        if len(target_tuple) != next(iter(counts)):
            raise InputDataError(f"{where}: {len(target_tuple)} targets for {next(iter(counts))} samples")
    return Samples(tuple(arrays), target_tuple)


def normalise_input(payload: object, inputs: tuple[TensorSpec, ...], *, where: str = "input") -> dict[str, Any]:
    """An input as a user may give it, in exactly the form ezkl's ``gen_witness`` takes (:func:`input_payload`).

    Raises:
        InputDataError: as :func:`samples_from_payload`.
    """
    return input_payload(samples_from_payload(payload, inputs, where=where))


def read_input(path: Path, inputs: tuple[TensorSpec, ...]) -> Samples:
    """Read an input to prove: :func:`read_samples` within the configured size limit (:func:`max_input_bytes`)."""
    return read_samples(path, inputs, max_bytes=max_input_bytes())


def read_prove_input(
    path: Path, inputs: tuple[TensorSpec, ...], *, one: bool = False, calibration: Path | None = None, margin: float = 0.0
) -> Samples:
    """An input to prove, checked whole before anything derived from it is written.

    :func:`read_input` (size first, then JSON, keys, numbers, shape, finiteness); with ``one``
    a single sample; with ``calibration`` (the configured calibration data, which the recorded
    ranges come from) the calibrated range widened by ``margin``. Calibration generated
    around the input covers it by construction, so then only the caller's later check applies.

    Raises:
        InputDataError: naming the file and what is wrong with it.
    """
    samples = read_input(path, inputs)
    if one and samples.count != 1:
        raise InputDataError(f"{path} holds {samples.count} samples; prove takes one", hint="split it, or use zkml prove --batch")
    if calibration is not None:
        check_in_range(samples, feature_ranges(read_samples(calibration, inputs)), margin, where=path)
    return samples


def input_payload(samples: Samples) -> dict[str, Any]:
    """Samples in the one form ezkl is given: ``{"input_data": [[flat floats], ...]}``, one list per model input."""
    return {"input_data": [[float(x) for x in array.reshape(-1)] for array in samples.arrays]}


def write_samples(path: Path, samples: Samples) -> None:
    """Write samples in ezkl's ``input_data`` format (atomically)."""
    payload = input_payload(samples)
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


def check_in_range(
    samples: Samples, ranges: list[tuple[list[float], list[float]]], margin: float, *, where: Path | str | None = None
) -> None:
    """Refuse inputs outside the calibrated range (widened by ``margin`` of its span).

    ``where`` (the input file) starts the message when given.

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
                (f"{where}: " if where is not None else "")
                + f"input {index} feature {feature} of sample {sample} is {flat[sample, feature]:.6g}, outside the calibrated "
                f"range [{allowed_low[feature]:.6g}, {allowed_high[feature]:.6g}]",
                hint="calibrate with data that covers it (zkml calibrate --data ...) or raise input_range_margin",
            )
