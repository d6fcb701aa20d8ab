"""zkml.calibrate: the rebase multiplier a circuit bound for the circom backend is calibrated with."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from tests.corpus.models import corpus
from zkml.config import config_for_onnx
from zkml.pipeline import Pipeline
from zkml.workspace import Workspace


def test_a_circuit_for_the_circom_backend_rebases_after_every_product(tmp_path: Path) -> None:
    """int8_weights: ezkl's own calibration picks a multiplier of 10, which the circom path cannot mirror."""
    from zkml.circom.graph import ScaleSettings

    entry = next(e for e in corpus() if e.name == "int8_weights")
    onnx_path, input_path = entry.write(tmp_path / "model")
    config = config_for_onnx(onnx_path.resolve(), input_path=input_path.resolve()).with_circuit(input_scale=13, param_scale=13)
    multipliers = {}
    for backend in ("halo2", "auto"):
        pipeline = Pipeline(replace(config, backend=backend), Workspace(tmp_path / backend))
        pipeline.calibrate()
        multipliers[backend] = json.loads(pipeline.ws.settings.read_text())["run_args"]["scale_rebase_multiplier"]
        if backend == "auto":
            ScaleSettings.read(pipeline.ws.settings).check_supported()  # what the circom path requires
    assert multipliers == {"halo2": 10, "auto": 1}


def test_a_batched_circuit_for_the_circom_backend_rebases_after_every_product_too(tmp_path: Path) -> None:
    """The batch workspace (``--batch-size B``) calibrates with the same rule, and keys its build on it only then."""
    from zkml.proving.batch import _inputs_fingerprint, prepare_batched
    from zkml.workspace import Layout

    entry = next(e for e in corpus() if e.name == "int8_weights")
    onnx_path, input_path = entry.write(tmp_path / "model")
    config = config_for_onnx(onnx_path.resolve(), input_path=input_path.resolve()).with_circuit(input_scale=13, param_scale=13)
    halo2, auto = replace(config, backend="halo2"), replace(config, backend="auto")
    assert _inputs_fingerprint(halo2, 2) != _inputs_fingerprint(auto, 2)
    assert _inputs_fingerprint(halo2, 2) == _inputs_fingerprint(replace(config, backend="halo2"), 2)
    layout = Layout(tmp_path / "batch-2")
    prepare_batched(auto, 2, layout)
    assert json.loads(layout.settings.read_text())["run_args"]["scale_rebase_multiplier"] == 1
