"""The generated corpus: intake on a few tiny models (quick), and every model end to end (slow).

The quick tests need no ezkl: they check what intake decides (evaluator,
resolved shapes, inputs and outputs, refusals and their reasons). The slow
tests take each model that intake accepts to a locally verified proof, and a
sample of them through a deployed verifier on anvil.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from zkml.data import read_samples
from zkml.errors import ExportError, UnsupportedOpsError, ZkmlError
from zkml.export import evaluate_float, export_model
from zkml.preflight import preflight
from zkml.rewrite.fold import NOTE_PREFIX

from .models import CorpusModel, by_name, corpus
from .shaped import shaped_models

ONCHAIN_SAMPLE = (
    "int8_matmul",
    "torch_multi_io_op17",
    "torch_symbolic_reshape_op13",
    "hb_logistic_regression",
    "float_equal_op10",
    "hb_gbdt",
)


def _intake(entry: CorpusModel, tmp_path: Path) -> tuple[Any, Any]:
    onnx_path, input_path = entry.write(tmp_path / entry.name)
    model = export_model(onnx_path, tmp_path / f"{entry.name}.fixed.onnx")
    return model, evaluate_float(model, read_samples(input_path, model.inputs))


def test_the_corpus_is_large_diverse_and_uniquely_named() -> None:
    models = corpus()
    assert len(models) >= 25
    assert len({m.name for m in models}) == len(models)
    families = " ".join(m.family for m in models)
    for kind in (
        "MLP",
        "conv",
        "batch-norm",
        "layer-norm",
        "softmax",
        "RNN",
        "LSTM",
        "GRU",
        "attention",
        "skl2onnx",
        "hummingbird",
        "int8",
        "symbolic",
        "outputs",
        "shapes computed in the graph",
    ):
        assert kind in families, kind


def test_int8_matmul_takes_its_reference_from_onnx_reference(tmp_path: Path) -> None:
    model, result = _intake(by_name("int8_matmul"), tmp_path)
    assert result.evaluator == "onnx.reference" and "int8" in (result.fallback_reason or "")
    assert [s.shape for s in model.inputs] == [(1, 4)] and [s.shape for s in model.outputs] == [(1, 2)]
    preflight(model)


def test_symbolic_output_dims_are_resolved(tmp_path: Path) -> None:
    model, result = _intake(by_name("torch_symbolic_reshape_op13"), tmp_path)
    assert [s.shape for s in model.outputs] == [(1, 8)]
    assert result.evaluator == "onnxruntime" and result.arrays[0].shape == (1, 8)


def test_multi_input_and_multi_output(tmp_path: Path) -> None:
    model, result = _intake(by_name("torch_multi_io_op17"), tmp_path)
    assert [s.shape for s in model.inputs] == [(1, 3), (1, 2)]
    assert [a.shape for a in result.arrays] == [(1, 2), (1, 1)]


def test_float_equal_is_rewritten_and_runs_in_onnxruntime(tmp_path: Path) -> None:
    model, result = _intake(by_name("float_equal_op10"), tmp_path)
    assert model.rewrites and "Not(Or(Less, Greater))" in model.rewrites[0]
    assert result.evaluator == "onnxruntime" and result.arrays[0].tolist() == [[1.0, 1.0, -2.0, 1.0]]
    assert preflight(model).ok


def test_an_unfolded_opset_10_causal_mask_is_rewritten(tmp_path: Path) -> None:
    """The float Equal onnxruntime refuses is rewritten, and the mask it computes is factored out of the softmax."""
    from onnx.reference import ReferenceEvaluator

    original, input_path = by_name("torch_causal_attention_op10_unfolded").write(tmp_path / "model")
    model = export_model(original, tmp_path / "fixed.onnx")
    result = evaluate_float(model, samples := read_samples(input_path, model.inputs))
    # The mask's Slice, Equal and Cast on constants are folded; the Where they fed is then factored out.
    assert model.rewrites[0].startswith(NOTE_PREFIX) and "Equal" in model.rewrites[0] and "Cast" in model.rewrites[0]
    assert [note.split(": ")[1].split(" ->")[0] for note in model.rewrites[1:]] == ["Softmax(S masked by Where)"]
    assert result.evaluator == "onnxruntime" and preflight(model).ok
    expected = ReferenceEvaluator(str(original)).run(None, {"input": samples.arrays[0].astype("float32")})[0]
    assert abs(result.arrays[0].reshape(expected.shape) - expected).max() < 1e-5


# Ops a shape computation or a mask built from one leaves in the graph until it is folded.
SHAPE_OPS = {"Shape", "Size", "Gather", "Slice", "Range", "ConstantOfShape", "Trilu", "Equal", "Cast", "Where", "Concat", "Unsqueeze"}


@pytest.mark.parametrize("entry", shaped_models(), ids=lambda m: m.name)
def test_shapes_computed_in_the_graph_are_folded_exactly(entry: CorpusModel, tmp_path: Path) -> None:
    """The shape subgraph and the mask it builds fold away; the float reference is the original model's."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    original, input_path = entry.write(tmp_path / entry.name)
    assert {"Shape", "Size"} & {node.op_type for node in onnx.load(str(original)).graph.node}
    model = export_model(original, tmp_path / "fixed.onnx")
    assert model.rewrites[0].startswith(NOTE_PREFIX) and "Shape" in model.rewrites[0]
    assert any("masked softmax" in note for note in model.rewrites[1:]) and preflight(model).ok
    assert not SHAPE_OPS & {node.op_type for node in onnx.load(str(model.path)).graph.node}
    result = evaluate_float(model, samples := read_samples(input_path, model.inputs))
    x = samples.arrays[0].astype("float32").reshape(model.inputs[0].shape)
    expected = ReferenceEvaluator(str(original)).run(None, {model.inputs[0].name: x})[0]
    assert result.evaluator == "onnxruntime"
    assert abs(result.arrays[0].reshape(expected.shape) - expected).max() < 1e-6


@pytest.mark.parametrize("entry", shaped_models()[:3], ids=lambda m: m.name)
def test_without_folding_shapes_computed_in_the_graph_are_refused(
    entry: CorpusModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What zkml said before folding: a computed Slice, a Cast to bool, a Trilu."""
    import zkml.rewrite.fold

    monkeypatch.setattr(zkml.rewrite.fold, "fold_shapes", lambda model: [])
    original, _ = entry.write(tmp_path / entry.name)
    with pytest.raises(UnsupportedOpsError, match="Cast to bool|Trilu|Slice: starts/ends/axes/steps must be constants"):
        preflight(export_model(original, tmp_path / "fixed.onnx"))


def test_refusals_name_their_reason(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOpsError, match="MatMulInteger"):
        preflight(_intake(by_name("ort_dynamic_quant"), tmp_path)[0])
    entry = by_name("onnxmltools_lightgbm")
    if entry.available():
        with pytest.raises(ExportError, match="'probabilities' is a sequence_type, not a tensor"):
            _intake(entry, tmp_path)


def _pipeline(entry: CorpusModel, tmp_path: Path) -> Any:
    from zkml.config import config_for_onnx
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace, workspace_name

    onnx_path, input_path = entry.write(tmp_path / "models" / entry.name)
    config = replace(config_for_onnx(onnx_path, input_path=input_path), name=workspace_name(onnx_path))
    assert config.name == entry.name  # network.onnx is named after its folder
    return Pipeline(config, Workspace(tmp_path / "build" / config.name))


@pytest.mark.slow
@pytest.mark.parametrize("entry", corpus(), ids=lambda m: m.name)
def test_every_corpus_model_proves_and_verifies_or_is_refused(entry: CorpusModel, tmp_path: Path) -> None:
    from zkml.flow import run_pipeline

    if not entry.available():
        pytest.skip(f"{entry.needs} is not installed")
    if entry.expect == "refuse":
        with pytest.raises(ZkmlError):
            run_pipeline(_pipeline(entry, tmp_path), chain=False)
        return
    summary = run_pipeline(_pipeline(entry, tmp_path), chain=False)
    assert summary.verified, summary.verify_reason
    assert summary.extra["reference_evaluator"] in ("onnxruntime", "onnx.reference")
    assert sum(len(v) for v in summary.extra["outputs_by_name"].values()) == len(summary.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ONCHAIN_SAMPLE)
def test_a_sample_of_the_corpus_is_accepted_on_chain(name: str, anvil: Any, tmp_path: Path) -> None:
    from zkml.flow import run_pipeline

    entry = by_name(name)
    if not entry.available():
        pytest.skip(f"{entry.needs} is not installed")
    summary = run_pipeline(_pipeline(entry, tmp_path), chain=True, rpc_url=anvil.url)
    assert summary.verified and summary.onchain is not None and summary.onchain.accepted
    assert len(summary.onchain.outputs) == len(summary.outputs)
