"""Keys, proving and verification on real ezkl artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import flip_proof_byte
from zkml.circuit import compile_circuit
from zkml.errors import KeysError, SrsError
from zkml.keys import load_keys, setup_keys
from zkml.prove import load_proof, prove
from zkml.srs import generate_dev_srs
from zkml.verify import verify

from .conftest import ProvedCircuit


def test_example_proves_and_verifies(mlp: ProvedCircuit) -> None:
    summary = mlp.summary
    assert summary.verified is True  # type: ignore[attr-defined]
    assert summary.proof_bytes and summary.proof_bytes > 1000  # type: ignore[attr-defined]
    # circuits/mlp_regressor/tuned.json is used by default (issue 12).
    committed = json.loads((Path(__file__).resolve().parents[1] / "circuits" / "mlp_regressor" / "tuned.json").read_text())
    assert summary.logrows == committed["circuit"]["logrows"]  # type: ignore[attr-defined]
    fidelity = summary.fidelity  # type: ignore[attr-defined]
    assert fidelity is not None and fidelity.samples > 10 and fidelity.max_abs_error < 0.05


def test_flipped_byte_fails_verification(mlp: ProvedCircuit, tmp_path: Path) -> None:
    p = mlp.pipeline
    bad = tmp_path / "bad.json"
    flip_proof_byte(p.ws.path("proof.json"), bad, index=100)  # type: ignore[attr-defined]
    result = verify(load_proof(bad), p.compile().settings, p.keys(), p.srs())  # type: ignore[attr-defined]
    assert result.verified is False
    assert result.reason


def test_altered_public_output_fails_verification(mlp: ProvedCircuit, tmp_path: Path) -> None:
    p = mlp.pipeline
    data = json.loads(p.ws.path("proof.json").read_text())  # type: ignore[attr-defined]
    instance = data["instances"][0][-1]
    data["instances"][0][-1] = format((int(instance[:2], 16) ^ 1), "02x") + instance[2:]
    bad = tmp_path / "altered.json"
    bad.write_text(json.dumps(data))
    result = verify(load_proof(bad), p.compile().settings, p.keys(), p.srs())  # type: ignore[attr-defined]
    assert result.verified is False
    assert "not satisfied" in result.reason


def test_keys_of_another_circuit_are_refused(mlp: ProvedCircuit, tiny: ProvedCircuit) -> None:
    # ezkl 23 aborts the whole process (100 GB allocation) on a mismatched pk; zkml must stop first.
    p, other = mlp.pipeline, tiny.pipeline
    with pytest.raises(KeysError, match="made for another circuit"):
        prove(p.witness(), p.compile(), other.keys(), p.srs(), Path("never-written.json"))  # type: ignore[attr-defined]
    assert not Path("never-written.json").exists()


def test_changed_key_file_is_detected(mlp: ProvedCircuit, tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    for name in ("pk.key", "vk.key", "keys.json"):
        shutil.copyfile(mlp.workspace / name, folder / name)
    load_keys(folder)
    with (folder / "vk.key").open("r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(KeysError, match="changed since setup"):
        load_keys(folder)


def test_too_small_srs_is_refused(tiny: ProvedCircuit, tmp_path: Path) -> None:
    p = tiny.pipeline
    small = generate_dev_srs(8)
    circuit = compile_circuit(p.export(), p.calibrate(), tmp_path / "c.compiled")  # type: ignore[attr-defined]
    with pytest.raises(SrsError, match="has logrows 8, the circuit needs"):
        setup_keys(circuit, small, tmp_path)
    assert not (tmp_path / "pk.key").exists()


# -- issue 22 (item 5): an input is checked whole before anything in the workspace is written


def _hashes(folder: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _mlp_input() -> list[float]:
    path = Path(__file__).resolve().parents[1] / "circuits" / "mlp_regressor" / "input.json"
    return [float(v) for v in json.loads(path.read_text())["input_data"][0]]


def _bad_inputs() -> dict[str, str]:
    good = _mlp_input()
    far = [1e12, *good[1:]]
    return {
        "out_of_range": json.dumps({"input_data": [far]}),
        "padding_key": json.dumps({"input_data": [good], "padding": "x" * 2000}),
        "oversize": json.dumps({"input_data": [good]}) + " " * 5000,
        "two_samples": json.dumps({"input_data": [good + good]}),
        "wrong_shape": json.dumps({"input_data": [good[:5]]}),
        "nan": json.dumps({"input_data": [[float("nan"), *good[1:]]]}),
        "string": json.dumps({"input_data": [[str(good[0]), *good[1:]]]}),
    }


@pytest.mark.parametrize("kind", sorted(_bad_inputs()))
def test_bad_input_leaves_every_workspace_file_byte_identical(
    mlp: ProvedCircuit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from zkml.errors import InputDataError
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    monkeypatch.setenv("ZKML_MAX_INPUT_BYTES", "4096")
    ws = tmp_path / "mlp_regressor"
    shutil.copytree(mlp.workspace, ws)
    bad = tmp_path / f"{kind}.json"
    bad.write_text(_bad_inputs()[kind])
    before = _hashes(ws)
    with pytest.raises(InputDataError, match=str(bad)) as info:
        Pipeline(mlp.pipeline.config, Workspace(ws), input_path=bad).prove()  # type: ignore[attr-defined]
    assert "\n" not in str(info.value)
    assert _hashes(ws) == before


@pytest.mark.parametrize("form", ["bare_list", "nested"])
def test_issue21_inputs_are_normalised_and_proved(mlp: ProvedCircuit, tmp_path: Path, form: str) -> None:
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    values = _mlp_input()
    given = tmp_path / f"{form}.json"
    given.write_text(json.dumps(values if form == "bare_list" else {"input_data": [[values]]}))
    ws = tmp_path / "mlp_regressor"
    shutil.copytree(mlp.workspace, ws)
    pipeline = Pipeline(mlp.pipeline.config, Workspace(ws), input_path=given)  # type: ignore[attr-defined]
    proof = pipeline.prove()
    assert pipeline.verify(proof).verified
    # The same sample as the circuit's own input, so the same outputs; kept beside the proof in ezkl's format.
    assert pipeline.last_outputs == mlp.summary.outputs  # type: ignore[attr-defined]
    assert json.loads((ws / "input.json").read_text()) == {"input_data": [values]}


def test_issue21_nested_input_proves_on_the_warm_path(mlp: ProvedCircuit, tmp_path: Path) -> None:
    from zkml.proving.warm import ProverSpec, WarmProver

    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"input_data": [[_mlp_input()]]}))
    prover = WarmProver(ProverSpec.from_pipeline(mlp.pipeline, device="cpu"), tmp_path / "proofs")
    result = prover.prove(nested)
    assert prover.verify(result.proof).verified
    assert result.outputs == mlp.summary.outputs  # type: ignore[attr-defined]
    assert json.loads(nested.read_text()) == {"input_data": [[_mlp_input()]]}  # the caller's file is left as it was
    assert not list((tmp_path / "proofs").glob(".*.part"))  # nor is the staged copy ezkl read
