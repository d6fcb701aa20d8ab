"""zkml.estimate: the cost model (pure), the memory refusal, and `zkml estimate` / the pipeline with real ezkl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zkml.errors import ConfigError, InsufficientMemoryError, KeysError
from zkml.estimate import (
    TARGETS,
    available_memory,
    check_fits,
    estimate_shape,
    gas_features,
    load_model,
    row_features,
)
from zkml.settings import CostShape

CIRCUITS = Path(__file__).resolve().parents[1] / "circuits"
SHAPE = CostShape(
    logrows=12,
    num_rows=3000,
    total_assignments=6000,
    num_inner_cols=2,
    lookups=1,
    range_checks=2,
    dynamic_lookups=0,
    shuffles=0,
    instances=9,
    const_size=400,
)


def _model(per_row: float = 1.0) -> dict[str, Any]:
    """A made-up model: every target is ``10 + per_row * n`` and gas ``1000 + 10 * instances``."""
    return {"targets": {t: [10.0, per_row, 0.0, 0.0, 0.0] for t in TARGETS}, "verify_gas": [1000.0, 10.0, 0.0, 0.0]}


def test_features_follow_the_settings() -> None:
    assert row_features(SHAPE) == [1.0, 4096.0, 8192.0, 3 * 4096.0, 6000.0]
    assert gas_features(SHAPE) == [1.0, 9.0, 3.0, 2.0]


def test_estimate_is_the_linear_model_of_the_shape() -> None:
    est = estimate_shape(SHAPE, model=_model(), available=10**9)
    assert (est.logrows, est.rows) == (12, 3000)
    assert est.pk_bytes == est.setup_peak_bytes == est.prove_peak_bytes == 10 + 4096
    assert est.prove_seconds == 10 + 4096 and est.verify_gas == 1090
    assert est.fits and est.as_dict()["fits"] is True
    assert "logrows 12 (3,000 rows)" in est.line() and "verify gas ~1,090" in est.line()
    # One more logrow doubles the per-row part.
    bigger = estimate_shape(CostShape(**{**SHAPE.__dict__, "logrows": 13}), model=_model())
    assert bigger.prove_seconds - 10 == 2 * (est.prove_seconds - 10)


def test_a_setup_that_does_not_fit_is_refused_with_the_numbers() -> None:
    est = estimate_shape(SHAPE, model=_model(per_row=2**20), available=2**30)  # ~4 GB needed, 1 GB available
    assert not est.fits
    with pytest.raises(InsufficientMemoryError) as info:
        check_fits(est)
    message = str(info.value)
    assert "logrows 12" in message and "4.0 GB" in message and "1.0 GB is available" in message and "zkml tune" in message
    assert isinstance(info.value, MemoryError) and isinstance(info.value, KeysError)
    check_fits(estimate_shape(SHAPE, model=_model(), available=None))  # unknown memory: not refused


def test_available_memory_is_read_from_the_machine() -> None:
    available = available_memory()
    assert available is None or available > 0


def test_a_broken_model_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"targets": {}, "verify_gas": [1]}))
    with pytest.raises(ConfigError, match="estimate_fit"):
        load_model(path)


def test_the_committed_model_is_complete() -> None:
    model = load_model()
    assert set(model["targets"]) == set(TARGETS) and model["points"] >= len(list(CIRCUITS.glob("*/zkml.toml")))
    assert all(c >= 0 for coef in model["targets"].values() for c in coef)


# -- with ezkl ------------------------------------------------------------------------------


def test_estimate_command_predicts_before_any_key(tmp_path: Path) -> None:
    from zkml_cli.main import cli

    out = CliRunner().invoke(cli, ["estimate", str(CIRCUITS / "mlp_regressor"), "--build-dir", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["logrows"] >= 1 and data["pk_bytes"] > 0 and data["prove_seconds"] > 0 and data["verify_gas"] > 0
    assert not (tmp_path / "mlp_regressor" / "pk.key").exists()


def test_the_pipeline_refuses_setup_that_would_not_fit(mlp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine is made to report 1 MB available; setup is refused before a key is written."""
    import zkml.estimate
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    monkeypatch.setattr(zkml.estimate, "available_memory", lambda: 2**20)
    pipeline = Pipeline(load_config(CIRCUITS / "mlp_regressor"), Workspace(tmp_path / "ws"))
    with pytest.raises(InsufficientMemoryError, match="1 MB is available"):
        pipeline.keys()
    assert not (tmp_path / "ws" / "pk.key").exists()
    # The user may overrule the estimate.
    monkeypatch.setenv(zkml.estimate.NO_CHECK_ENV, "1")
    assert Pipeline(load_config(CIRCUITS / "mlp_regressor"), Workspace(tmp_path / "ws")).keys().pk_path.is_file()


def test_run_summary_carries_the_estimate_and_settings_lines(mlp: Any) -> None:
    summary = mlp.summary
    assert summary.extra["estimate"]["logrows"] == summary.logrows
    assert summary.extra["settings"].startswith(("tuned (logrows", "default"))
    from zkml_cli.display import format_summary

    text = format_summary(summary.as_dict())
    assert "  estimate       logrows" in text and "  settings       " in text
