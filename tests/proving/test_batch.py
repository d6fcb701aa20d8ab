"""zkml.proving.batch: one proof covering B inferences, verified locally and by the on-chain verifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zkml.config import CircuitConfig

MODEL_PY = """
import torch

def build():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))

def example():
    return torch.zeros(1, 4)
"""


@pytest.fixture(scope="module")
def factory_config(tmp_path_factory: pytest.TempPathFactory) -> CircuitConfig:
    """A small torch factory whose example input has batch 1, as the example circuits' do."""
    import numpy as np

    root = tmp_path_factory.mktemp("batch-model")
    (root / "model.py").write_text(MODEL_PY)
    rng = np.random.default_rng(0)
    (root / "calibration.json").write_text(json.dumps({"input_data": [rng.uniform(-1, 1, size=5 * 4).tolist()]}))
    (root / "input.json").write_text(json.dumps({"input_data": [[0.1, -0.2, 0.3, 0.4]]}))
    return CircuitConfig(
        name="batchy",
        root=root,
        factory="model.py:build",
        example_input="model.py:example",
        input=root / "input.json",
        calibration=root / "calibration.json",
    )


def test_unrolled_graph_runs_the_model_once_per_sample(factory_config: CircuitConfig, tmp_path: Path) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch

    from zkml.export import load_callable
    from zkml.proving.batch import export_batched

    model = export_batched(factory_config, 3, tmp_path / "m.onnx")
    assert [spec.shape for spec in model.inputs] == [(3, 4)] and [spec.shape for spec in model.outputs] == [(3, 2)]
    assert (tmp_path / "m.b1.onnx").is_file()  # the batch-1 export it was unrolled from

    batch = np.random.default_rng(1).uniform(-1, 1, size=(3, 4)).astype(np.float32)
    (got,) = ort.InferenceSession(str(model.path)).run(None, {model.inputs[0].name: batch})
    net = load_callable("model.py:build", factory_config.root)()
    with torch.no_grad():
        expected = np.concatenate([net(torch.from_numpy(batch[i : i + 1])).numpy() for i in range(3)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    import onnx

    graph = onnx.load(str(model.path)).graph
    single = onnx.load(str(tmp_path / "m.b1.onnx")).graph
    # Weights are shared, not copied per sample: only the slice bounds are new initializers.
    assert len(graph.initializer) == len(single.initializer) + 1 + 2 * 3
    assert [n.op_type for n in graph.node].count("Gemm") == 3 * [n.op_type for n in single.node].count("Gemm")


def test_calibration_samples_are_cycled_to_whole_batches() -> None:
    import numpy as np

    from zkml.data import Samples
    from zkml.proving.batch import cycle_to_batches

    samples = Samples((np.arange(5, dtype=np.float64).reshape(5, 1),))
    cycled = cycle_to_batches(samples, 2)
    assert cycled.arrays[0].ravel().tolist() == [0, 1, 2, 3, 4, 0]  # 3 batches of 2, wrapping round
    assert cycle_to_batches(samples, 4, min_batches=3).count == 12


def test_batch_input_takes_consecutive_samples_cyclically(tmp_path: Path) -> None:
    import numpy as np

    from zkml.data import Samples
    from zkml.proving.batch import write_batch_input

    samples = Samples((np.arange(6, dtype=np.float64).reshape(3, 2),))
    path = write_batch_input(samples, 2, tmp_path / "b.json", start=2)
    assert json.loads(path.read_text())["input_data"] == [[4.0, 5.0, 0.0, 1.0]]


def test_batched_proof_verifies_locally_and_on_chain(batched_tiny: Any, tiny: Any, tmp_path: Path, conn: Any) -> None:
    from zkml.evm.onchain import decode_instances, read_proof, verify_onchain
    from zkml.evm.verifier import EIP170_LIMIT
    from zkml.proving.batch import deploy_batch_verifier
    from zkml.proving.warm import WarmProver
    from zkml.workspace import Layout

    circuit = batched_tiny.circuit
    assert circuit.model.inputs[0].shape == (2, 4) and circuit.spec.batch_size == 2
    result = batched_tiny.proofs[(0, 1)]
    assert len(result.outputs) == 4  # 2 inferences x 2 outputs
    assert WarmProver(circuit.spec, tmp_path / "again").verify(result.proof).verified

    # The unrolled circuit keeps the batch-1 column layout: same proof size, a verifier that fits EIP-170.
    assert result.proof.size_bytes == tiny.pipeline.prove().size_bytes
    deployed = deploy_batch_verifier(conn, circuit.spec, tmp_path)
    assert deployed.kind == "plain" and deployed.runtime_bytes <= EIP170_LIMIT
    assert Layout(tmp_path).evm_dir().is_dir() and Layout(tmp_path).deployments.is_file()  # named as in a workspace
    onchain = verify_onchain(conn, deployed.address, result.proof.path, send=True)
    assert onchain.accepted and onchain.gas_used, onchain.reason
    decoded = decode_instances(read_proof(result.proof.path).instances, circuit.spec.circuit.settings.path)
    assert len([v for values in decoded.inputs for v in values]) == 8
    assert len([v for values in decoded.outputs for v in values]) == 4

    # A batch proof with one prediction changed is refused.
    tampered = list(onchain.instances)
    tampered[-1] = (tampered[-1] + 1) % 21888242871839275222246405745257275088548364400416034343698204186575808495617
    assert not verify_onchain(conn, deployed.address, result.proof.path, instances=tampered).accepted


def test_batched_keys_are_reused(batched_tiny: Any) -> None:
    from zkml.proving.batch import build_batched

    again = build_batched(batched_tiny.config, 2, batched_tiny.circuit.root, device="cpu")
    assert again.keys_reused and again.spec.keys.pk_sha256 == batched_tiny.circuit.spec.keys.pk_sha256


def test_fixed_batch_one_onnx_is_batched(tiny: Any, tmp_path: Path) -> None:
    from zkml.proving.batch import export_batched

    # The tiny ONNX has its batch axis fixed at 1: each unrolled copy sees exactly that.
    model = export_batched(tiny.pipeline.config, 4, tmp_path / "m.onnx")
    assert model.inputs[0].shape == (4, 4) and model.outputs[0].shape == (4, 2)


def test_a_batched_workspace_reuses_what_prove_many_built_and_back(batched_tiny: Any, tmp_path: Path) -> None:
    """The batch-B workspace (``--batch-size B``) and build_batched (prove-many, the service) share one folder's cache."""
    import shutil

    from zkml.pipeline import Pipeline
    from zkml.proving.batch import build_batched
    from zkml.workspace import Workspace, read_manifest

    folder = tmp_path / "b2"
    shutil.copytree(batched_tiny.circuit.root, folder)
    pipeline = Pipeline(batched_tiny.config, Workspace(folder), batch_size=2)
    assert pipeline.keys().pk_sha256 == batched_tiny.circuit.spec.keys.pk_sha256
    assert [(t.stage, t.reused) for t in pipeline.timings[:3]] == [("export", True), ("calibrate", True), ("compile", True)]
    proof = pipeline.prove()
    assert pipeline.verify(proof).verified and len(pipeline.last_outputs) == 4
    manifest = read_manifest(folder)
    assert manifest is not None and manifest["stages"]["calibrate"]["details"]["input_ranges"]
    assert build_batched(batched_tiny.config, 2, folder, device="cpu").keys_reused
