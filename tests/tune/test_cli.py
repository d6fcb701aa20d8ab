"""`zkml tune` / `zkml report` through click, with the root group's error handling."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"


@pytest.fixture()
def root():  # type: ignore[no-untyped-def]
    """The root group (the real ZkmlGroup class, which loads tune and report on first use)."""
    from zkml_cli.main import cli

    return cli


def test_tune_without_budget_says_how_to_give_one(root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(root, ["tune", str(CIRCUITS / "mlp_regressor"), "--build-dir", str(tmp_path)])
    assert out.exit_code == 2
    assert "no accuracy budget" in out.output and "--max-abs-error" in out.output


def test_tune_rejects_an_invalid_budget(root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(root, ["tune", str(CIRCUITS / "mlp_regressor"), "--min-agreement", "1.5", "--build-dir", str(tmp_path)])
    assert out.exit_code == 2 and "min_agreement" in out.output


def test_tune_unreachable_budget_exits_with_the_best_found(root, mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    build = tmp_path / "build"
    args = ["tune", str(CIRCUITS / "mlp_regressor"), "--build-dir", str(build), "--max-abs-error", "1e-9", "--max-seconds", "0"]
    out = CliRunner().invoke(root, args)
    assert out.exit_code == 2, out.output
    assert "error: no configuration met the budget" in out.output and "best found" in out.output
    # The report of what was tried is still written.
    assert (build / "mlp_regressor" / "fidelity_report.png").is_file()
