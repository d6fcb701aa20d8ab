"""benchmarks.backends and benchmarks.backends_halo2: the power filter, row assembly, samples and the halo2 fallback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.backends import RunOptions, assemble_rows, power_skip, ptau_cached, selected, split_samples
from benchmarks.backends_halo2 import jittered, measured_or_cited, write_samples_file
from zkml.circom.support import BackendVerdict


def test_power_skip_says_why_a_setup_is_not_made() -> None:
    options = RunOptions(max_power=15, max_fflonk_power=16)
    assert power_skip("groth16", 15, options, cached=True) is None
    assert power_skip("groth16", 16, options, cached=True) == "needs powers of tau 2^16, above the run's --max-power 2^15"
    missing = power_skip("plonk", 13, options, cached=False)
    assert missing is not None and "prepared development ptau 2^13 is not cached" in missing
    fflonk = power_skip("fflonk", 14, options, cached=False)
    assert fflonk is not None and "prepared" not in fflonk
    # FFLONK has its own cap (its unprepared ptau is cheap to make, at 8x PLONK's power).
    assert power_skip("fflonk", 16, options, cached=True) is None
    assert power_skip("fflonk", 17, options, cached=True) == "needs powers of tau 2^17, above the run's --max-fflonk-power 2^16"
    # --make-ptau generates a missing file, but never goes above --max-power.
    assert power_skip("plonk", 13, RunOptions(max_power=15, make_ptau=True), cached=False) is None
    assert power_skip("plonk", 16, RunOptions(max_power=15, make_ptau=True), cached=False) is not None


def _touch_ptau(stem: str) -> None:
    from zkml.circom.ptau import ptau_dir

    ptau_dir().mkdir(parents=True, exist_ok=True)
    for suffix in (".ptau", ".json"):
        (ptau_dir() / f"{stem}{suffix}").write_text("x")


def test_ptau_cached_reads_the_file_each_system_needs() -> None:
    # The session's private cache (tests/conftest.py): powers far above what any test generates.
    _touch_ptau("pot19.dev.powers")
    assert ptau_cached(19, "fflonk")
    assert not ptau_cached(19, "groth16") and not ptau_cached(19, "plonk")  # the unprepared file is FFLONK's only
    _touch_ptau("pot18.dev")
    assert ptau_cached(18, "groth16") and ptau_cached(18, "plonk") and ptau_cached(18, "fflonk")
    from zkml.circom.ptau import ptau_dir

    (ptau_dir() / "pot18.dev.json").unlink()  # a file without its provenance record is not the cached ptau
    assert not ptau_cached(18, "groth16")


def test_assemble_rows_takes_the_verdict_and_what_zkml_proved() -> None:
    circom = [{"model": "m", "backend": "groth16", "takes": "yes"}]
    ok = assemble_rows("m", "corpus", BackendVerdict("halo2", True), {"proved_by_zkml": True, "prove_s": 1.5}, circom)
    assert [r["backend"] for r in ok] == ["halo2", "groth16"]
    assert ok[0]["takes"] == "yes" and ok[0]["prove_s"] == 1.5 and "proved_by_zkml" not in ok[0]
    assert {r["source"] for r in ok} == {"corpus"}

    refused = BackendVerdict("halo2", False, "ezkl cannot compile node0 (Equal)")
    rewritten = assemble_rows("m", "corpus", refused, {"proved_by_zkml": True}, [])
    assert rewritten[0]["takes"] == "yes: zkml's export rewrites the raw graph's refusal (ezkl cannot compile node0 (Equal))"
    unproved = assemble_rows("m", "corpus", refused, {"proved_by_zkml": False}, [])
    assert unproved[0]["takes"] == "no: ezkl cannot compile node0 (Equal)"
    assert "proved_by_zkml" not in unproved[0]


def test_selected_filters_by_name_in_order_and_refuses_unknown_names() -> None:
    examples, corpus = ["a_example", "b_example"], ["c_model", "d_model"]
    assert selected(None, examples, corpus) == (examples, corpus)
    assert selected(["d_model", "b_example"], examples, corpus) == (["b_example"], ["d_model"])
    with pytest.raises(SystemExit, match="nope"):
        selected(["nope"], examples, corpus)


def test_jittered_samples_are_the_circom_rows_and_a_valid_input_file(tmp_path: Path) -> None:
    samples = jittered([[1.0, -2.0, 0.5]], 4)
    assert len(samples) == 5 and samples[0] == [[1.0, -2.0, 0.5]]
    assert jittered([[1.0, -2.0, 0.5]], 4) == samples  # seeded
    assert samples[1] != samples[0]
    two = jittered([[1.0, -2.0], [3.0]], 2)
    assert [len(part) for part in two[1]] == [2, 1] and two[0] == [[1.0, -2.0], [3.0]]
    path = write_samples_file(tmp_path / "holdout.json", two)
    per_input = json.loads(path.read_text())["input_data"]
    assert per_input[1] == [sample[1][0] for sample in two]
    assert split_samples([per_input[0]], 2) == [sample[0] for sample in two]


def test_a_failed_halo2_measurement_falls_back_to_the_cited_figures(tmp_path: Path) -> None:
    from zkml.config import config_for_onnx

    config = config_for_onnx(tmp_path / "absent" / "network.onnx")
    cited = {"proved_by_zkml": True, "prove_s": 0.5, "measured": "cited: corpus.json (x)"}
    unreached = SimpleNamespace(url="http://127.0.0.1:9")  # the export fails first: no chain is reached
    row = measured_or_cited(config, tmp_path / "ws", tmp_path / "holdout.json", unreached, cited)
    assert row["prove_s"] == 0.5 and row["proved_by_zkml"] is True
    assert row["measured"].startswith("cited: corpus.json (x); halo2 measurement failed: ")
    assert "does not exist" in row["measured"]


def test_the_settings_cell_names_scales_logrows_and_their_origin() -> None:
    from benchmarks.backends_halo2 import _settings_cell

    same = SimpleNamespace(input_scales=(13,), param_scale=13, logrows=15)
    assert _settings_cell(same, "default (ezkl calibration)") == "scale 13, logrows 15, default settings"
    mixed = SimpleNamespace(input_scales=(7, 7), param_scale=9, logrows=11)
    assert _settings_cell(mixed, "tuned (logrows 11)") == "scale 7/7, params 9, logrows 11, tuned settings"


@pytest.mark.slow
def test_the_halo2_row_is_measured_through_zkml_on_a_local_anvil(tmp_path: Path) -> None:
    """The real path: ezkl keys and proof, solc, a verify transaction mined on anvil, fidelity on the given samples."""
    from tests.helpers import TINY_CIRCUIT, make_tiny_onnx
    from zkml.config import config_for_onnx
    from zkml.evm.anvil import local_anvil
    from zkml.evm.rpc import connect

    onnx = make_tiny_onnx(tmp_path / "tiny" / "network.onnx")
    (tmp_path / "tiny" / "input.json").write_text(json.dumps({"input_data": [[0.5, -1.0, 0.25, 2.0]]}))
    samples = write_samples_file(tmp_path / "holdout.json", jittered([[0.5, -1.0, 0.25, 2.0]], 5))
    config = config_for_onnx(onnx, input_path=tmp_path / "tiny" / "input.json").with_circuit(input_scale=13, param_scale=13, **TINY_CIRCUIT)
    config = replace(config, backend="auto")  # the halo2 row measures halo2 alone, whatever [circuit] backend says
    with local_anvil() as node:
        row = measured_or_cited(config, tmp_path / "ws", samples, connect(node.url), {"measured": "cited"})
    assert row["measured"] == "this run (scale 13, logrows 11, default settings)", row["measured"]
    assert row["samples"] == 6 and 0 <= row["fidelity"] < 0.01
    assert row["prove_s"] > 0 and row["key_bytes"] > 0 and row["verifier_kind"] == "plain"
    assert isinstance(row["verify_gas"], int) and row["verify_gas"] > 21_000
    assert "backend" not in row["stage_s"] and row["stage_s"]["prove"] == row["prove_s"]


def test_a_model_that_cannot_be_built_gets_a_row_and_the_run_goes_on() -> None:
    from benchmarks.backends import _guarded

    def broken() -> list[dict[str, str]]:
        raise FileNotFoundError("no such circuit folder")

    assert _guarded("m", "example", broken) == [
        {"model": "m", "source": "example", "backend": "-", "takes": "not built: no such circuit folder"}
    ]
    assert _guarded("m", "example", lambda: [{"model": "m"}]) == [{"model": "m"}]


def test_the_fidelity_line_names_models_where_circom_and_halo2_differ() -> None:
    from benchmarks.backends import fidelity_line

    rows = [
        {"model": "a", "backend": "halo2", "fidelity": 0.001},
        {"model": "a", "backend": "groth16", "fidelity": 0.001},
        {"model": "b", "backend": "halo2", "fidelity": 0.001},
        {"model": "b", "backend": "groth16", "fidelity": 0.002},
    ]
    line = fidelity_line(rows, ["a", "b"])
    assert "equals halo2's on 1 of the 2 models" in line and "b (0.002 against halo2's 0.001)" in line
