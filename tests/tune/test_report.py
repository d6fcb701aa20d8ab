"""Fidelity report: JSON, a valid PNG of sensible size, the text summary, and the CLI."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import click
from click.testing import CliRunner


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_of_a_pipeline_workspace(mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkml.report import write_report

    report = write_report(mlp.workspace, out_dir=tmp_path)
    width, height = _png_size(report.png_path)
    assert 600 <= width <= 3000 and 300 <= height <= 2000
    data = json.loads(report.json_path.read_text())
    fidelity = json.loads((mlp.workspace / "fidelity.json").read_text())
    assert data["fidelity"]["max_abs_error"] == fidelity["max_abs_error"]
    assert "max abs err" in report.summary


def test_report_with_tuner_frontier(tuned_mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkml.report import write_report

    result, _ = tuned_mlp
    report = write_report(result.workspace, out_dir=tmp_path)
    width, height = _png_size(report.png_path)
    assert width > 1.5 * height  # three panels side by side
    data = json.loads(report.json_path.read_text())
    assert data["tuner"]["chosen"]["logrows"] == result.chosen.logrows
    assert data["tuner"]["frontier"]
    assert "chosen" in report.summary and "baseline" in report.summary


def test_report_cli(tuned_mlp) -> None:  # type: ignore[no-untyped-def]
    from zkml_cli.tune_commands import register

    @click.group()
    def root() -> None:
        pass

    register(root)
    result, _ = tuned_mlp
    out = CliRunner().invoke(root, ["report", str(result.workspace)])
    assert out.exit_code == 0, out.output
    assert "fidelity on" in out.output and "fidelity_report.png" in out.output


def test_report_without_fidelity_data_says_what_to_run(tmp_path: Path) -> None:
    import pytest

    from zkml.errors import ConfigError
    from zkml.report import write_report

    with pytest.raises(ConfigError, match="zkml compile"):
        write_report(tmp_path)
