"""The tuner with real ezkl: budget met on held-out data, cheaper than the default, unreachable budgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkml.errors import CalibrationError, ConfigError

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"


def test_tuned_mlp_meets_budget_and_is_cheaper(tuned_mlp) -> None:  # type: ignore[no-untyped-def]
    result, events = tuned_mlp
    chosen, baseline = result.chosen, result.baseline
    assert result.reachable and chosen is not None
    assert chosen.meets_budget and chosen.fidelity.max_abs_error <= 4e-4
    assert chosen.fidelity.samples == 128  # the whole held-out file
    assert chosen.verified is True and chosen.prove_seconds > 0 and chosen.prove_peak_rss_bytes > 50 * 2**20
    # Cheaper circuit than ezkl's default, at equal or better fidelity.
    assert chosen.logrows < baseline.logrows
    assert chosen.fidelity.max_abs_error <= baseline.fidelity.max_abs_error * (1 + 1e-9)
    assert {e.phase for e in events} >= {"prepare", "baseline", "search", "prove", "done"}


def test_tuned_json_pins_the_choice(tuned_mlp) -> None:  # type: ignore[no-untyped-def]
    from zkml.tune import read_candidates, read_tuned

    result, _ = tuned_mlp
    pinned = read_tuned(result.workspace)
    assert pinned == {k: v for k, v in result.chosen.pinned().items() if v is not None}
    assert pinned["logrows"] == result.chosen.logrows
    saved = read_candidates(result.workspace / "tune_candidates.json")
    assert len(saved["candidates"]) == len(result.candidates)
    assert saved["candidates"][saved["chosen"]].chosen
    fidelity = json.loads((result.workspace / "tune_fidelity.json").read_text())
    assert len(fidelity["float_outputs"]) == len(fidelity["circuit_outputs"]) == 128


def test_unreachable_budget_names_the_best_found(mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkml.config import load_config
    from zkml.tune import Budget, BudgetUnreachableError, tune
    from zkml.workspace import Workspace

    config = load_config(CIRCUITS / "mlp_regressor")
    with pytest.raises(BudgetUnreachableError) as info:
        # max_seconds=0: baseline and decompositions only, then stop; nothing gets to 1e-9.
        tune(config, Workspace(tmp_path / "ws"), Budget(max_abs_error=1e-9), max_seconds=0)
    exc = info.value
    assert isinstance(exc, CalibrationError)
    assert "no configuration met the budget" in str(exc) and "best found" in str(exc) and "loosen the budget" in str(exc)
    assert exc.result is not None and exc.result.best is not None and not exc.result.reachable
    assert (tmp_path / "ws" / "tune_candidates.json").is_file()
    assert not (tmp_path / "ws" / "tuned.json").exists()


def test_tune_without_holdout_says_what_to_add(tmp_path: Path) -> None:
    from dataclasses import replace

    from zkml.config import load_config
    from zkml.tune import Budget, tune
    from zkml.workspace import Workspace

    config = replace(load_config(CIRCUITS / "mlp_regressor"), holdout=None)
    with pytest.raises(ConfigError, match="holdout"):
        tune(config, Workspace(tmp_path / "ws"), Budget(max_abs_error=1.0))


EXAMPLES = ("mlp_regressor", "cnn_classifier", "gru_forecaster", "tree_ensemble", "conv1d_sequence", "gbt_classifier")


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_tunes_no_worse_and_faster_than_default(name: str, tmp_path: Path) -> None:
    """Budget = the default calibration's own fidelity; the tuned circuit must meet it and prove no slower."""
    from zkml.config import load_config
    from zkml.tune import Budget, measure_baseline, tune
    from zkml.workspace import Workspace

    config = load_config(CIRCUITS / name)
    ws = Workspace(tmp_path / name)
    baseline = measure_baseline(config, ws)
    budget = Budget.no_worse_than(baseline.fidelity)
    result = tune(config, ws, budget, finalists=1, prove_baseline=True)
    chosen = result.chosen
    assert chosen is not None and chosen.verified and budget.check(chosen.fidelity)[0]
    assert chosen.logrows <= result.baseline.logrows
    # Timing noise on 2 shared cores: allow 15 % before calling it slower.
    assert chosen.prove_seconds <= result.baseline.prove_seconds * 1.15


def test_apply_tuned_pins_all_or_nothing(tuned_mlp) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import fields

    from zkml.config import CircuitSettings, load_config
    from zkml.tune import apply_tuned

    result, _ = tuned_mlp
    config = load_config(CIRCUITS / "mlp_regressor")
    applied = apply_tuned(config, result.workspace)
    if {"decomp_base", "decomp_legs", "num_inner_cols"} <= {f.name for f in fields(CircuitSettings)}:
        assert applied.circuit.logrows == result.chosen.logrows
        assert applied.circuit.decomp_base == result.chosen.decomp_base
    else:  # the config does not know every tuned setting yet: nothing is half-applied
        assert applied == config
    # A scale pinned in zkml.toml wins: the tuned combination is not mixed in.
    pinned = config.with_circuit(input_scale=7)
    assert apply_tuned(pinned, result.workspace) == pinned
