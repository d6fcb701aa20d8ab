"""Budget validation, checks and loading (fast, no ezkl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.artifacts import Fidelity
from zkml.errors import ConfigError
from zkml.tune.budget import Budget, load_budget


def _fid(max_abs: float = 0.02, rel: float = 0.01, agreement: float | None = 0.9) -> Fidelity:
    return Fidelity(samples=10, max_abs_error=max_abs, mean_abs_error=max_abs / 2, argmax_agreement=agreement, max_rel_error=rel)


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
    metrics = _fid()
    assert Budget(max_abs_error=0.05, min_agreement=0.9).check(metrics) == (True, "")
    ok, note = Budget(max_abs_error=0.01, min_agreement=0.95).check(metrics)
    assert not ok and "max abs error" in note and "agreement" in note
    ok, note = Budget(max_rel_error=0.001).check(metrics)
    assert not ok and "max rel error" in note
    ok, note = Budget(min_agreement=0.5).check(_fid(agreement=None))
    assert not ok and "not measured" in note


def test_shortfall_ranks_misses() -> None:
    budget = Budget(max_abs_error=0.01)
    assert budget.shortfall(_fid(max_abs=0.005)) == 0.0
    assert budget.shortfall(_fid(max_abs=0.02)) == pytest.approx(1.0)
    assert budget.shortfall(_fid(max_abs=0.04)) > budget.shortfall(_fid(max_abs=0.02))
    assert Budget(min_agreement=0.95).shortfall(_fid(agreement=0.9)) == pytest.approx(5.0)


def test_no_worse_than_is_met_by_its_own_metrics() -> None:
    metrics = _fid(agreement=1.0)
    budget = Budget.no_worse_than(metrics)
    assert budget.check(metrics)[0]
    assert budget.min_agreement == 1.0
    assert Budget.no_worse_than(_fid(agreement=None)).min_agreement is None


def test_describe_and_as_dict() -> None:
    budget = Budget(max_abs_error=0.001, min_agreement=0.99)
    assert budget.describe() == "max abs error <= 0.001, agreement >= 99.00%"
    assert budget.as_dict() == {"max_abs_error": 0.001, "min_agreement": 0.99}
    assert Budget.from_mapping(budget.as_dict()) == budget


def test_from_mapping_rejects_unknown_keys_and_non_numbers() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        Budget.from_mapping({"max_error": 1})
    with pytest.raises(ConfigError, match="numbers"):
        Budget.from_mapping({"max_abs_error": "small"})


def test_load_budget_from_tune_toml(tmp_path: Path) -> None:
    (tmp_path / "tune.toml").write_text("[budget]\nmax_abs_error = 0.001\nmin_agreement = 0.99\n")
    assert load_budget(tmp_path) == Budget(max_abs_error=0.001, min_agreement=0.99)
    (tmp_path / "tune.toml").write_text("[budget]\nmax_error = 1\n")
    with pytest.raises(ConfigError, match="unknown"):
        load_budget(tmp_path)
    (tmp_path / "tune.toml").unlink()
    assert load_budget(tmp_path) is None


def test_tune_toml_wins_over_zkml_toml(tmp_path: Path) -> None:
    (tmp_path / "zkml.toml").write_text("[budget]\nmax_abs_error = 0.5\n")
    assert load_budget(tmp_path) == Budget(max_abs_error=0.5)
    (tmp_path / "tune.toml").write_text("[budget]\nmax_rel_error = 0.01\n")
    assert load_budget(tmp_path) == Budget(max_rel_error=0.01)
    (tmp_path / "tune.toml").write_text("[budget\n")
    with pytest.raises(ConfigError):
        load_budget(tmp_path)


def test_example_circuits_budgets_load() -> None:
    root = Path(__file__).resolve().parents[2] / "circuits"
    for name in ("conv1d_sequence", "gbt_classifier"):
        assert load_budget(root / name) is not None


def test_error_budgets_allow_for_float_differences_between_cpus() -> None:
    """The committed mlp_regressor choice met its budget by 4e-13: a few ulps of onnxruntime must not drop it."""
    budget = Budget(max_abs_error=0.00037807226218837504)
    # Outputs up to ~2.5 (max_rel = max_abs / 2.5): the slack is a few float32 ulps of that scale.
    near = _fid(max_abs=0.00037807226218837504 + 5e-7, rel=(0.00037807226218837504 + 5e-7) / 2.5)
    assert budget.check(near)[0]
    over = _fid(max_abs=0.00038 * 1.05, rel=0.00038 * 1.05 / 2.5)
    ok, why = budget.check(over)
    assert not ok and "max abs error 0.000399 > 0.000378072" in why
    assert not Budget(max_rel_error=0.001).check(_fid(rel=0.0011))[0]
    # Agreement counts samples: compared exactly.
    assert not Budget(min_agreement=0.95).check(_fid(agreement=0.9499))[0]
