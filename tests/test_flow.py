"""``zkml run``'s composition: the EVM stages for every circuit, the oracle demo for one that declares a consumer (plain or reusable verifier)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from zkml.artifacts import sha256_file
from zkml.flow import DEMO_STAGE, run_pipeline, stage_names
from zkml.pipeline import EVM_STAGES, STAGES, Pipeline
from zkml.workspace import Workspace


def _copy(proved: Any, tmp_path: Path) -> Pipeline:
    root = tmp_path / proved.workspace.name
    shutil.copytree(proved.workspace, root)
    return Pipeline(proved.pipeline.config, Workspace(root))


def test_a_model_without_consumer_stops_after_onchain_verification(tiny: Any, anvil: Any, tmp_path: Path) -> None:
    assert tiny.pipeline.config.consumer is None
    summary = run_pipeline(_copy(tiny, tmp_path), chain=True, rpc_url=anvil.url)
    assert summary.verified and summary.onchain is not None and summary.onchain.accepted
    assert summary.demo is None and "oracle" not in summary.as_dict()
    assert DEMO_STAGE not in [t.stage for t in summary.timings]
    assert stage_names(tiny.pipeline.config, chain=True) == STAGES + EVM_STAGES


def test_a_declared_consumer_acts_on_an_attested_prediction(mlp: Any, anvil: Any, tmp_path: Path) -> None:
    from zkml.evm.onchain import decode_instances, read_proof
    from zkml.evm.rpc import connect
    from zkml.oracle import model_spec, prediction_id
    from zkml.oracle.feed import source_instances

    config = mlp.pipeline.config
    assert config.consumer is not None and config.feed is not None and config.feed.demo_series
    pipeline = _copy(mlp, tmp_path)
    # The session's mlp workspace was proved without a chain, so without the consumer's demo.
    without_consumer = {name: sha256_file(getattr(pipeline.ws, name)) for name in ("input", "proof")}
    summary = run_pipeline(pipeline, chain=True, rpc_url=anvil.url, choose_backend=False)  # the halo2 demo
    demo = summary.demo
    assert demo is not None
    # The demo proved into attested/: the workspace's input and proof are the run's own.
    assert {name: sha256_file(getattr(pipeline.ws, name)) for name in ("input", "proof")} == without_consumer
    assert Path(demo["proof"]).parent == Path(pipeline.ws.root) / "attested"
    epoch, prediction, vault = demo["epoch"], demo["prediction"], demo["consumer"]
    # The run ends with the vault acting on the prediction at the feed's latest epoch ...
    assert demo["consumer_note"] == "" and not demo["replayed"] and demo["gas"]["act"] > 0
    assert (vault["last_epoch"], vault["last_prediction_id"]) == (epoch, prediction["prediction_id"])
    model_id = bytes.fromhex(demo["model_id"].removeprefix("0x"))
    assert prediction["epoch"] == epoch and prediction["prediction_id"] == "0x" + prediction_id(model_id, epoch).hex()
    assert demo["registration"]["source"].lower() == demo["source_address"].lower()
    # ... proved on exactly the inputs the feature source attests for that epoch.
    spec = model_spec(pipeline.ws.settings)
    instances = read_proof(Path(demo["proof"])).instances
    attested, _ = source_instances(connect(anvil.url), demo["source_address"], [epoch])
    assert list(spec.input_instances(instances)) == attested
    assert prediction["floats"] == list(decode_instances(instances, pipeline.ws.settings).outputs[0])
    assert summary.onchain is not None and summary.onchain.accepted and len(summary.onchain.outputs) == 1
    assert 0 <= vault["target_risky_bps"] <= 10_000
    assert stage_names(config, chain=True)[-1] == DEMO_STAGE


def test_without_chain_nothing_is_deployed(tiny: Any, tmp_path: Path) -> None:
    pipeline = _copy(tiny, tmp_path)
    record = pipeline.ws.deployments
    before = record.read_bytes() if record.exists() else None  # other tests may have deployed this workspace's verifier
    summary = run_pipeline(pipeline, chain=False)
    assert summary.verified and summary.onchain is None and summary.demo is None
    assert not {"verifier_address", "onchain_accepted", "oracle"} & set(summary.as_dict())
    assert summary.extra["reference_evaluator"] == "onnxruntime"
    assert [len(v) for v in summary.extra["outputs_by_name"].values()] == [2]
    assert (record.read_bytes() if record.exists() else None) == before


def test_a_verifier_over_eip170_falls_back_to_the_reusable_verifier(tiny: Any, anvil: Any, tmp_path: Path, monkeypatch: Any) -> None:
    import zkml.evm.verifier as verifier

    # The tiny circuit's plain verifier is small: lower the limit run_onchain compares against
    # (deployment itself still checks the real EIP-170 limit, which the reusable verifier meets).
    real_limit = verifier.EIP170_LIMIT
    monkeypatch.setattr(verifier, "EIP170_LIMIT", 1_000)
    summary = run_pipeline(_copy(tiny, tmp_path), chain=True, rpc_url=anvil.url)
    onchain = summary.onchain
    assert summary.verified and onchain is not None and onchain.accepted
    assert onchain.verifier_kind == "reusable+vka" and summary.as_dict()["verifier_kind"] == "reusable+vka"
    assert "over the EIP-170 limit of 1,000" in (onchain.fallback_note or "")
    assert (onchain.reusable_verifier_runtime_bytes or real_limit) < real_limit
    assert (onchain.vka_digest or "").startswith("0x")


def test_no_reusable_fallback_keeps_the_size_error(tiny: Any, anvil: Any, tmp_path: Path, monkeypatch: Any) -> None:
    import functools

    import pytest

    import zkml.evm.deploy as deploy
    import zkml.evm.verifier as verifier
    from zkml.errors import ContractTooLargeError

    monkeypatch.setattr(verifier, "EIP170_LIMIT", 1_000)
    monkeypatch.setattr(deploy, "check_runtime_size", functools.partial(verifier.check_runtime_size, limit=1_000))
    with pytest.raises(ContractTooLargeError, match="over the EIP-170 limit"):
        run_pipeline(_copy(tiny, tmp_path), chain=True, rpc_url=anvil.url, reusable_fallback=False)


def test_a_multi_input_multi_output_model_proves_with_outputs_per_name(tmp_path: Path) -> None:
    import json

    import numpy as np

    from tests.corpus.models import by_name
    from zkml.config import config_for_onnx

    onnx_path, input_path = by_name("torch_multi_io_op17").write(tmp_path / "multi_io")
    pipeline = Pipeline(config_for_onnx(onnx_path, input_path=input_path), Workspace(tmp_path / "build" / "multi_io"))
    summary = run_pipeline(pipeline, chain=False)
    assert summary.verified
    by_name_out = summary.extra["outputs_by_name"]
    assert list(by_name_out) == ["output_0", "output_1"] and [len(v) for v in by_name_out.values()] == [2, 1]
    reference = pipeline.export().reference_path
    assert reference is not None
    floats = [v for out in json.loads(reference.read_text())["outputs"] for v in np.ravel(out)]
    np.testing.assert_allclose([v for vals in by_name_out.values() for v in vals], floats, atol=0.05)


@pytest.mark.slow
def test_a_forecaster_over_eip170_reaches_an_attested_prediction_through_the_vka(anvil: Any, tmp_path: Path) -> None:
    # An attention forecaster: its plain verifier is over EIP-170, so `zkml run` goes through the
    # reusable verifier, and the oracle demo with it (it used to be skipped).
    from benchmarks.oracle_vka_run import CIRCUIT
    from zkml.config import load_config
    from zkml.evm import verifier

    config = load_config(CIRCUIT / "zkml.toml")
    assert config.feed is not None and config.consumer is not None
    summary = run_pipeline(Pipeline(config, Workspace(tmp_path / "build")), chain=True, rpc_url=anvil.url)
    onchain, demo = summary.onchain, summary.demo
    assert summary.verified and onchain is not None and onchain.verifier_kind == "reusable+vka" and demo is not None
    assert onchain.verifier_runtime_bytes > verifier.EIP170_LIMIT
    assert demo["verifier_kind"] == "reusable+vka" and demo["registration"]["vka_digest"] == onchain.vka_digest
    assert demo["consumer_note"] == "" and demo["gas"]["act"] > 0 and demo["prediction"]["epoch"] == demo["epoch"]


@pytest.mark.slow
def test_a_batched_run_publishes_one_proof_of_consecutive_epochs(anvil: Any, tmp_path: Path) -> None:
    """``zkml run --batch-size 2`` on the circuit with a consumer: the batch workspace, the backend choice, then the attested
    batch demo through the chosen verifier."""
    from zkml.config import load_config
    from zkml.evm.onchain import read_proof
    from zkml.evm.rpc import connect
    from zkml.flow import run
    from zkml.oracle import model_spec
    from zkml.oracle.feed import source_instances

    config = load_config(Path(__file__).resolve().parent.parent / "circuits" / "mlp_regressor")
    summary = run(config, tmp_path, chain=True, rpc_url=anvil.url, batch_size=2)
    assert summary.workspace == tmp_path / "mlp_regressor" / "batch-2" and summary.verified
    assert summary.extra["batch_size"] == 2 and summary.extra["batch_samples"] == {"input": 1, "calibration": 1}
    assert summary.onchain is not None and summary.onchain.accepted and len(summary.onchain.outputs) == 2
    demo = summary.demo
    assert demo is not None and demo["consumer_note"] == "" and demo["gas"]["act"] > 0
    assert demo["registration"]["max_epoch_lag"] >= 1 and demo["prediction"]["epoch"] == demo["epoch"]
    # mlp_regressor's backend is "auto": the batch's frontier is measured too, and the demo goes through the choice.
    report = summary.backend
    assert report is not None and report.frontier[0].backend == "halo2" and report.max_abs_error_budget == 0.0
    for row in report.frontier:  # measured: the halo2 batch's outputs, exactly; else why not (a ptau this session lacks)
        assert row.max_abs_error == 0.0 if row.measured else row.note.startswith("not measured: "), row
    kind = "plain" if report.chosen == "halo2" else f"{report.chosen}+adapter"
    assert demo["verifier_kind"] == kind and demo["gas"]["submit_per_prediction"] == demo["gas"]["submit"] // 2
    # The proof's inputs are the source's windows at the two newest epochs, in order.
    spec = model_spec(summary.workspace / "settings.json")
    proved = spec.input_instances(read_proof(Path(demo["proof"])).instances)
    attested, _ = source_instances(connect(anvil.url), demo["source_address"], [demo["epoch"] - 1, demo["epoch"]])
    assert [int(v) for v in proved] == [int(v) for v in attested]
