"""Model intake from the common exporters, at opsets 9-20, through export_model + preflight (measured)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from zkml.errors import UnsupportedOpsError


def _torch_model():  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(12, 3), torch.nn.Softmax(dim=1)
    ).eval()
    return model, torch.randn(1, 1, 8)


@pytest.mark.parametrize("opset", range(9, 21))
def test_torch_legacy_exporter_every_opset_passes_preflight(tmp_path: Path, opset: int) -> None:
    from zkml.export import export_model
    from zkml.preflight import preflight

    model, example = _torch_model()
    exported = export_model(model, tmp_path / "m.onnx", example_input=example, opset=opset)
    assert exported.opset == opset
    assert exported.inputs[0].shape == (1, 1, 8)
    assert preflight(exported).ok


def test_dynamic_batch_axis_is_fixed_to_one(tmp_path: Path) -> None:
    import torch

    from zkml.export import export_model

    model, example = _torch_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp_path / "dyn.onnx"),
            input_names=["input"],
            dynamic_axes={"input": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    exported = export_model(tmp_path / "dyn.onnx", tmp_path / "fixed.onnx")
    assert exported.inputs[0].shape == (1, 1, 8)
    assert exported.outputs[0].shape == (1, 3)


def test_torch_dynamo_exporter(tmp_path: Path) -> None:
    """Measured here: torch's dynamo exporter needs onnxscript, which is not installed."""
    import torch

    from zkml.export import export_model
    from zkml.preflight import preflight

    model, example = _torch_model()
    if importlib.util.find_spec("onnxscript") is None:
        with pytest.raises(ModuleNotFoundError, match="onnxscript"):
            torch.onnx.export(model, (example,), str(tmp_path / "d.onnx"), dynamo=True)
        return
    torch.onnx.export(model, (example,), str(tmp_path / "d.onnx"), dynamo=True)
    exported = export_model(tmp_path / "d.onnx", tmp_path / "m.onnx")
    report = preflight(exported, strict=False)
    assert report.op_counts  # whatever it emits is listed; unsupported ops are named, not crashed on


@pytest.mark.parametrize("opset", [9, 13, 17])
def test_skl2onnx_ml_ops_are_refused_with_the_node_named(tmp_path: Path, opset: int) -> None:
    """skl2onnx emits ai.onnx.ml ops (LinearClassifier, Normalizer), which ezkl lacks: preflight says so."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from zkml.export import export_model
    from zkml.preflight import preflight

    x, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=300).fit(x, y)
    onx = to_onnx(clf, x[:1].astype(np.float32), target_opset={"": opset, "ai.onnx.ml": 3}, options={id(clf): {"zipmap": False}})
    exported = export_model(onx, tmp_path / "skl.onnx")
    assert exported.opset == opset
    with pytest.raises(UnsupportedOpsError) as info:
        preflight(exported)
    assert any("LinearClassifier" in op for _, op in info.value.nodes)


def test_hummingbird_torch_backend_passes_preflight(tmp_path: Path) -> None:
    """Hummingbird's torch backend (GEMM trees) is the working route for tree models (its onnx backend needs onnxscript)."""
    import sys

    from zkml.export import export_model
    from zkml.preflight import preflight

    root = Path(__file__).resolve().parents[2] / "circuits" / "gbt_classifier"
    sys.path.insert(0, str(root))
    try:
        import model as gbt  # type: ignore[import-not-found]

        exported = export_model(gbt.build(), tmp_path / "gbt.onnx", example_input=gbt.example_input())
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("model", None)
    report = preflight(exported)
    assert report.ok and "Equal" not in report.op_counts and "Softmax" in report.op_counts
