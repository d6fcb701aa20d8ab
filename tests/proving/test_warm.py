"""zkml.proving.warm: input collection and naming (no ezkl), then warm proofs of the tiny circuit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from zkml.artifacts import TensorSpec
from zkml.errors import ConfigError, InputDataError, KeysError
from zkml.proving.warm import WarmProver, collect_inputs, freeze_ranges, proof_file, unique_names, with_paths, witness_file

from .conftest import BASE_INPUT, Reference

ONE = (TensorSpec("x", (1, 4)),)
PAIRS = (TensorSpec("x", (2, 4)),)


# -- pure logic -----------------------------------------------------------------------------


def test_a_folder_gives_its_json_files_in_name_order(tmp_path: Path) -> None:
    for name in ("b", "a"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"input_data": [BASE_INPUT]}))
    (tmp_path / "notes.txt").write_text("not an input")
    assert [p.name for p in collect_inputs(tmp_path, ONE, tmp_path / "staging")] == ["a.json", "b.json"]


def test_jsonl_gives_one_file_per_line_objects_or_bare_lists(tmp_path: Path) -> None:
    jsonl = tmp_path / "many.jsonl"
    jsonl.write_text(json.dumps({"input_data": [BASE_INPUT]}) + "\n\n" + json.dumps([BASE_INPUT]) + "\n")
    staged = collect_inputs(jsonl, ONE, tmp_path / "s")
    # Named by line number: the blank line 2 is skipped, not renumbered.
    assert [p.name for p in staged] == ["many-00001.json", "many-00003.json"]
    assert all(json.loads(p.read_text())["input_data"] == [BASE_INPUT] for p in staged)


def test_multi_sample_json_is_split_into_whole_batches(tmp_path: Path) -> None:
    multi = tmp_path / "multi.json"
    multi.write_text(json.dumps({"input_data": [BASE_INPUT * 4]}))
    assert len(collect_inputs(multi, ONE, tmp_path / "s1")) == 4
    assert len(collect_inputs(multi, PAIRS, tmp_path / "s2")) == 2
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"input_data": [BASE_INPUT]}))
    assert collect_inputs(single, ONE, tmp_path / "s3") == [single]  # one batch: proved as it is


def test_bad_sources_are_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(InputDataError, match="bad.jsonl:1"):
        collect_inputs(bad, ONE, tmp_path / "s")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputDataError, match="has no inputs"):
        collect_inputs(empty, ONE, tmp_path / "s")
    with pytest.raises(InputDataError, match="no \\*.json"):
        collect_inputs(tmp_path / "s", ONE, tmp_path / "s2")
    with pytest.raises(InputDataError, match="does not exist"):
        collect_inputs(tmp_path / "missing", ONE, tmp_path / "s2")
    three = tmp_path / "three.json"
    three.write_text(json.dumps({"input_data": [BASE_INPUT * 3]}))
    with pytest.raises(InputDataError, match="not a whole number of batches of 2"):
        collect_inputs(three, PAIRS, tmp_path / "s3")


def test_unique_names_number_only_colliding_stems() -> None:
    assert unique_names([Path("a/x.json"), Path("b/y.json")]) == ["x", "y"]
    assert unique_names([Path("a/x.json"), Path("b/x.json")]) == ["00000-x", "00001-x"]
    assert unique_names([]) == []


def test_output_files_are_named_after_the_input() -> None:
    assert witness_file(Path("out"), "in0") == Path("out/in0.witness.json")
    assert proof_file(Path("out"), "in0") == Path("out/in0.proof.json")


def test_freeze_ranges_makes_json_lists_hashable() -> None:
    frozen = freeze_ranges([([0.0, 1.0], [2.0, 3.0])])
    assert frozen == (((0.0, 1.0), (2.0, 3.0)),)
    assert hash(frozen) is not None
    assert freeze_ranges(None) is None and freeze_ranges([]) is None


def test_with_paths_moves_artifacts_and_keeps_hashes(tiny_spec: Any, tmp_path: Path) -> None:
    moved = with_paths(tiny_spec, compiled=tmp_path / "c", settings=tmp_path / "s", pk=tmp_path / "pk", srs=tmp_path / "srs")
    assert (moved.circuit.path, moved.circuit.settings.path, moved.keys.pk_path, moved.srs.path) == (
        tmp_path / "c",
        tmp_path / "s",
        tmp_path / "pk",
        tmp_path / "srs",
    )
    assert moved.keys.vk_path == tiny_spec.keys.vk_path  # not given: unchanged
    assert (moved.circuit.sha256, moved.keys.pk_sha256, moved.srs.sha256) == (
        tiny_spec.circuit.sha256,
        tiny_spec.keys.pk_sha256,
        tiny_spec.srs.sha256,
    )
    assert moved.batch_size == tiny_spec.batch_size == 1


# -- real proofs ----------------------------------------------------------------------------


def test_serial_warm_proofs_verify_and_differ(serial: Reference, tiny_spec: Any) -> None:
    from zkml.verify import verify

    assert len(serial.results) == 3
    assert all(verify(r.proof, tiny_spec.circuit.settings, tiny_spec.keys, tiny_spec.srs).verified for r in serial.results)
    # Distinct inputs give distinct public instances: order checks elsewhere mean something.
    assert len({json.dumps(i) for i in serial.instances}) == 3
    assert all(r.device == "cpu" and r.prove_seconds > 0 for r in serial.results)
    assert serial.results[0].as_dict()["proof"] == str(serial.results[0].proof.path)


def test_keys_of_another_circuit_are_refused_before_ezkl(tiny_spec: Any, tmp_path: Path) -> None:
    wrong = replace(tiny_spec, keys=replace(tiny_spec.keys, circuit_sha256="0" * 64))
    with pytest.raises(KeysError, match="another circuit"):
        WarmProver(wrong, tmp_path)


def test_a_missing_artifact_is_a_config_error(tiny_spec: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="proving key .* does not exist"):
        WarmProver(with_paths(tiny_spec, pk=tmp_path / "gone.key"), tmp_path)


def test_wrong_sample_count_is_an_input_error(tiny_spec: Any, tmp_path: Path) -> None:
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"input_data": [BASE_INPUT * 2]}))
    with pytest.raises(InputDataError, match="batches of 1"):
        WarmProver(tiny_spec, tmp_path / "out").prove(two)
