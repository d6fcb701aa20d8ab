"""The manifest-backed cache: reuse what is current, redo exactly what changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zkml.config import load_config
from zkml.errors import InputDataError
from zkml.pipeline import Pipeline
from zkml.workspace import Workspace

from .conftest import CIRCUITS, ProvedCircuit


def _copy_workspace(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _reused(pipeline: Pipeline) -> dict[str, bool]:
    return {t.stage: t.reused for t in pipeline.timings}


def test_second_run_reuses_every_stage(mlp: ProvedCircuit, tmp_path: Path) -> None:
    ws = _copy_workspace(mlp.workspace, tmp_path / "mlp_regressor")
    again = Pipeline(load_config(CIRCUITS / "mlp_regressor"), Workspace(ws))
    summary = again.run()
    reused = _reused(again)
    assert summary.verified
    for stage in ("export", "calibrate", "compile", "keys", "witness", "prove", "srs"):
        assert reused[stage], stage
    assert summary.timing("keys").seconds < 2  # type: ignore[union-attr]


def test_changed_calibration_config_invalidates_downstream_only(mlp: ProvedCircuit, tmp_path: Path) -> None:
    ws = _copy_workspace(mlp.workspace, tmp_path / "mlp_regressor")
    config = load_config(CIRCUITS / "mlp_regressor").with_circuit(lookup_safety_margin=3.0)
    again = Pipeline(config, Workspace(ws))
    again.calibrate()
    reused = _reused(again)
    assert reused["export"] is True
    assert reused["calibrate"] is False


def test_new_input_reproves_but_keeps_keys(mlp: ProvedCircuit, tmp_path: Path) -> None:
    ws = _copy_workspace(mlp.workspace, tmp_path / "mlp_regressor")
    data = json.loads((CIRCUITS / "mlp_regressor" / "input.json").read_text())
    data["input_data"][0][0] *= 0.5
    new_input = tmp_path / "new.json"
    new_input.write_text(json.dumps(data))
    again = Pipeline(load_config(CIRCUITS / "mlp_regressor"), Workspace(ws), input_path=new_input)
    proof = again.prove()
    assert again.verify(proof).verified
    reused = _reused(again)
    assert reused["keys"] is True and reused["witness"] is False and reused["prove"] is False


def test_input_outside_calibrated_range(mlp: ProvedCircuit, tmp_path: Path) -> None:
    data = json.loads((CIRCUITS / "mlp_regressor" / "input.json").read_text())
    data["input_data"][0][3] = 1e4
    far = tmp_path / "far.json"
    far.write_text(json.dumps(data))
    with pytest.raises(InputDataError, match="feature 3 .* outside the calibrated range"):
        mlp.pipeline.witness(far)  # type: ignore[attr-defined]


def test_interrupted_proof_is_not_trusted(mlp: ProvedCircuit, tmp_path: Path) -> None:
    ws = _copy_workspace(mlp.workspace, tmp_path / "mlp_regressor")
    # Simulate a run that died after writing a bad proof over the recorded one.
    (ws / "proof.json").write_text('{"proof": [1, 2, 3]')
    again = Pipeline(load_config(CIRCUITS / "mlp_regressor"), Workspace(ws))
    proof = again.prove()
    assert _reused(again)["prove"] is False
    assert again.verify(proof).verified


def test_hashed_input_visibility(tiny_hashed: ProvedCircuit) -> None:
    assert tiny_hashed.summary.verified  # type: ignore[attr-defined]
    settings = json.loads((tiny_hashed.workspace / "settings.json").read_text())
    assert settings["module_sizes"]["poseidon"][0] > 0
    # The proof publishes one Poseidon hash instead of the 4 input values, then the 2 outputs.
    proof = json.loads((tiny_hashed.workspace / "proof.json").read_text())
    assert len(proof["instances"][0]) == 1 + 2
