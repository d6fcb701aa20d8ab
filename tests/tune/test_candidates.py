"""Knobs, candidates and results: labels, cost order and JSON round trips, old files included (no ezkl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkml.artifacts import Fidelity, Settings
from zkml.errors import ConfigError
from zkml.tune.budget import Budget
from zkml.tune.candidates import Candidate, Knobs, TuneResult, read_candidates


def _candidate(**changes: object) -> Candidate:
    cand = Candidate(
        knobs=Knobs(13, 13, 256, 4, None, 2.0),
        settings_sha256="ab" * 32,
        logrows=11,
        num_rows=1500,
        input_scale=13,
        param_scale=13,
        num_inner_cols=2,
        decomp_base=256,
        decomp_legs=4,
        lookup_range=(-300, 300),
        fidelity=Fidelity(128, 3.8e-4, 1e-4, None, 2e-3),
        meets_budget=True,
        prove_seconds=0.8,
    )
    for key, value in changes.items():
        setattr(cand, key, value)
    return cand


def test_knob_labels() -> None:
    assert Knobs().label() == "sauto b16384x2 c2 m2"
    assert Knobs(13, 13, 256, 4, 4, 1.0).label() == "s13 b256x4 c4 m1"
    assert Knobs(10, 12).label() == "s10/12 b16384x2 c2 m2"
    assert _candidate(role="baseline").label == "default s13 b256x4 c2 m2"


def test_cost_key_orders_logrows_then_columns_then_rows() -> None:
    small = _candidate(logrows=10, num_inner_cols=4)
    wide = _candidate(logrows=11, num_inner_cols=1)
    unknown = _candidate(logrows=None)
    assert sorted([unknown, wide, small], key=Candidate.cost_key) == [small, wide, unknown]
    assert _candidate(num_rows=10).cost_key() < _candidate(num_rows=20).cost_key()


def test_take_settings_records_what_calibration_chose(tmp_path: Path) -> None:
    settings = Settings(
        path=tmp_path / "settings.json",
        sha256="cd" * 32,
        logrows=12,
        input_scales=(9,),
        output_scales=(9,),
        param_scale=10,
        input_visibility="public",
        output_visibility="public",
        param_visibility="fixed",
        num_rows=3000,
        lookup_range=(-5, 7),
        num_inner_cols=1,
        decomp_base=1024,
        decomp_legs=3,
    )
    cand = Candidate(knobs=Knobs())
    cand.take_settings(settings)
    assert (cand.logrows, cand.num_rows, cand.input_scale, cand.param_scale) == (12, 3000, 9, 10)
    assert (cand.decomp_base, cand.decomp_legs, cand.num_inner_cols, cand.lookup_range) == (1024, 3, 1, (-5, 7))
    assert cand.settings_path == str(settings.path) and cand.settings_sha256 == settings.sha256
    assert cand.pinned() == {
        "input_scale": 9,
        "param_scale": 10,
        "logrows": 12,
        "lookup_safety_margin": 2.0,
        "num_inner_cols": 1,
        "decomp_base": 1024,
        "decomp_legs": 3,
    }


def test_candidate_json_round_trip() -> None:
    cand = _candidate(fidelity=Fidelity(64, 0.01, 0.002, 0.97, 0.05))
    data = json.loads(json.dumps(cand.as_dict()))
    assert data["label"] == cand.label
    assert data["fidelity"] == {
        "samples": 64,
        "max_abs_error": 0.01,
        "mean_abs_error": 0.002,
        "argmax_agreement": 0.97,
        "max_rel_error": 0.05,
    }
    assert Candidate.from_dict(data) == cand


def test_candidate_from_an_older_file_with_agreement_key() -> None:
    """tune_candidates.json written before Fidelity replaced the tuner's FidelityMetrics."""
    old = _candidate().as_dict()
    old["fidelity"] = {"samples": 32, "max_abs_error": 0.5, "mean_abs_error": 0.1, "max_rel_error": 0.2, "agreement": 0.75}
    cand = Candidate.from_dict(old)
    assert cand.fidelity == Fidelity(32, 0.5, 0.1, argmax_agreement=0.75, max_rel_error=0.2)
    assert cand.lookup_range == (-300, 300)
    old["fidelity"] = None
    assert Candidate.from_dict(old).fidelity is None


def _result(tmp_path: Path) -> TuneResult:
    baseline = _candidate(role="baseline", logrows=15, meets_budget=False)
    chosen = _candidate(chosen=True)
    failed = _candidate(knobs=Knobs(5, 5), fidelity=None, error="calibration found no settings that fit")
    return TuneResult(Budget(max_abs_error=4e-4), baseline, [baseline, chosen, failed], chosen, chosen, True, 12.345, tmp_path, "chose it")


def test_result_json_points_at_candidates_by_index(tmp_path: Path) -> None:
    data = _result(tmp_path).as_dict()
    assert (data["baseline"], data["chosen"], data["best"]) == (0, 1, 1)
    assert data["seconds"] == 12.35 and data["budget"] == {"max_abs_error": 4e-4}
    assert len(data["candidates"]) == 3


def test_read_candidates(tmp_path: Path) -> None:
    path = tmp_path / "tune_candidates.json"
    result = _result(tmp_path)
    path.write_text(json.dumps(result.as_dict()))
    saved = read_candidates(path)
    assert saved["candidates"] == result.candidates
    assert saved["candidates"][saved["chosen"]].chosen
    path.write_text("{}")
    with pytest.raises(ConfigError, match="not a tuner result"):
        read_candidates(path)
    with pytest.raises(ConfigError, match="run zkml tune"):
        read_candidates(tmp_path / "missing.json")
