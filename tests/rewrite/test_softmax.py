"""Export rewrites, masked softmax: a causal attention block's mask factored out, so ezkl calibrates it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _attention(form: str, fill: float) -> Any:
    """Causal self-attention over 4 tokens of width 8, masked by ``+ fill`` (``add``) or ``masked_fill`` (``where``).

    ``add_scaled`` / ``where_scaled`` mask first and scale the masked scores after (``/ sqrt(width)``, ``* 0.35``).
    """
    import torch
    from torch import nn

    class CausalSelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.q, self.k, self.v = (nn.Linear(8, 8) for _ in range(3))
            self.register_buffer("future", torch.triu(torch.ones(4, 4, dtype=torch.bool), 1))
            self.register_buffer("mask", torch.triu(torch.full((4, 4), fill), 1))

        def forward(self, x: Any) -> Any:
            scores = self.q(x) @ self.k(x).transpose(-1, -2)
            if not form.endswith("_scaled"):
                scores = scores / 8**0.5
            scores = scores + self.mask if form.startswith("add") else scores.masked_fill(self.future, fill)
            if form == "add_scaled":
                scores = scores / x.shape[-1] ** 0.5  # traced from the input's shape: a Pow of constants in the graph
            elif form == "where_scaled":
                scores = scores * 0.35
            return torch.softmax(scores, dim=-1) @ self.v(x)

    return CausalSelfAttention().eval()


def _export(tmp_path: Path, form: str, fill: float) -> tuple[Path, Any]:
    import warnings

    import torch

    from zkml.export import export_model

    original = tmp_path / f"{form}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(_attention(form, fill), torch.randn(1, 4, 8), str(original), input_names=["x"], opset_version=17, dynamo=False)
    return original, export_model(original, tmp_path / f"{form}.fixed.onnx")


def _max_difference(a: Path, b: Path, scale: float = 3.0) -> float:
    import onnxruntime as ort

    first, second = ort.InferenceSession(str(a)), ort.InferenceSession(str(b))
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(32):
        x = (rng.normal(size=(1, 4, 8)) * scale).astype(np.float32)
        worst = max(worst, float(np.abs(first.run(None, {"x": x})[0] - second.run(None, {"x": x})[0]).max()))
    return worst


def _ops(path: Path) -> list[str]:
    import onnx

    return [node.op_type for node in onnx.load(str(path)).graph.node]


@pytest.mark.parametrize(
    ("form", "fill"),
    [("add", -1e5), ("add", -1e9), ("where", float("-inf")), ("where", -1e4), ("add_scaled", -1e5), ("where_scaled", float("-inf"))],
)
def test_masks_are_factored_out_and_agree_with_the_original(tmp_path: Path, form: str, fill: float) -> None:
    original, model = _export(tmp_path, form, fill)
    ops = _ops(model.path)
    assert "Softmax" not in ops and "Where" not in ops and {"ReduceMax", "Exp", "ReduceSum", "Div"} <= set(ops)
    assert len(model.rewrites) == 1 and "masked softmax (6 masked entries" in model.rewrites[0]
    assert (" / 2.828" in model.rewrites[0]) == (form == "add_scaled") and (" * 0.35" in model.rewrites[0]) == (form == "where_scaled")
    assert _max_difference(original, model.path) < 1e-5


def test_what_is_not_a_mask_is_left_alone(tmp_path: Path) -> None:
    """A small additive bias is not a mask, a negative scale turns one into a bonus, and a row with nothing unmasked would divide by zero."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from zkml.export import export_model

    cases = (
        ("bias", np.full((1, 4), -5.0), 1.0),
        ("full_row", np.array([[0.0, -1e5], [-1e5, -1e5]]), 1.0),
        ("negated", np.array([[0.0, -1e5]]), -1.0),  # scaled by -1 the "mask" becomes +1e5: not a mask
    )
    for name, bias, factor in cases:
        cols = bias.shape[1]
        nodes = [
            helper.make_node("Add", ["x", "m"], ["s"]),
            helper.make_node("Mul", ["s", "c"], ["t"]),
            helper.make_node("Softmax", ["t"], ["y"], axis=-1),
        ]
        graph = helper.make_graph(
            nodes,
            name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, cols])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, cols])],
            [numpy_helper.from_array(bias.astype(np.float32), "m"), numpy_helper.from_array(np.array(factor, np.float32), "c")],
        )
        path = tmp_path / f"{name}.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        model = export_model(path, tmp_path / f"{name}.fixed.onnx")
        assert model.rewrites == () and "Softmax" in _ops(model.path), name


def test_ezkl_calibrates_and_computes_the_masked_attention(tmp_path: Path) -> None:
    """The fix on real ezkl: without the rewrite no scale fits the -1e5 mask (tests/tune/test_fallback.py); with it, the default does."""
    from dataclasses import replace

    from zkml.config import config_for_onnx
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    original, _ = _export(tmp_path, "add", -1e5)
    rng = np.random.default_rng(1)
    input_path = tmp_path / "input.json"
    input_path.write_text(json.dumps({"input_data": [rng.normal(size=32).tolist()]}))
    pipeline = Pipeline(replace(config_for_onnx(original, input_path=input_path), name="att"), Workspace(tmp_path / "build" / "att"))
    outputs = pipeline.witness().outputs
    settings = pipeline.calibrate()
    assert settings.logrows <= 16 and pipeline.settings_note["settings"].startswith("default")
    import onnxruntime as ort

    x = np.array(json.loads(input_path.read_text())["input_data"][0], np.float32).reshape(1, 4, 8)
    expected = ort.InferenceSession(str(original)).run(None, {"x": x})[0].ravel()
    assert np.abs(np.array(outputs) - expected).max() < 5e-3
    fidelity = json.loads(pipeline.ws.fidelity.read_text())
    assert fidelity["max_abs_error"] < 5e-3 and "masked softmax" in fidelity["rewrites"][0]
