"""Batched circuits: one proof covering B inferences, verified locally and by the on-chain verifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zkml.config import CircuitConfig
from zkml.errors import ExportError

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


@pytest.mark.slow  # its own export, calibration, keys and two verifier compiles: ~45 s quiet, 2+ min on a loaded machine
def test_batched_proof_verifies_locally_and_on_chain(factory_config: CircuitConfig, tmp_path: Path, conn: Any) -> None:
    from zkml.batch import build_batched, deploy_batch_verifier, write_batch_input
    from zkml.data import read_samples
    from zkml.evm.onchain import decode_instances, read_proof, verify_onchain
    from zkml.prover import WarmProver

    batched = build_batched(factory_config, 2, tmp_path / "b2", device="cpu")
    assert batched.model.inputs[0].shape == (2, 4)
    assert batched.spec.batch_size == 2
    # 5 calibration samples are cycled up to whole batches of 2.
    assert read_samples(tmp_path / "b2" / "calibration.json", batched.model.inputs).count == 6

    samples = read_samples(factory_config.calibration, batched.model.inputs)  # type: ignore[arg-type]
    batch_input = write_batch_input(samples, 2, tmp_path / "batch.json", start=1)
    prover = WarmProver(batched.spec, tmp_path / "proofs")
    result = prover.prove(batch_input)
    assert len(result.outputs) == 4  # 2 inferences x 2 outputs
    assert prover.verify(result.proof).verified

    spec = batched.spec
    # The batch's plain verifier may pass EIP-170 (its code grows with the instances): auto falls back to reusable + VKA.
    deployed = deploy_batch_verifier(conn, spec, tmp_path / "evm")
    onchain = verify_onchain(conn, deployed.address, result.proof.path, vka=deployed.vka, send=True)
    assert onchain.accepted and onchain.gas_used, onchain.reason
    decoded = decode_instances(read_proof(result.proof.path).instances, spec.circuit.settings.path)
    assert len([v for values in decoded.outputs for v in values]) == 4
    assert len([v for values in decoded.inputs for v in values]) == 8

    # A batch proof with one prediction changed is refused.
    tampered = list(onchain.instances)
    tampered[-1] = (tampered[-1] + 1) % 21888242871839275222246405745257275088548364400416034343698204186575808495617
    assert not verify_onchain(conn, deployed.address, result.proof.path, vka=deployed.vka, instances=tampered).accepted

    # Built again: the keys are reused, not remade.
    assert build_batched(factory_config, 2, tmp_path / "b2", device="cpu").keys_reused


def test_fixed_batch_onnx_cannot_be_batched(tiny: Any, tmp_path: Path) -> None:
    from zkml.batch import export_batched

    with pytest.raises(ExportError, match="fixed at 1"):
        export_batched(tiny.pipeline.config, 4, tmp_path / "m.onnx")
