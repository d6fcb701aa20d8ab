"""Warm proving and the local process pool, with real ezkl proofs of the tiny circuit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from zkml.errors import InputDataError, KeysError
from zkml.prover import ProverPool, WarmProver, collect_inputs, public_instances

from .conftest import BASE_INPUT, Reference, check_same_as_serial
from .faults import KillOnce


def test_serial_warm_proofs_verify_and_differ(serial: Reference, tiny_spec: Any) -> None:
    from zkml.verify import verify

    assert len(serial.results) == 3
    assert all(verify(r.proof, tiny_spec.circuit.settings, tiny_spec.keys, tiny_spec.srs).verified for r in serial.results)
    # Distinct inputs give distinct public instances: order checks below mean something.
    assert len({json.dumps(i) for i in serial.instances}) == 3
    assert all(r.device == "cpu" and r.prove_seconds > 0 for r in serial.results)


def test_keys_of_another_circuit_are_refused_before_ezkl(tiny_spec: Any, tmp_path: Path) -> None:
    wrong = replace(tiny_spec, keys=replace(tiny_spec.keys, circuit_sha256="0" * 64))
    with pytest.raises(KeysError, match="another circuit"):
        WarmProver(wrong, tmp_path)
    with pytest.raises(KeysError, match="another circuit"):
        ProverPool(wrong, tmp_path)


def test_wrong_sample_count_is_an_input_error(tiny_spec: Any, tmp_path: Path) -> None:
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"input_data": [BASE_INPUT * 2]}))
    with pytest.raises(InputDataError, match="batches of 1"):
        WarmProver(tiny_spec, tmp_path / "out").prove(two)


def test_collect_inputs_from_folder_jsonl_and_multi_sample_json(tiny_spec: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    for name in ("b", "a"):
        (folder / f"{name}.json").write_text(json.dumps({"input_data": [BASE_INPUT]}))
    assert [p.name for p in collect_inputs(folder, tiny_spec.inputs, tmp_path / "s1")] == ["a.json", "b.json"]

    jsonl = tmp_path / "many.jsonl"
    jsonl.write_text(json.dumps({"input_data": [BASE_INPUT]}) + "\n\n" + json.dumps([BASE_INPUT]) + "\n")
    staged = collect_inputs(jsonl, tiny_spec.inputs, tmp_path / "s2")
    assert len(staged) == 2 and all(json.loads(p.read_text())["input_data"] == [BASE_INPUT] for p in staged)

    multi = tmp_path / "multi.json"
    multi.write_text(json.dumps({"input_data": [BASE_INPUT * 3]}))
    assert len(collect_inputs(multi, tiny_spec.inputs, tmp_path / "s3")) == 3

    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(InputDataError, match="bad.jsonl:1"):
        collect_inputs(bad, tiny_spec.inputs, tmp_path / "s4")
    with pytest.raises(InputDataError, match="no \\*.json"):
        collect_inputs(tmp_path / "s4", tiny_spec.inputs, tmp_path / "s5")


def test_pool_returns_the_serial_proofs_in_order_and_retries_a_killed_worker(
    tiny_spec: Any, tiny_inputs: list[Path], serial: Reference, tmp_path: Path
) -> None:
    hook = KillOnce(tmp_path / "faults", target=1)
    with ProverPool(tiny_spec, tmp_path / "out", workers=2, before_prove=hook) as pool:
        results = pool.prove_many(tiny_inputs)
        assert pool.restarts == 1
    check_same_as_serial(results, serial, tiny_spec)
    assert (tmp_path / "faults" / "killed").exists()
    assert hook.calls(1) == 2
    assert results[1].attempt == 2
    assert len({r.worker for r in results}) >= 2  # the retried job ran in a new process
    assert public_instances(results[1].proof) == serial.instances[1]
