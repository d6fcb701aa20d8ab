"""Settings and calibration: choose visibility, scales and logrows for the circuit.

ezkl generates default settings from the graph, then calibration runs the
model on sample data to pick fixed-point scales and lookup ranges that hold
those values. What that costs in accuracy is measured separately (see
:mod:`zkml.fidelity`) once the circuit is compiled.
"""

from __future__ import annotations

import logging
from pathlib import Path

from zkml import _ezkl
from zkml.artifacts import OnnxModel, Settings
from zkml.config import CircuitSettings
from zkml.errors import CalibrationError
from zkml.settings import pin_logrows, read_settings
from zkml.workspace import atomic_path

log = logging.getLogger(__name__)


def rebase_multipliers_for(backend: str) -> tuple[int, ...] | None:
    """The ``scale_rebase_multiplier`` values calibration may choose for ``[circuit] backend``.

    Any backend but halo2 may go on chain through the circom path, which mirrors only ezkl's
    rebase after every product: ``(1,)``. halo2 alone: None (ezkl's own choice). Callers key their
    caches on the value only when it is not None, so halo2 workspaces keep theirs.
    """
    return None if backend == "halo2" else (1,)


def calibrate(
    model: OnnxModel,
    calibration_data: Path,
    out_path: Path,
    circuit: CircuitSettings,
    *,
    rebase_multipliers: tuple[int, ...] | None = None,
) -> Settings:
    """Generate settings for ``model`` and calibrate them on ``calibration_data``.

    Args:
        model: the exported ONNX model.
        calibration_data: samples in ezkl's ``input_data`` format.
        out_path: where to write ``settings.json``.
        circuit: visibility, calibration target and optional pinned values.
        rebase_multipliers: the ``scale_rebase_multiplier`` values ezkl may choose from (default:
            ezkl's own). ``(1,)`` rebases after every product, the one arithmetic the circom
            backend mirrors (:meth:`zkml.circom.graph.ScaleSettings.check_supported`).

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
                **({"scale_rebase_multiplier": list(rebase_multipliers)} if rebase_multipliers else {}),
            )
        except _ezkl.EzklFailure as exc:
            raise CalibrationError(f"calibration failed: {exc}", hint="check the calibration data, or raise max_logrows") from exc
        if ok is False:
            raise CalibrationError(
                "calibration found no settings that fit", hint="raise max_logrows or use calibration_target = 'resources'"
            )
        if circuit.logrows is not None:
            pin_logrows(tmp, circuit.logrows)
    settings = read_settings(out_path)
    log.info(
        "calibrated %s: logrows %d, input scales %s, output scales %s",
        model.path.name,
        settings.logrows,
        settings.input_scales,
        settings.output_scales,
    )
    return settings
