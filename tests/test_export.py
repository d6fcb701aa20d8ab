from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from zkml.data import read_samples
from zkml.errors import ExportError, ModelNotFoundError
from zkml.export import export_model, inspect_onnx, load_callable, reference_outputs, run_onnx

from .conftest import CIRCUITS


def test_torch_module_exports_checks_and_matches_torch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    x = torch.randn(1, 3)
    model = export_model(module, tmp_path / "m.onnx", example_input=x)
    assert model.opset == 17
    assert [s.shape for s in model.inputs] == [(1, 3)]
    assert [s.shape for s in model.outputs] == [(1, 2)]
    (tmp_path / "in.json").write_text(json.dumps({"input_data": [x.flatten().tolist()]}))
    with_ref = reference_outputs(model, read_samples(tmp_path / "in.json", model.inputs), tmp_path / "ref.json")
    assert with_ref.reference_path is not None
    got = np.asarray(json.loads(with_ref.reference_path.read_text())["outputs"][0])
    np.testing.assert_allclose(got, module(x).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_dynamic_batch_is_fixed(tmp_path: Path) -> None:
    module = torch.nn.Linear(2, 1)
    src = tmp_path / "dyn.onnx"
    torch.onnx.export(
        module,
        torch.zeros(1, 2),
        str(src),
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        dynamo=False,
    )
    model = export_model(src, tmp_path / "fixed.onnx", batch_size=1)
    assert model.inputs[0].shape == (1, 2)


def test_missing_onnx_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        inspect_onnx(tmp_path / "nope.onnx")


def test_corrupt_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not protobuf\xff\xfe")
    with pytest.raises(ExportError, match="not a valid ONNX model"):
        inspect_onnx(bad)


def test_factory_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_callable(str(tmp_path / "missing.py") + ":build")
    (tmp_path / "m.py").write_text("def build():\n    return 1\n")
    with pytest.raises(ModelNotFoundError, match="no function 'nope'"):
        load_callable(f"{tmp_path / 'm.py'}:nope")
    (tmp_path / "boom.py").write_text("raise RuntimeError('kaput')\n")
    with pytest.raises(ExportError, match="RuntimeError: kaput"):
        load_callable(f"{tmp_path / 'boom.py'}:build")


def test_torch_module_without_example(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="needs an example input"):
        export_model(torch.nn.Linear(2, 2), tmp_path / "m.onnx")


def test_example_factories_are_reproducible() -> None:
    build = load_callable(str(CIRCUITS / "mlp_regressor" / "model.py") + ":build")
    a, b = build(), build()
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)


def test_run_onnx_batches_samples(tmp_path: Path) -> None:
    module = torch.nn.Linear(2, 1)
    model = export_model(module, tmp_path / "m.onnx", example_input=torch.zeros(1, 2))
    (tmp_path / "d.json").write_text(json.dumps({"input_data": [[1, 2, 3, 4, 5, 6]]}))
    out = run_onnx(model, read_samples(tmp_path / "d.json", model.inputs))
    expected = module(torch.tensor([[1.0, 2], [3, 4], [5, 6]])).detach().numpy()
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)


class _TwoInTwoOut(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(3, 2)
        self.b = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a(x) + self.b(z), torch.relu(z).sum(dim=1, keepdim=True)


def test_multi_input_multi_output_models_export_and_run(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = _TwoInTwoOut()
    x, z = torch.randn(1, 3), torch.randn(1, 2)
    model = export_model(module, tmp_path / "m.onnx", example_input=(x, z))
    assert [(s.name, s.shape) for s in model.inputs] == [("input_0", (1, 3)), ("input_1", (1, 2))]
    assert [(s.name, s.shape) for s in model.outputs] == [("output_0", (1, 2)), ("output_1", (1, 1))]
    (tmp_path / "in.json").write_text(json.dumps({"input_data": [x.flatten().tolist(), z.flatten().tolist()]}))
    out = run_onnx(model, read_samples(tmp_path / "in.json", model.inputs))
    want = module(x, z)
    for got, expected in zip(out, want, strict=True):
        np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
