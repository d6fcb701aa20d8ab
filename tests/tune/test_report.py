"""Fidelity report: JSON, a valid PNG of sensible size, the text summary, and the CLI."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_of_a_pipeline_workspace(mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkml.tune.report import write_report

    report = write_report(mlp.workspace, out_dir=tmp_path)
    width, height = _png_size(report.png_path)
    assert 600 <= width <= 3000 and 300 <= height <= 2000
    data = json.loads(report.json_path.read_text())
    fidelity = json.loads((mlp.workspace / "fidelity.json").read_text())
    assert data["fidelity"]["max_abs_error"] == fidelity["max_abs_error"]
    assert "max abs err" in report.summary


def test_report_with_tuner_frontier(tuned_mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkml.tune.report import write_report

    result, _ = tuned_mlp
    report = write_report(result.workspace, out_dir=tmp_path)
    width, height = _png_size(report.png_path)
    assert width > 1.5 * height  # three panels side by side
    data = json.loads(report.json_path.read_text())
    assert data["tuner"]["chosen"]["logrows"] == result.chosen.logrows
    assert data["tuner"]["frontier"]
    assert "chosen" in report.summary and "baseline" in report.summary
    # The finalists' on-chain cost, measured by the tuner on anvil, is in the JSON and the summary.
    (finalist,) = data["tuner"]["finalists"]
    assert finalist["verify_gas"] == result.chosen.verify_gas and finalist["verifier_runtime_bytes"] > 0
    assert f"{result.chosen.verify_gas:,}" in report.summary and "verify gas" in report.summary
    assert data["holdout_generated"] is False and "GENERATED" not in report.summary


def test_report_cli(tuned_mlp) -> None:  # type: ignore[no-untyped-def]
    from zkml_cli.main import cli

    result, _ = tuned_mlp
    out = CliRunner().invoke(cli, ["report", str(result.workspace)])
    assert out.exit_code == 0, out.output
    assert "fidelity on" in out.output and "fidelity_report.png" in out.output


def test_report_without_fidelity_data_says_what_to_run(tmp_path: Path) -> None:
    from zkml.errors import ConfigError
    from zkml.tune.report import write_report

    with pytest.raises(ConfigError, match="zkml compile"):
        write_report(tmp_path)


def test_report_reads_old_and_new_candidate_files() -> None:
    """A candidate's agreement is `argmax_agreement` now; tune_candidates.json of older versions says `agreement`."""
    from zkml.tune.report import build_report, summary_text

    fidelity = {"float_outputs": [[0.1, 0.9], [0.7, 0.3]], "circuit_outputs": [[0.1, 0.9], [0.6, 0.4]], "argmax_agreement": 1.0}

    def cand(key: str, logrows: int, error: float) -> dict[str, object]:
        return {"label": f"k{logrows}", "logrows": logrows, "fidelity": {"max_abs_error": error, key: 0.5}, "meets_budget": True}

    tuner = {
        "budget": {"max_abs_error": 0.1},
        "reachable": True,
        "candidates": [cand("agreement", 12, 0.01), cand("argmax_agreement", 10, 0.05)],
        "chosen": 1,
        "baseline": 0,
    }
    report = build_report(fidelity, tuner, source="fidelity.json")
    assert report["tuner"]["chosen"]["agreement"] == report["tuner"]["baseline"]["agreement"] == 0.5
    assert [c["logrows"] for c in report["tuner"]["frontier"]] == [10, 12]
    assert report["fidelity"]["max_abs_error"] == pytest.approx(0.1)
    assert "class agreement with the float model 100.0%" in summary_text(report)


def test_load_fidelity_prefers_the_named_file(tmp_path: Path) -> None:
    from zkml.tune.report import load_fidelity

    rows = {"float_outputs": [[1.0]], "circuit_outputs": [[1.0]]}
    (tmp_path / "fidelity.json").write_text(json.dumps({**rows, "label": "pipeline"}))
    (tmp_path / "tune_fidelity.json").write_text(json.dumps({**rows, "label": "tuner"}))
    assert load_fidelity(tmp_path)[0]["label"] == "pipeline"
    data, path = load_fidelity(tmp_path, prefer="tune_fidelity.json")
    assert data["label"] == "tuner" and path.name == "tune_fidelity.json"
