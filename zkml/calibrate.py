"""Settings and calibration: choose visibility, scales and logrows for the circuit.

ezkl generates default settings from the graph, then calibration runs the
model on sample data to pick fixed-point scales and lookup ranges that hold
those values. What that costs in accuracy is measured separately (see
:mod:`zkml.fidelity`) once the circuit is compiled.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from zkml import _ezkl
from zkml.artifacts import OnnxModel, Settings, sha256_file
from zkml.config import CircuitSettings
from zkml.errors import CalibrationError
from zkml.workspace import atomic_path

log = logging.getLogger(__name__)


def read_settings(path: Path) -> Settings:
    """Describe an ezkl settings file.

    Raises:
        CalibrationError: unreadable or not ezkl settings.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        run_args = data["run_args"]
        return Settings(
            path=path,
            sha256=sha256_file(path),
            logrows=int(run_args["logrows"]),
            input_scales=tuple(int(s) for s in data.get("model_input_scales", [])),
            output_scales=tuple(int(s) for s in data.get("model_output_scales", [])),
            param_scale=int(run_args["param_scale"]),
            input_visibility=_visibility_name(run_args["input_visibility"]),
            output_visibility=_visibility_name(run_args["output_visibility"]),
            param_visibility=_visibility_name(run_args["param_visibility"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CalibrationError(f"{path} is not an ezkl settings file: {exc}", hint="run calibrate again") from exc


def _visibility_name(value: Any) -> str:
    # ezkl serialises visibility as "Public" or as {"Hashed": {...}}.
    if isinstance(value, dict):
        value = next(iter(value))
    return str(value).lower()


def calibrate(
    model: OnnxModel,
    calibration_data: Path,
    out_path: Path,
    circuit: CircuitSettings,
) -> Settings:
    """Generate settings for ``model`` and calibrate them on ``calibration_data``.

    Args:
        model: the exported ONNX model.
        calibration_data: samples in ezkl's ``input_data`` format.
        out_path: where to write ``settings.json``.
        circuit: visibility, calibration target and optional pinned values.

    Raises:
        CalibrationError: ezkl could not generate or calibrate the settings.
    """
    args = _ezkl.run_args(
        input_visibility=circuit.input_visibility,
        output_visibility=circuit.output_visibility,
        param_visibility=circuit.param_visibility,
        input_scale=circuit.input_scale,
        param_scale=circuit.param_scale,
        logrows=circuit.logrows,
        num_inner_cols=circuit.num_inner_cols,
        decomp_base=circuit.decomp_base,
        decomp_legs=circuit.decomp_legs,
    )
    with atomic_path(out_path) as tmp:
        try:
            _ezkl.call("gen_settings", str(model.path), str(tmp), py_run_args=args)
        except _ezkl.EzklFailure as exc:
            raise CalibrationError(
                f"generating settings for {model.path.name} failed: {exc}", hint="run zkml preflight on the model"
            ) from exc
        scales = [circuit.input_scale] if circuit.input_scale is not None else None
        try:
            ok = _ezkl.call(
                "calibrate_settings",
                str(calibration_data),
                str(model.path),
                str(tmp),
                circuit.calibration_target,
                lookup_safety_margin=circuit.lookup_safety_margin,
                scales=scales,
                max_logrows=circuit.max_logrows,
            )
        except _ezkl.EzklFailure as exc:
            raise CalibrationError(f"calibration failed: {exc}", hint="check the calibration data, or raise max_logrows") from exc
        if ok is False:
            raise CalibrationError(
                "calibration found no settings that fit", hint="raise max_logrows or use calibration_target = 'resources'"
            )
        if circuit.logrows is not None:
            _pin_logrows(tmp, circuit.logrows)
    settings = read_settings(out_path)
    log.info(
        "calibrated %s: logrows %d, input scales %s, output scales %s",
        model.path.name,
        settings.logrows,
        settings.input_scales,
        settings.output_scales,
    )
    return settings


def _pin_logrows(path: Path, logrows: int) -> None:
    """Calibration may pick another logrows; a pinned value wins if it fits."""
    data = json.loads(path.read_text())
    needed = int(data.get("num_rows", 0))
    if needed and needed >= (1 << logrows):
        raise CalibrationError(
            f"the circuit needs {needed} rows, more than logrows {logrows} holds", hint=f"use logrows >= {needed.bit_length()}"
        )
    data["run_args"]["logrows"] = logrows
    path.write_text(json.dumps(data))
