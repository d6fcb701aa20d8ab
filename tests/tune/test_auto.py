"""Tuned settings by default: committed files, a [budget] tuned once and cached, and what the summary says."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"


def _copy_mlp(folder: Path, *, budget: str = "", committed: bool = True) -> Path:
    """circuits/mlp_regressor without its demo tables, optionally with a [budget] and without the committed tuned.json."""
    shutil.copytree(CIRCUITS / "mlp_regressor", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = (folder / "zkml.toml").read_text()
    (folder / "zkml.toml").write_text(toml.split("\n[feed]")[0].split("\n# The DeFi demo")[0] + budget)
    if not committed:
        (folder / "tuned.json").unlink(missing_ok=True)
    return folder


def test_every_example_ships_tuned_settings_for_its_model() -> None:
    for toml in sorted(CIRCUITS.glob("*/zkml.toml")):
        data = json.loads((toml.parent / "tuned.json").read_text())
        assert data["model_fingerprint"] and data["circuit"]["logrows"] >= 1, toml.parent.name
        # Never slower than ezkl's default calibration, as measured when it was tuned.
        assert data["prove_seconds"] <= data["baseline"]["prove_seconds"], toml.parent.name


def test_committed_settings_are_used_when_they_match_the_model(mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    folder = _copy_mlp(tmp_path / "mlp")
    committed = json.loads((folder / "tuned.json").read_text())
    pipeline = Pipeline(load_config(folder), Workspace(tmp_path / "ws"))
    settings = pipeline.calibrate()
    assert settings.logrows == committed["circuit"]["logrows"]
    note = pipeline.settings_note
    assert note["settings"] == f"tuned (logrows {settings.logrows})" and note["settings_source"] == str(folder / "tuned.json")
    # Opting out: [circuit] pinning a tuned setting itself means ezkl's calibration, as configured.
    pinned = Pipeline(load_config(folder).with_circuit(decomp_base=16384), Workspace(tmp_path / "ws2"))
    assert pinned.calibrate().logrows != settings.logrows or committed["circuit"]["decomp_base"] == 16384
    assert pinned.settings_note["settings"] == "default (ezkl calibration)"


def test_a_budget_is_tuned_once_and_cached(mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    folder = _copy_mlp(tmp_path / "mlp", budget="\n[budget]\nmax_abs_error = 0.002\n", committed=False)
    ws = tmp_path / "ws"
    pipeline = Pipeline(load_config(folder), Workspace(ws))
    settings = pipeline.calibrate()
    tuned = json.loads((ws / "tuned.json").read_text())
    assert tuned["budget"] == {"max_abs_error": 0.002} and settings.logrows == tuned["circuit"]["logrows"]
    assert pipeline.settings_note["settings_budget"] == {"max_abs_error": 0.002}
    stamp = (ws / "tune_candidates.json").stat().st_mtime_ns
    again = Pipeline(load_config(folder), Workspace(ws))
    assert again.calibrate().logrows == settings.logrows
    assert (ws / "tune_candidates.json").stat().st_mtime_ns == stamp  # not tuned again


@pytest.mark.parametrize("budget", ["\n[budget]\nmax_abs_error = -1\n"])
def test_an_invalid_budget_fails_before_tuning(tmp_path: Path, budget: str) -> None:
    from zkml.config import load_config
    from zkml.errors import ConfigError
    from zkml.tune.auto import declared_budget

    folder = _copy_mlp(tmp_path / "mlp", budget=budget, committed=False)
    with pytest.raises(ConfigError, match="max_abs_error"):
        declared_budget(load_config(folder))


def test_tune_toml_wins_over_zkml_toml(tmp_path: Path) -> None:
    from zkml.config import load_config
    from zkml.tune.auto import declared_budget

    folder = _copy_mlp(tmp_path / "mlp", budget="\n[budget]\nmax_abs_error = 0.5\n", committed=False)
    assert declared_budget(load_config(folder)).as_dict() == {"max_abs_error": 0.5}  # type: ignore[union-attr]
    (folder / "tune.toml").write_text("[budget]\nmin_agreement = 0.9\nmax_abs_error = 0.01\n")
    assert declared_budget(load_config(folder)).as_dict() == {"max_abs_error": 0.01, "min_agreement": 0.9}  # type: ignore[union-attr]


def test_a_budget_is_not_tuned_around_settings_the_config_pins(tmp_path: Path) -> None:
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    folder = _copy_mlp(tmp_path / "mlp", budget="\n[budget]\nmax_abs_error = 0.002\n", committed=False)
    ws = tmp_path / "ws"
    pipeline = Pipeline(load_config(folder).with_circuit(decomp_base=16384, decomp_legs=2), Workspace(ws))
    pipeline.calibrate()
    assert not (ws / "tune_candidates.json").exists() and not (ws / "tuned.json").exists()
    assert pipeline.settings_note["settings"] == "default (ezkl calibration)"


def _perturb_weights(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Rewrite the copied circuit's weights.safetensors through ``change(tensors)``: a retrained model of the same graph."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "weights.safetensors")
    change(tensors)
    save_file(tensors, folder / "weights.safetensors")


def test_committed_settings_survive_a_one_ulp_retrain_re_validated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Weights a few ulps off (another CPU, another thread count): same graph, settings re-validated and applied."""
    import torch

    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    folder = _copy_mlp(tmp_path / "mlp")
    committed = json.loads((folder / "tuned.json").read_text())

    def one_ulp(tensors: dict) -> None:  # type: ignore[type-arg]
        weight = tensors["net.0.weight"]
        weight[0, 0] = torch.nextafter(weight[0, 0], torch.tensor(float("inf")))

    _perturb_weights(folder, one_ulp)
    ws = tmp_path / "ws"
    pipeline = Pipeline(load_config(folder), Workspace(ws))
    with caplog.at_level(logging.WARNING):
        settings = pipeline.calibrate()
    assert "tuned for another model" not in caplog.text and "does not fit" not in caplog.text
    assert settings.logrows == committed["circuit"]["logrows"]
    note = pipeline.settings_note
    assert note["settings"] == f"tuned (re-validated for changed weights; logrows {settings.logrows})"
    assert note["settings_revalidation"].startswith("re-validated: max abs error")
    verdict = json.loads((ws / "revalidated.json").read_text())
    assert verdict["ok"] and verdict["fidelity"]["samples"] == committed["fidelity"]["samples"]
    # The verdict is cached: the next run does not measure again.
    stamp = (ws / "revalidated.json").stat().st_mtime_ns
    assert Pipeline(load_config(folder), Workspace(ws)).calibrate().logrows == settings.logrows
    assert (ws / "revalidated.json").stat().st_mtime_ns == stamp


def test_settings_that_miss_the_budget_on_changed_weights_fall_back_clearly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Weights changed enough to break the budget: ezkl's default calibration, and a line with the measured error."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    folder = _copy_mlp(tmp_path / "mlp")

    def louder(tensors: dict) -> None:  # type: ignore[type-arg]
        # Ten times the output: ten times the fixed-point error, far past the budget.
        tensors["net.4.weight"] *= 10.0
        tensors["net.4.bias"] *= 10.0

    _perturb_weights(folder, louder)
    pipeline = Pipeline(load_config(folder), Workspace(tmp_path / "ws"))
    with caplog.at_level(logging.WARNING, logger="zkml.tune.auto"):
        pipeline.calibrate()
    note = pipeline.settings_note
    assert note["settings"] == "default (ezkl calibration)"
    warning = next(r.getMessage() for r in caplog.records if "does not fit the changed weights" in r.getMessage())
    assert "max abs error" in warning and "> 0.000" in warning and "using ezkl's default calibration (run zkml tune again)" in warning
    assert "\n" not in warning
    assert note["settings_revalidation"].startswith("tuned settings dropped: max abs error")
