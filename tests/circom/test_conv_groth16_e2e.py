"""A Conv1d + AveragePool model through the circom backend: proved with Groth16 and verified locally.

Slow: it needs the development powers of tau 2^11 (made once per session, ~100 s).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import SCALE, conv1d_model
from zkml.circom.graph import evaluate, quantize

pytestmark = pytest.mark.slow


def test_a_conv_model_is_proved_and_verified_with_groth16(tmp_path: Path) -> None:
    from zkml.circom.build import compile_model, setup_groth16
    from zkml.circom.prove import prove, quantize_inputs, to_field, verify

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    circuit = compile_model(conv1d_model(tmp_path / "m.onnx"), settings, tmp_path / "circom")
    keys = setup_groth16(circuit)
    values = np.random.default_rng(2).normal(0, 1.5, circuit.graph.input_size).tolist()
    proof = prove(circuit, keys, quantize_inputs(circuit, values), tmp_path / "proof")
    expected = evaluate(circuit.graph, [quantize(v, SCALE) for v in values])
    assert list(proof.instances[-len(expected) :]) == [to_field(v) for v in expected]
    assert verify(keys, tmp_path / "proof")
    shutil.copytree(tmp_path / "proof", tmp_path / "tampered")
    public = json.loads((tmp_path / "tampered" / "public.json").read_text())
    public[-1] = str(int(public[-1]) + 1)
    (tmp_path / "tampered" / "public.json").write_text(json.dumps(public))
    assert not verify(keys, tmp_path / "tampered")
