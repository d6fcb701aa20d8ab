from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from zkml.errors import UnsupportedOpsError
from zkml.export import inspect_onnx
from zkml.preflight import preflight

from .conftest import make_tiny_onnx


def _single_op_model(path: Path, op: str, **attrs: object) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2] if op == "Conv" else [1, 1, 4, 4])
    inputs = ["x"]
    initializers = []
    if op == "Conv":
        initializers.append(helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 3, 3], [0.1] * 9))
        inputs.append("w")
    if op == "Equal":
        initializers.append(helper.make_tensor("c", TensorProto.FLOAT, [1], [1.0]))
        inputs.append("c")
    outputs = ["b"] if op == "Equal" else ["y"]
    nodes = [helper.make_node(op, inputs, outputs, name=f"my_{op.lower()}", **attrs)]
    if op == "Equal":
        nodes.append(helper.make_node("Cast", ["b"], ["y"], to=TensorProto.FLOAT))
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_supported_model_lists_its_ops(tmp_path: Path) -> None:
    report = preflight(inspect_onnx(make_tiny_onnx(tmp_path / "t.onnx")))
    assert report.ok
    assert report.op_counts == {"Gemm": 2, "Relu": 1}


def test_sklearn_tree_ensemble_is_named(tmp_path: Path) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(n_samples=60, n_features=4, random_state=0)
    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(x, y)
    proto = skl2onnx.convert_sklearn(forest, initial_types=[("x", FloatTensorType([1, 4]))], options={id(forest): {"zipmap": False}})
    path = tmp_path / "forest.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(UnsupportedOpsError, match=r"TreeEnsembleClassifier.*not supported by ezkl") as info:
        preflight(inspect_onnx(path))
    assert any("TreeEnsembleClassifier" in op for _, op in info.value.nodes)
    assert "hummingbird" in (info.value.hint or "")


def test_conv_without_strides_is_refused(tmp_path: Path) -> None:
    path = _single_op_model(tmp_path / "conv.onnx", "Conv")
    with pytest.raises(UnsupportedOpsError, match="my_conv \\(Conv\\).*strides"):
        preflight(inspect_onnx(path))
    ok = _single_op_model(tmp_path / "conv_ok.onnx", "Conv", strides=[1, 1])
    assert preflight(inspect_onnx(ok)).ok


def test_silently_wrong_op_is_refused(tmp_path: Path) -> None:
    path = _single_op_model(tmp_path / "eq.onnx", "Equal")
    with pytest.raises(UnsupportedOpsError, match="Equal: compiles but gives wrong results"):
        preflight(inspect_onnx(path))


def test_non_strict_reports_without_raising(tmp_path: Path) -> None:
    path = _single_op_model(tmp_path / "eq.onnx", "Equal")
    report = preflight(inspect_onnx(path), strict=False)
    assert not report.ok and report.unsupported == (("my_equal", "Equal"),)


def _label_lookup(path: Path, *, indices_from_argmax: bool) -> Path:
    """skl2onnx's classifier tail: ArgMax -> ai.onnx.ml.ArrayFeatureExtractor(class labels) -> label."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    label = helper.make_tensor_value_info("label", TensorProto.INT64, [1, 1])
    nodes = [helper.make_node("ArgMax", ["x"], ["idx"], axis=1)]
    if not indices_from_argmax:  # indices computed some other way: not a form that compiles
        nodes.append(helper.make_node("Abs", ["idx"], ["idx_abs"]))
    nodes.append(
        helper.make_node("ArrayFeatureExtractor", ["classes", "idx" if indices_from_argmax else "idx_abs"], ["label"], domain="ai.onnx.ml")
    )
    classes = helper.make_tensor("classes", TensorProto.INT64, [2], [3, 7])
    graph = helper.make_graph(nodes, "g", [x], [label], initializer=[classes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)])
    onnx.save(model, str(path))
    return path


def test_a_class_label_lookup_from_argmax_is_accepted_but_other_ml_ops_are_not(tmp_path: Path) -> None:
    report = preflight(inspect_onnx(_label_lookup(tmp_path / "ok.onnx", indices_from_argmax=True)))
    assert report.ok and report.op_counts["ai.onnx.ml.ArrayFeatureExtractor"] == 1
    with pytest.raises(UnsupportedOpsError, match="indices must be constant or come from ArgMax"):
        preflight(inspect_onnx(_label_lookup(tmp_path / "bad.onnx", indices_from_argmax=False)))
