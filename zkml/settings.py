"""The one reader (and the one writer) of ezkl's ``settings.json``.

ezkl writes the circuit settings as JSON whose shape belongs to ezkl: visibility
is ``"Public"`` or ``{"Hashed": {...}}``, the public instance tensors are listed
in ``model_instance_shapes``, the range-check layout sits in ``run_args``. Every
other module reads the typed :class:`zkml.artifacts.Settings` this module makes,
so a change of ezkl's format is mended here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import Settings, sha256_file
from zkml.errors import CalibrationError


def numel(shape: Iterable[int]) -> int:
    """Number of elements of a tensor of ``shape`` (1 for a scalar)."""
    size = 1
    for dim in shape:
        size *= int(dim)
    return size


def visibility_name(value: object) -> str:
    """``"Public"`` or ``{"Hashed": {...}}`` as ``public`` / ``hashed`` / ..."""
    if isinstance(value, Mapping):
        return str(next(iter(value), "")).lower()
    return str(value).lower()


def _hash_is_public(value: object) -> bool:
    if isinstance(value, Mapping):
        return bool(value.get("Hashed", {}).get("hash_is_public", True))
    return False


def _poseidon_instances(data: Mapping[str, Any]) -> int:
    hashes = data.get("module_sizes", {}).get("poseidon", [0, [0]])
    counts = hashes[1] if isinstance(hashes, list) and len(hashes) > 1 else 0
    return int(sum(counts)) if isinstance(counts, list) else 0


def read_settings(path: Path) -> Settings:
    """Read an ezkl settings file into a :class:`Settings`.

    Raises:
        CalibrationError: unreadable or not ezkl settings.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        run_args = data["run_args"]
        lookup = run_args.get("lookup_range") or [0, 0]
        return Settings(
            path=path,
            sha256=sha256_file(path),
            logrows=int(run_args["logrows"]),
            input_scales=tuple(int(s) for s in data.get("model_input_scales", [])),
            output_scales=tuple(int(s) for s in data.get("model_output_scales", [])),
            param_scale=int(run_args["param_scale"]),
            input_visibility=visibility_name(run_args["input_visibility"]),
            output_visibility=visibility_name(run_args["output_visibility"]),
            param_visibility=visibility_name(run_args["param_visibility"]),
            num_rows=int(data.get("num_rows", 0)),
            instance_shapes=tuple(tuple(int(d) for d in shape) for shape in data.get("model_instance_shapes", [])),
            lookup_range=(int(lookup[0]), int(lookup[1])),
            num_inner_cols=_optional_int(run_args.get("num_inner_cols")),
            decomp_base=_optional_int(run_args.get("decomp_base")),
            decomp_legs=_optional_int(run_args.get("decomp_legs")),
            input_hash_public=_hash_is_public(run_args["input_visibility"]),
            poseidon_instances=_poseidon_instances(data),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CalibrationError(f"{path} is not an ezkl settings file: {exc}", hint="run calibrate again") from exc


@dataclass(frozen=True)
class CostShape:
    """What a calibrated circuit's cost depends on, read from its settings before any key exists.

    Attributes:
        logrows: ``k``; the circuit has ``2**k`` rows per column.
        num_rows: rows the layout uses.
        total_assignments: advice cells assigned.
        num_inner_cols: advice columns per variable.
        lookups: lookup tables (non-linearities) the circuit needs.
        range_checks: range-check tables.
        dynamic_lookups, shuffles: ezkl's dynamic lookups and shuffle arguments.
        instances: public instance values (inputs, outputs, hashes) the verifier reads.
        const_size: fixed cells (constants, weights when fixed).
        dynamic_col_size, shuffle_col_size: advice columns holding dynamic-lookup and shuffle tables.
        einsum_col_size: advice columns of the einsum (Freivalds) chip.
        table_cols: fixed columns holding the lookup and range-check tables (a table longer than
            a column, ``2**logrows`` minus the blinding rows, is split over several).
        widest_table: the most columns one table is split over (more raises the constraint degree).
    """

    logrows: int
    num_rows: int
    total_assignments: int
    num_inner_cols: int
    lookups: int
    range_checks: int
    dynamic_lookups: int
    shuffles: int
    instances: int
    const_size: int
    dynamic_col_size: int = 0
    shuffle_col_size: int = 0
    einsum_col_size: int = 0
    table_cols: int = 0
    widest_table: int = 1


# ezkl reserves the blinding rows (halo2's blinding factors, 5 here) plus 3 at the end of each table column.
TABLE_RESERVED_ROWS = 8


def table_columns(low: int, high: int, logrows: int) -> int:
    """How many columns ezkl splits a lookup or range-check table of ``[low, high]`` into (its ``num_cols_required``)."""
    return abs(high - low) // ((1 << logrows) - TABLE_RESERVED_ROWS) + 1


def cost_shape_of(data: Mapping[str, Any]) -> CostShape:
    """The :class:`CostShape` of ezkl settings already parsed from JSON (no validation: see :func:`read_cost_shape`)."""
    run_args = data["run_args"]
    # model_instance_shapes lists the public inputs and outputs only; hashed ones add poseidon instances.
    instances = sum(numel(shape) for shape in data.get("model_instance_shapes", []))
    einsum = data.get("einsum_params") or {}
    logrows = int(run_args["logrows"])
    low, high = (int(v) for v in (run_args.get("lookup_range") or [0, 0]))
    tables = [table_columns(low, high, logrows) for _ in data.get("required_lookups") or []]
    tables += [table_columns(int(a), int(b), logrows) for a, b in data.get("required_range_checks") or []]
    return CostShape(
        logrows=logrows,
        num_rows=int(data.get("num_rows", 0)),
        total_assignments=int(data.get("total_assignments", 0)),
        num_inner_cols=_optional_int(run_args.get("num_inner_cols")) or 2,
        lookups=len(data.get("required_lookups") or []),
        range_checks=len(data.get("required_range_checks") or []),
        dynamic_lookups=int(data.get("num_dynamic_lookups", 0)),
        shuffles=int(data.get("num_shuffles", 0)),
        instances=instances + _poseidon_instances(data),
        const_size=int(data.get("total_const_size", 0)),
        dynamic_col_size=int(data.get("total_dynamic_col_size", 0)),
        shuffle_col_size=int(data.get("total_shuffle_col_size", 0)),
        einsum_col_size=int(einsum.get("total_einsum_col_size", 0) or 0),
        table_cols=sum(tables),
        widest_table=max(tables, default=1),
    )


def read_cost_shape(path: Path) -> CostShape:
    """The :class:`CostShape` of an ezkl settings file.

    Raises:
        CalibrationError: unreadable or not ezkl settings.
    """
    read_settings(path)  # validates
    return cost_shape_of(json.loads(Path(path).read_text()))


def _optional_int(value: int | float | str | None) -> int | None:
    return None if value is None else int(value)


def pin_logrows(path: Path, logrows: int) -> None:
    """Set ``logrows`` in a settings file that calibration wrote (a pinned value wins if it fits).

    Raises:
        CalibrationError: the circuit needs more rows than ``2**logrows``.
    """
    data = json.loads(Path(path).read_text())
    needed = int(data.get("num_rows", 0))
    if needed and needed >= (1 << logrows):
        raise CalibrationError(
            f"the circuit needs {needed} rows, more than logrows {logrows} holds", hint=f"use logrows >= {needed.bit_length()}"
        )
    data["run_args"]["logrows"] = logrows
    Path(path).write_text(json.dumps(data))


@dataclass(frozen=True)
class InstanceSegment:
    """One public tensor in the proof's instance vector.

    Attributes:
        kind: ``input`` or ``output``.
        scale: fixed-point bits of its elements.
        offset: index of its first element in the instance vector.
        size: number of elements.
    """

    kind: str
    scale: int
    offset: int
    size: int


def public_segments(settings: Settings) -> tuple[InstanceSegment, ...]:
    """Where each public model input and output sits in the instance vector, in order.

    ezkl lists, in ``model_instance_shapes``, each public input then each public
    output. Hashed or committed tensors publish no values and have no segment; their
    Poseidon hashes are instances too (ezkl 23, measured: the input hash and the param
    hashes before the values, an output hash after), so the first segment starts after
    the leading hashes.

    Raises:
        CalibrationError: the shapes do not match the public tensors (settings of another ezkl).
    """
    kinds: list[tuple[str, int]] = []
    if settings.input_visibility == "public":
        kinds += [("input", s) for s in settings.input_scales]
    if settings.output_visibility == "public":
        kinds += [("output", s) for s in settings.output_scales]
    if len(kinds) != len(settings.instance_shapes):
        raise CalibrationError(
            f"{settings.path}: {len(settings.instance_shapes)} instance tensors but {len(kinds)} public inputs/outputs",
            hint="hashed or polycommit visibility publishes commitments, not values",
        )
    trailing = len(settings.output_scales) if settings.output_visibility == "hashed" else 0
    segments, offset = [], max(settings.poseidon_instances - trailing, 0)
    for (kind, scale), shape in zip(kinds, settings.instance_shapes, strict=True):
        size = numel(shape)
        segments.append(InstanceSegment(kind, scale, offset, size))
        offset += size
    return tuple(segments)


__all__ = [
    "CostShape",
    "InstanceSegment",
    "cost_shape_of",
    "numel",
    "pin_logrows",
    "public_segments",
    "read_cost_shape",
    "read_settings",
    "table_columns",
    "visibility_name",
]
