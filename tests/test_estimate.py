"""zkml.estimate: the cost model (pure), the memory refusal, and `zkml estimate` / the pipeline with real ezkl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zkml.errors import ConfigError, InsufficientMemoryError, KeysError
from zkml.estimate import (
    ROW_FEATURES,
    TARGETS,
    available_memory,
    check_fits,
    degree,
    einsum_columns,
    estimate_shape,
    extension,
    gas_features,
    load_model,
    lookup_arguments,
    row_features,
)
from zkml.settings import CostShape, cost_shape_of, read_cost_shape, table_columns

ROOT = Path(__file__).resolve().parents[1]
CIRCUITS = ROOT / "circuits"
MEASUREMENTS = ROOT / "benchmarks" / "results" / "estimate_measurements.json"
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
    """A made-up model: every target is ``10 + per_row * n * E`` and gas ``1000 + 10 * instances``."""
    return {"targets": {t: [10.0, per_row / 4, 0.0, 0.0, 0.0] for t in TARGETS}, "verify_gas": [1000.0, 10.0, 0.0, 0.0, 0.0]}


def test_features_follow_the_settings() -> None:
    # E = 4 (static lookups only); 2 inner columns x 3 single-column tables = 6 lookup arguments.
    assert (extension(SHAPE), lookup_arguments(SHAPE)) == (4, 6)
    assert row_features(SHAPE) == [1.0, 4 * 4096.0, 2 * 4 * 4096.0, 6 * 4 * 4096.0, 6000.0]
    assert len(row_features(SHAPE)) == len(ROW_FEATURES)
    assert gas_features(SHAPE) == [1.0, 9.0, 6.0, 2.0, 0.0]


def _measured_settings(tmp_path: Path, circuit: str, variant: str = "default") -> Path:
    """A real ezkl settings file: the one recorded with the measurement of ``circuit`` (benchmarks/results)."""
    rows = json.loads(MEASUREMENTS.read_text())["rows"]
    record = next(r["settings"] for r in rows if r["circuit"] == circuit and r["variant"] == variant)
    path = tmp_path / f"{circuit}.json"
    path.write_text(json.dumps(record))
    return path


def test_shuffles_and_dynamic_lookups_double_the_extended_domain(tmp_path: Path) -> None:
    """gbt_classifier (a shuffle) and conv1d_sequence (same logrows, inner columns and tables, no shuffle)."""
    gbt = read_cost_shape(_measured_settings(tmp_path, "gbt_classifier"))
    conv = read_cost_shape(_measured_settings(tmp_path, "conv1d_sequence"))
    assert (gbt.shuffles, gbt.dynamic_lookups, gbt.table_cols, gbt.widest_table) == (1, 0, 4, 1)
    assert (conv.shuffles, conv.table_cols, conv.logrows, conv.num_inner_cols) == (0, 4, gbt.logrows, gbt.num_inner_cols)
    assert (extension(gbt), extension(conv)) == (8, 4)
    assert (lookup_arguments(gbt), lookup_arguments(conv)) == (2 * 5, 2 * 4)
    assert row_features(gbt)[1] == 2 * row_features(conv)[1]
    # Dynamic lookups put advice on the table side too.
    dynamic = read_cost_shape(_measured_settings(tmp_path, "skl2onnx_mlp_classifier"))
    assert dynamic.dynamic_lookups > 0 and dynamic.dynamic_col_size > 0 and extension(dynamic) == 8
    # So do the einsum (Freivalds) chip and four inner columns (the running product multiplies them all).
    rnn = read_cost_shape(_measured_settings(tmp_path, "torch_rnn_op14"))
    assert rnn.einsum_col_size > 0 and rnn.shuffles == rnn.dynamic_lookups == 0 and extension(rnn) == 8
    assert einsum_columns(rnn) == 4 * rnn.num_inner_cols and einsum_columns(conv) == 0
    wide = read_cost_shape(_measured_settings(tmp_path, "cnn_classifier", "tuned"))
    assert (wide.num_inner_cols, wide.shuffles, wide.einsum_col_size, degree(wide), extension(wide)) == (4, 0, 0, 6, 8)
    # The committed model prices the wider domain: more memory and key for the same columns.
    assert estimate_shape(gbt).pk_bytes > 1.5 * estimate_shape(conv).pk_bytes


def test_a_table_longer_than_a_column_is_split_and_raises_the_degree(tmp_path: Path) -> None:
    assert table_columns(0, 16383, 15) == 1 and table_columns(0, 16383, 13) == 3 and table_columns(-1, 1, 9) == 1
    data = json.loads(_measured_settings(tmp_path, "mlp_regressor").read_text())
    data["run_args"]["logrows"] = 13  # its [0, 16383] range check no longer fits one column
    shape = cost_shape_of(data)
    assert (shape.widest_table, shape.table_cols, extension(shape)) == (3, 4, 8)


def test_estimate_is_the_linear_model_of_the_shape() -> None:
    est = estimate_shape(SHAPE, model=_model(), available=10**9)  # n * E / 4 = n
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
    # A model fitted on other features (an older zkml's) is refused, not misread.
    stale = {**_model(), "row_features": ["1", "n", "n*inner_cols", "n*tables", "assignments"]}
    path.write_text(json.dumps(stale))
    with pytest.raises(ConfigError, match="features"):
        load_model(path)


def test_the_committed_model_is_complete() -> None:
    model = load_model()
    assert set(model["targets"]) == set(TARGETS) and model["points"] >= len(list(CIRCUITS.glob("*/zkml.toml")))
    assert all(c >= 0 for coef in model["targets"].values() for c in coef)
    assert model["row_features"] == list(ROW_FEATURES)


def test_measurements_merge_per_model_and_leave_opset_twins_out_together() -> None:
    from benchmarks.estimate import merge_rows
    from benchmarks.estimate_fit import group_of

    old = [{"circuit": "a", "variant": "default"}, {"circuit": "b", "variant": "default"}, {"circuit": "a", "variant": "tuned"}]
    fresh = [{"circuit": "a", "variant": "default", "new": 1}, {"circuit": "c", "variant": "default"}]
    merged = merge_rows(old, fresh)
    assert [(r["circuit"], r["variant"]) for r in merged] == [("a", "default"), ("b", "default"), ("c", "default")]
    assert merged[0]["new"] == 1
    assert group_of({"circuit": "torch_mlp_op11"}) == group_of({"circuit": "torch_mlp_op17"}) == "torch_mlp"
    assert group_of({"circuit": "gbt_classifier"}) == "gbt_classifier"


# -- with ezkl ------------------------------------------------------------------------------


def test_estimate_command_predicts_before_any_key(tmp_path: Path) -> None:
    from zkml_cli.main import cli

    out = CliRunner().invoke(cli, ["estimate", str(CIRCUITS / "mlp_regressor"), "--build-dir", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["logrows"] >= 1 and data["pk_bytes"] > 0 and data["prove_seconds"] > 0 and data["verify_gas"] > 0
    assert not (tmp_path / "mlp_regressor" / "pk.key").exists()
    # The circom backend takes the MLP: its size (predicted from the graph, not compiled) and each snarkjs system's cost.
    circom = data["circom"]
    assert circom["takes"] and not circom["exact"] and circom["public_signals"] == 9 and circom["constraints"] > 1000
    groth16 = circom["systems"]["groth16"]
    from zkml.circom.ptau import power_for

    assert groth16["verify_gas"] > groth16["verify_gas_floor"] and groth16["ptau_power"] == power_for(circom["constraints"], 9)
    assert circom["systems"]["fflonk"]["verify_gas"] < groth16["verify_gas"] < data["verify_gas"]
    assert not (tmp_path / "mlp_regressor" / "circom").exists()
    text = CliRunner().invoke(cli, ["estimate", str(CIRCUITS / "mlp_regressor"), "--build-dir", str(tmp_path)])
    assert text.exit_code == 0, text.output
    assert "public signals  [predicted]" in text.output and f"groth16  ptau 2^{groth16['ptau_power']}" in text.output


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


# -- per prediction: batches ------------------------------------------------------------------


def test_oracle_overhead_is_measured_at_1_and_16_and_linear_between_and_beyond() -> None:
    from zkml.estimate import ORACLE_OVERHEAD_MEASURED, oracle_overhead

    assert oracle_overhead(1) == (ORACLE_OVERHEAD_MEASURED[1], "measured")
    assert oracle_overhead(16) == (ORACLE_OVERHEAD_MEASURED[16], "measured")
    middle, basis = oracle_overhead(8)
    assert basis == "interpolated" and ORACLE_OVERHEAD_MEASURED[1] < middle < ORACLE_OVERHEAD_MEASURED[16]
    far, basis = oracle_overhead(32)
    assert basis == "extrapolated" and far > ORACLE_OVERHEAD_MEASURED[16]
    with pytest.raises(ConfigError, match="batch size 0"):
        oracle_overhead(0)


def test_a_batch_estimate_divides_the_proof_by_its_samples() -> None:
    from zkml.estimate import BatchEstimate, oracle_overhead

    proof = estimate_shape(SHAPE, available=None)
    overhead, basis = oracle_overhead(16)
    batch = BatchEstimate(16, proof, overhead, basis, fitted_points=3)
    per = batch.per_prediction()
    assert batch.submit_gas == proof.verify_gas + overhead
    assert per["verify_gas"] == proof.verify_gas // 16 and per["submit_gas"] == batch.submit_gas // 16
    data = batch.as_dict()
    # The proof's keys stay at the top (what `zkml estimate --json` always printed), the batch's beside them.
    assert data["verify_gas"] == proof.verify_gas and data["batch_size"] == 16 and data["per_prediction"] == per
    assert data["basis"]["oracle_overhead_gas"].startswith("measured") and data["basis"]["rows"].startswith("exact")
