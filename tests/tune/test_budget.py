"""Budget validation and loading (fast, no ezkl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.errors import ConfigError
from zkml.tune import Budget, FidelityMetrics, load_budget


def test_budget_needs_a_criterion() -> None:
    with pytest.raises(ConfigError, match="at least one criterion"):
        Budget()


@pytest.mark.parametrize(
    "kwargs", [{"max_abs_error": 0}, {"max_abs_error": -1.0}, {"max_rel_error": float("nan")}, {"min_agreement": 1.5}, {"min_agreement": 0}]
)
def test_budget_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Budget(**kwargs)


def test_budget_is_frozen() -> None:
    budget = Budget(max_abs_error=0.01)
    with pytest.raises(AttributeError):
        budget.max_abs_error = 1.0  # type: ignore[misc]


def test_check_names_the_failing_criterion() -> None:
    metrics = FidelityMetrics(samples=10, max_abs_error=0.02, mean_abs_error=0.01, max_rel_error=0.01, agreement=0.9)
    assert Budget(max_abs_error=0.05, min_agreement=0.9).check(metrics) == (True, "")
    ok, note = Budget(max_abs_error=0.01, min_agreement=0.95).check(metrics)
    assert not ok and "max abs error" in note and "agreement" in note
    ok, note = Budget(min_agreement=0.5).check(FidelityMetrics(1, 0.0, 0.0, 0.0, None))
    assert not ok and "not measured" in note


def test_no_worse_than_is_met_by_its_own_metrics() -> None:
    metrics = FidelityMetrics(samples=10, max_abs_error=0.02, mean_abs_error=0.01, max_rel_error=0.01, agreement=1.0)
    assert Budget.no_worse_than(metrics).check(metrics)[0]


def test_load_budget_from_tune_toml(tmp_path: Path) -> None:
    (tmp_path / "tune.toml").write_text("[budget]\nmax_abs_error = 0.001\nmin_agreement = 0.99\n")
    assert load_budget(tmp_path) == Budget(max_abs_error=0.001, min_agreement=0.99)
    (tmp_path / "tune.toml").write_text("[budget]\nmax_error = 1\n")
    with pytest.raises(ConfigError, match="unknown"):
        load_budget(tmp_path)
    (tmp_path / "tune.toml").unlink()
    assert load_budget(tmp_path) is None


def test_example_circuits_budgets_load() -> None:
    root = Path(__file__).resolve().parents[2] / "circuits"
    for name in ("conv1d_sequence", "gbt_classifier"):
        assert load_budget(root / name) is not None
