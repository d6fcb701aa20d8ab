"""The search: its order and choice on a fake workbench (no ezkl), then the real thing on mlp_regressor."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from zkml.artifacts import Fidelity
from zkml.config import CircuitConfig, CircuitSettings
from zkml.errors import BudgetUnreachableError, CalibrationError, ConfigError
from zkml.tune import search
from zkml.tune.budget import Budget
from zkml.tune.candidates import Candidate, Knobs, TuneEvent
from zkml.workspace import Layout

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"


@dataclass
class FakeBench:
    """Stands in for zkml.tune.workbench.Workbench: a made-up circuit whose cost and error follow the knobs.

    Error halves with each scale bit; logrows follow the range-check table (base) or the
    scale's lookup table, whichever is larger; 4 inner columns save a row bit.
    """

    config: CircuitConfig
    ws: Any
    budget: Budget
    samples: int
    default_scale: int = 13
    mock_fails: frozenset[int] = frozenset()
    prove_factor: dict[int, float] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    tried: list[Knobs] = field(default_factory=list)
    written: list[Any] = field(default_factory=list)
    conn: Any = None

    def prepare(self) -> None:
        pass

    def evaluate(self, knobs: Knobs, role: str = "search") -> Candidate:
        self.tried.append(knobs)
        for cand in self.candidates:
            if cand.knobs == knobs:
                return cand
        scale = knobs.input_scale if knobs.input_scale is not None else self.default_scale
        base, legs, cols = knobs.decomp_base or 16384, knobs.decomp_legs or 2, knobs.num_inner_cols or 2
        table = max(base, 2 ** (scale - 3)) * knobs.lookup_safety_margin
        cand = Candidate(knobs=knobs, role=role, input_scale=scale, param_scale=scale, decomp_base=base, decomp_legs=legs)
        cand.num_inner_cols, cand.num_rows, cand.lookup_range = cols, 100 * legs, (-10, 10)
        cand.logrows = int(table).bit_length() - (1 if cols == 4 else 0)
        cand.settings_sha256 = hashlib.sha256(repr((scale, base, legs, cols, knobs.lookup_safety_margin)).encode()).hexdigest()
        error = 2.0**-scale
        cand.fidelity = Fidelity(self.samples, error, error / 2, None, error)
        cand.meets_budget, cand.budget_note = self.budget.check(cand.fidelity)
        self.candidates.append(cand)
        return cand

    def mock(self, cand: Candidate) -> bool:
        cand.mock_ok = cand.decomp_base not in self.mock_fails
        if not cand.mock_ok:
            cand.error = "constraints not satisfied"
        return cand.mock_ok

    def prove(self, cand: Candidate, conn: Any = None) -> None:
        assert cand.logrows is not None
        cand.prove_seconds = 2.0 ** (cand.logrows - 10) * self.prove_factor.get(cand.decomp_base or 0, 1.0)
        cand.prove_peak_rss_bytes = 100 * 2**20
        cand.verified = True

    def write_outputs(self, result: Any) -> None:
        self.written.append(result)


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, budget: Budget, **options: Any) -> tuple[Any, FakeBench, list[TuneEvent]]:
    bench_options = {k: options.pop(k) for k in ("default_scale", "mock_fails", "prove_factor") if k in options}
    benches: list[FakeBench] = []

    def make(config: CircuitConfig, ws: Any, budget: Budget, samples: int, **kw: Any) -> FakeBench:
        benches.append(FakeBench(config, ws, budget, samples, **bench_options))
        return benches[0]

    monkeypatch.setattr(search, "Workbench", make)
    config = CircuitConfig(name="fake", root=tmp_path, onnx=tmp_path / "fake.onnx", circuit=CircuitSettings())
    events: list[TuneEvent] = []
    result = search.tune(config, Layout(tmp_path), budget, progress=events.append, raise_unreachable=False, **options)  # type: ignore[arg-type]
    return result, benches[0], events


def test_search_order_baseline_decompositions_then_scale_ladder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, bench, events = _run(monkeypatch, tmp_path, Budget(max_abs_error=2.0**-9))
    labels = [k.label() for k in bench.tried]
    assert labels[:4] == ["sauto b16384x2 c2 m2", "s13 b256x4 c2 m2", "s13 b1024x3 c2 m2", "s13 b4096x3 c2 m2"]
    # Down the ladder in steps of 2 with the two cheapest decompositions (fewer rows first), until a scale misses (s7 > 2**-9).
    ladder = [label for label in labels[4:] if " c2 m2" in label]
    assert ladder == ["s11 b1024x3 c2 m2", "s11 b256x4 c2 m2", "s9 b1024x3 c2 m2", "s9 b256x4 c2 m2", "s7 b1024x3 c2 m2", "s7 b256x4 c2 m2"]
    # Then columns and a tighter margin on the two cheapest that meet the budget.
    assert labels[10:] == [
        "s11 b256x4 c1 m2",
        "s11 b256x4 c4 m2",
        "s9 b256x4 c1 m2",
        "s9 b256x4 c4 m2",
        "s11 b256x4 c4 m1",
        "s9 b256x4 c4 m1",
    ]
    assert result.reachable and result.chosen is not None and result.chosen.chosen
    # s11 and s9 prove alike (same logrows): the smaller circuit, then the better fidelity wins.
    assert result.chosen.meets_budget and result.chosen.label == "s11 b256x4 c4 m1"
    assert result.baseline.role == "baseline" and not result.baseline.chosen
    assert bench.written == [result]
    assert [e.phase for e in events][:2] == ["prepare", "baseline"] and events[-1].phase == "done"
    assert events[-1].message == result.message and result.message.startswith("chose s11 b256x4 c4 m1: logrows 8 (default 16)")


def test_scales_go_up_when_the_default_misses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, bench, _ = _run(monkeypatch, tmp_path, Budget(max_abs_error=2.0**-12.5), default_scale=11)
    scales = [k.input_scale for k in bench.tried[1:]]
    # s11 misses, so does s9 (down stops at once); up from s13 to the largest scale, all meeting the budget.
    assert scales == [11, 11, 11, 9, 9, 13, 13, 15, 15, 17, 17] + scales[11:]
    assert result.chosen is not None and result.chosen.input_scale == 13


def test_max_seconds_zero_stops_after_the_decompositions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, bench, _ = _run(monkeypatch, tmp_path, Budget(max_abs_error=2.0**-9), max_seconds=0)
    assert len(result.candidates) == 4 and result.reachable  # finalists are still proved


def test_mock_failures_are_skipped_not_chosen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, _, events = _run(monkeypatch, tmp_path, Budget(max_abs_error=2.0**-9), mock_fails=frozenset({256}))
    assert result.chosen is not None and result.chosen.decomp_base != 256
    assert any("rejected, constraints not satisfied" in e.message for e in events if e.phase == "prove")


def test_unreachable_budget_names_the_closest_miss(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, bench, _ = _run(monkeypatch, tmp_path, Budget(max_abs_error=1e-12), max_seconds=0)
    assert not result.reachable and result.chosen is None
    assert result.best is not None and result.best.fidelity is not None
    assert result.best.fidelity.max_abs_error == min(c.fidelity.max_abs_error for c in result.candidates if c.fidelity)
    assert "no configuration met the budget" in result.message and "best found" in result.message
    assert bench.written == [result]


def test_unreachable_budget_raises_with_the_result(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(search, "Workbench", lambda config, ws, budget, samples, **kw: FakeBench(config, ws, budget, samples))
    config = CircuitConfig(name="fake", root=tmp_path, onnx=tmp_path / "fake.onnx")
    with pytest.raises(BudgetUnreachableError) as info:
        search.tune(config, Layout(tmp_path), Budget(max_abs_error=1e-12), max_seconds=0)  # type: ignore[arg-type]
    assert isinstance(info.value, CalibrationError)
    assert info.value.result is not None and info.value.result.best is not None
    assert "loosen the budget" in str(info.value) and "tune_candidates.json" in str(info.value)


def test_failing_default_calibration_stops_the_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Failing(FakeBench):
        def evaluate(self, knobs: Knobs, role: str = "search") -> Candidate:
            cand = Candidate(knobs=knobs, role=role, error="calibration found no settings that fit")
            self.candidates.append(cand)
            return cand

    monkeypatch.setattr(search, "Workbench", lambda config, ws, budget, samples, **kw: Failing(config, ws, budget, samples))
    config = CircuitConfig(name="fake", root=tmp_path, onnx=tmp_path / "fake.onnx")
    with pytest.raises(CalibrationError, match="default calibration failed"):
        search.tune(config, Layout(tmp_path), Budget(max_abs_error=1.0))  # type: ignore[arg-type]


def _proved(label: str, seconds: float, logrows: int, cols: int = 2, error: float = 1e-3, role: str = "search") -> Candidate:
    return Candidate(
        knobs=Knobs(int(label), int(label)),
        role=role,
        logrows=logrows,
        num_inner_cols=cols,
        prove_seconds=seconds,
        fidelity=Fidelity(8, error, error, None, error),
        meets_budget=True,
        verified=True,
    )


def test_pick_never_takes_a_slower_candidate_than_one_measured() -> None:
    assert search._pick([]) is None
    fast_big, slow_small = _proved("1", 1.00, 12), _proved("2", 1.08, 11)
    # Fewer logrows but measured slower: the faster one wins (issue 12's 3-layer conv).
    assert search._pick([fast_big, slow_small]) is fast_big
    assert search._pick([slow_small, fast_big]) is fast_big
    # Exact tie in time: the smaller circuit, then the better fidelity.
    tie_small = _proved("3", 1.00, 10)
    assert search._pick([fast_big, tie_small]) is tie_small
    precise = _proved("4", 1.00, 12, error=1e-5)
    assert search._pick([fast_big, precise]) is precise


def test_pick_takes_the_baseline_when_it_was_measured_faster() -> None:
    tuned = _proved("1", 6.6, 15)
    baseline = _proved("2", 5.5, 16, role="baseline")
    assert search._pick([tuned], baseline) is baseline
    # A baseline that misses the budget, did not verify or was not proved is never chosen.
    for change in ({"meets_budget": False}, {"verified": False}, {"prove_seconds": None}):
        other = _proved("2", 5.5, 16, role="baseline")
        for key, value in change.items():
            setattr(other, key, value)
        assert search._pick([tuned], other) is tuned


def test_pick_skips_candidates_that_did_not_verify_or_miss_the_budget() -> None:
    good, unverified, missing = _proved("1", 2.0, 12), _proved("2", 1.0, 11), _proved("3", 0.5, 10)
    unverified.verified = False
    missing.meets_budget = False
    assert search._pick([good, unverified, missing]) is good


def test_distinct_settings_keeps_the_first_of_each() -> None:
    a, b, c = (Candidate(knobs=Knobs(s, s), settings_sha256=sha) for s, sha in ((1, "x"), (2, "x"), (3, "y")))
    assert search._distinct_settings([a, b, c]) == [a, c]


# -- with ezkl -------------------------------------------------------------------------------


def test_tuned_mlp_meets_budget_and_is_cheaper(tuned_mlp) -> None:  # type: ignore[no-untyped-def]
    result, events = tuned_mlp
    chosen, baseline = result.chosen, result.baseline
    assert result.reachable and chosen is not None
    assert chosen.meets_budget and chosen.fidelity.max_abs_error <= 4e-4
    assert chosen.fidelity.samples == 128  # the whole held-out file
    assert chosen.verified is True and chosen.prove_seconds > 0 and chosen.prove_peak_rss_bytes > 50 * 2**20
    # Measured on a real anvil: its own verifier's size (under EIP-170 for this small circuit) and verify gas.
    assert chosen.verify_gas is not None and chosen.verify_gas > 200_000
    assert chosen.verifier_runtime_bytes is not None and chosen.over_eip170 is False
    assert chosen.setup_peak_rss_bytes and chosen.pk_bytes and chosen.pk_bytes > 1_000_000
    # Cheaper circuit than ezkl's default, at equal or better fidelity.
    assert chosen.logrows < baseline.logrows
    assert chosen.fidelity.max_abs_error <= baseline.fidelity.max_abs_error * (1 + 1e-9)
    assert {e.phase for e in events} >= {"prepare", "baseline", "search", "prove", "done"}
    # Proving leaves no keys behind (100+ MB each).
    assert not list(Layout(result.workspace).tune_dir.rglob("pk.key"))


def test_tuned_outputs_are_written(tuned_mlp) -> None:  # type: ignore[no-untyped-def]
    from zkml.tune import read_candidates, read_tuned

    result, _ = tuned_mlp
    layout = Layout(result.workspace)
    pinned = read_tuned(result.workspace)
    assert pinned == {k: v for k, v in result.chosen.pinned().items() if v is not None}
    assert pinned["logrows"] == result.chosen.logrows
    tuned = json.loads(layout.tuned.read_text())
    assert tuned["fidelity"] == result.chosen.fidelity.as_dict()
    saved = read_candidates(layout.tune_candidates)
    assert len(saved["candidates"]) == len(result.candidates)
    assert saved["candidates"][saved["chosen"]].chosen
    fidelity = json.loads(layout.tune_fidelity.read_text())
    assert len(fidelity["float_outputs"]) == len(fidelity["circuit_outputs"]) == 128
    assert fidelity["max_abs_error"] == result.chosen.fidelity.max_abs_error and "max_rel_error" in fidelity
    assert result.files == {"candidates": str(layout.tune_candidates), "fidelity": str(layout.tune_fidelity), "tuned": str(layout.tuned)}


def test_apply_tuned_pins_the_choice(tuned_mlp) -> None:  # type: ignore[no-untyped-def]
    from zkml.config import load_config
    from zkml.tune import apply_tuned

    result, _ = tuned_mlp
    config = load_config(CIRCUITS / "mlp_regressor")
    applied = apply_tuned(config, result.workspace)
    assert applied.circuit.logrows == result.chosen.logrows
    assert applied.circuit.decomp_base == result.chosen.decomp_base
    # A scale pinned in zkml.toml wins: the tuned combination is not mixed in.
    pinned = config.with_circuit(input_scale=7)
    assert apply_tuned(pinned, result.workspace) == pinned


def test_unreachable_budget_with_ezkl(mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.tune import Budget, BudgetUnreachableError, tune
    from zkml.workspace import Workspace

    config = load_config(CIRCUITS / "mlp_regressor")
    with pytest.raises(BudgetUnreachableError) as info:
        # max_seconds=0: baseline and decompositions only, then stop; nothing gets to 1e-9.
        tune(Pipeline(config, Workspace(tmp_path / "ws")), Budget(max_abs_error=1e-9), max_seconds=0)
    exc = info.value
    assert "no configuration met the budget" in str(exc) and "best found" in str(exc)
    assert exc.result is not None and exc.result.best is not None and not exc.result.reachable
    assert (tmp_path / "ws" / "tune_candidates.json").is_file()
    assert (tmp_path / "ws" / "tune_fidelity.json").is_file()
    assert not (tmp_path / "ws" / "tuned.json").exists()


def test_tune_with_a_missing_holdout_file_says_what_to_fix(tmp_path: Path) -> None:
    from dataclasses import replace

    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.tune import Budget, tune
    from zkml.workspace import Workspace

    config = replace(load_config(CIRCUITS / "mlp_regressor"), holdout=tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="holdout"):
        tune(Pipeline(config, Workspace(tmp_path / "ws")), Budget(max_abs_error=1.0))
