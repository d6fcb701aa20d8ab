"""zkml.proving.many: prove_many's summary, its verdicts and progress, with stand-ins and on the tiny circuit."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.helpers import public_instances
from zkml.artifacts import Proof
from zkml.proving import many
from zkml.proving.device import DeviceChoice
from zkml.proving.warm import ProofResult

CPU = DeviceChoice("auto", "cpu", "no GPU prover found")


def _result(index: int, path: Path) -> ProofResult:
    return ProofResult(index, path, Proof(path.with_suffix(".proof.json"), "", 0), (0.5,), 0.01, 0.25, "cpu", 1)


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """prove_many over fake spec, inputs, backends and verifier: no ezkl. ``verdicts`` says what each proof verifies to."""
    import zkml.proving.backends
    import zkml.proving.warm

    seen: dict[str, Any] = {"verdicts": [True, True], "prove_inputs": None}
    spec = SimpleNamespace(inputs=(), device=CPU, batch_size=1)
    monkeypatch.setattr(many, "prover_spec", lambda circuit, batch_size, device: (spec, tmp_path / "ws"))
    monkeypatch.setattr(zkml.proving.warm, "collect_inputs", lambda source, inputs, staging: [Path("a.json"), Path("b.json")])

    def prove_inputs(spec: Any, paths: list[Path], out: Path, **options: Any) -> list[ProofResult]:
        seen["prove_inputs"] = (out, options)
        for done in range(1, len(paths) + 1):
            options["progress"](done, len(paths))
        return [_result(i, p) for i, p in enumerate(paths)]

    class Checker:
        def __init__(self, spec: Any, out: Path) -> None:
            self.verdicts = iter(seen["verdicts"])

        def verify(self, proof: Proof) -> Any:
            return SimpleNamespace(verified=next(self.verdicts))

    monkeypatch.setattr(zkml.proving.backends, "prove_inputs", prove_inputs)
    monkeypatch.setattr(zkml.proving.warm, "WarmProver", Checker)
    return seen


CIRCUIT: Any = SimpleNamespace(config=SimpleNamespace(name="tiny"), ws=SimpleNamespace(root=Path("unused")))


def test_summary_and_its_json(stand_ins: dict[str, Any], tmp_path: Path) -> None:
    events: list[many.ProveManyEvent] = []
    summary = many.prove_many(CIRCUIT, Path("inputs"), progress=events.append)
    assert summary.backend == "warm" and summary.out_dir == tmp_path / "ws" / "proofs"
    assert summary.verified == (True, True) and not summary.any_rejected
    # A first event once the prover is ready (the CLI opens its bar with the device), then one per proof.
    assert [(e.done, e.total, e.backend, e.device) for e in events] == [(0, 2, "warm", "cpu"), (1, 2, "warm", "cpu"), (2, 2, "warm", "cpu")]
    payload = summary.as_dict()
    assert list(payload) == [
        "circuit",
        "batch_size",
        "inputs",
        "backend",
        "workers",
        "device",
        "setup_seconds",
        "prove_wall_seconds",
        "seconds_per_proof",
        "proofs",
    ]
    assert payload["circuit"] == "tiny" and payload["inputs"] == 2 and payload["device"]["used"] == "cpu"
    assert [p["verified"] for p in payload["proofs"]] == [True, True] and payload["proofs"][1]["input"] == "b.json"


def test_a_proof_that_does_not_verify_is_a_result(stand_ins: dict[str, Any]) -> None:
    stand_ins["verdicts"] = [True, False]
    summary = many.prove_many(CIRCUIT, Path("inputs"))
    assert summary.verified == (True, False) and summary.any_rejected


def test_without_verification_nothing_is_rejected(stand_ins: dict[str, Any]) -> None:
    stand_ins["verdicts"] = []  # the checker would fail if asked
    summary = many.prove_many(CIRCUIT, Path("inputs"), verify=False)
    assert summary.verified == (None, None) and not summary.any_rejected
    assert [p["verified"] for p in summary.as_dict()["proofs"]] == [None, None]


@pytest.mark.parametrize(
    ("options", "backend"),
    [({"workers": 2}, "pool"), ({"use_ray": True}, "ray"), ({"ray_address": "10.0.0.1:6379"}, "ray")],
)
def test_the_backend_follows_the_options(stand_ins: dict[str, Any], tmp_path: Path, options: dict[str, Any], backend: str) -> None:
    summary = many.prove_many(CIRCUIT, Path("inputs"), out_dir=tmp_path / "out", **options)
    assert summary.backend == backend and summary.out_dir == tmp_path / "out"
    out, passed = stand_ins["prove_inputs"]
    assert out == tmp_path / "out" and {k: passed[k] for k in options} == options


def test_tiny_inputs_prove_and_verify(tiny: Any, tiny_inputs: list[Path], serial: Any, tmp_path: Path) -> None:
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    shutil.copytree(tiny.workspace, tmp_path / tiny.workspace.name)
    pipeline = Pipeline(tiny.pipeline.config, Workspace(tmp_path / tiny.workspace.name))
    folder = tmp_path / "inputs"
    folder.mkdir()
    for path in tiny_inputs:
        shutil.copy(path, folder / path.name)
    summary = many.prove_many(pipeline, folder, device="cpu")
    assert summary.out_dir == pipeline.ws.root / "proofs" and summary.batch_size == 1 and summary.device.used == "cpu"
    assert summary.verified == (True,) * len(tiny_inputs) and not summary.any_rejected
    assert [public_instances(r.proof) for r in summary.proofs] == serial.instances
    assert summary.prove_wall_seconds > 0 and summary.as_dict()["inputs"] == len(tiny_inputs)


def test_single_samples_are_grouped_into_batches_and_the_last_is_padded(tiny: Any, tmp_path: Path) -> None:
    # Issue 25: `prove-many --batch-size B` on single samples, the way users hold them (a JSONL line each).
    import json

    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    run_args = json.loads((tiny.workspace / "settings.json").read_text())["run_args"]
    config = tiny.pipeline.config.with_circuit(input_scale=run_args["input_scale"], param_scale=run_args["param_scale"])
    shutil.copytree(tiny.workspace, tmp_path / tiny.workspace.name)
    pipeline = Pipeline(config, Workspace(tmp_path / tiny.workspace.name))
    samples = [[0.5 + 0.01 * i, -0.25, 0.1, 0.9 - 0.01 * i] for i in range(5)]
    lines = tmp_path / "five.jsonl"
    lines.write_text("\n".join(json.dumps({"input_data": [s]}) if i % 2 else json.dumps(s) for i, s in enumerate(samples)))
    summary = many.prove_many(pipeline, lines, batch_size=2, device="cpu")
    assert summary.batch_size == 2 and len(summary.proofs) == 3 and summary.verified == (True, True, True)
    rows = summary.as_dict()["proofs"]
    assert [row["padded_samples"] for row in rows] == [0, 0, 1]
    last = summary.proofs[-1].outputs
    half = len(last) // 2
    assert last[:half] == last[half:]  # the padding is a copy of the batch's first sample
    assert summary.proofs[0].outputs != summary.proofs[1].outputs
