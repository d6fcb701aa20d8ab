"""A corpus of small, diverse ONNX models generated in code, for intake and end-to-end tests.

Each :class:`CorpusModel` writes ``<folder>/network.onnx`` (ezkl's own file name,
so workspace naming is exercised too) and ``<folder>/input.json`` (one seeded
sample). The families cover what users bring: torch modules exported at several
opsets (MLP, conv, batch-norm, layer-norm, softmax, RNN/LSTM/GRU, self-attention),
scikit-learn through skl2onnx and hummingbird-ml, LightGBM and XGBoost where
their converters install, int8-weight and quantized graphs, symbolic dimensions,
multi-input / multi-output models, and masks and reshapes computed from shapes in
the graph (:mod:`tests.corpus.shaped`). Models stay tiny so each proves in seconds.

``expect`` says what zkml should do with a model: ``prove`` or ``refuse`` (with
the reason zkml gives, e.g. an op ezkl compiles wrongly); the tests check it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEED = 0


@dataclass(frozen=True)
class CorpusModel:
    """One corpus entry.

    Attributes:
        name: unique id (also the folder name, so the workspace is named after it).
        family: what kind of model (for the table).
        build: writes the ONNX model to the given path and returns one input sample (a list per model input).
        expect: ``prove`` or ``refuse``.
        needs: an optional module the builder imports (skipped when absent).
    """

    name: str
    family: str
    build: Callable[[Path], list[list[float]]]
    expect: str = "prove"
    needs: str | None = None

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write ``folder/network.onnx`` and ``folder/input.json``; returns both paths."""
        folder.mkdir(parents=True, exist_ok=True)
        onnx_path = folder / "network.onnx"
        sample = self.build(onnx_path)
        input_path = folder / "input.json"
        input_path.write_text(json.dumps({"input_data": sample}))
        return onnx_path, input_path

    def available(self) -> bool:
        """Whether the optional converter this entry needs is installed."""
        if self.needs is None:
            return True
        import importlib.util

        return importlib.util.find_spec(self.needs) is not None


# -- torch -----------------------------------------------------------------------------------


def _torch_export(
    module: Any,
    example: tuple[Any, ...],
    path: Path,
    opset: int,
    *,
    dynamic: dict[str, dict[int, str]] | None = None,
    fold: bool = True,
) -> list[list[float]]:
    import torch

    module.eval()
    names_in = ["input"] if len(example) == 1 else [f"input_{i}" for i in range(len(example))]
    with torch.no_grad():
        produced = module(*example)
    count = len(produced) if isinstance(produced, tuple) else 1
    names_out = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=names_in,
            output_names=names_out,
            opset_version=opset,
            dynamic_axes=dynamic,
            dynamo=False,
            do_constant_folding=fold,
        )
    return [t.flatten().tolist() for t in example]


def _seeded(build: Callable[[], Any]) -> Any:
    import torch

    torch.manual_seed(SEED)
    return build()


def _randn(*shape: int) -> Any:
    import torch

    return torch.randn(*shape, generator=torch.Generator().manual_seed(SEED + 1))


def _mlp(opset: int) -> Callable[[Path], list[list[float]]]:
    def build(path: Path) -> list[list[float]]:
        from torch import nn

        module = _seeded(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
        return _torch_export(module, (_randn(1, 4),), path, opset)

    return build


def _conv(opset: int, *, batch_norm: bool = False, pool: bool = False) -> Callable[[Path], list[list[float]]]:
    def build(path: Path) -> list[list[float]]:
        from torch import nn

        def make() -> Any:
            layers: list[Any] = [nn.Conv2d(1, 2, 3, stride=1)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(2))
            layers.append(nn.ReLU())
            if pool:
                layers.append(nn.AvgPool2d(2, stride=1))
            side = 3 - (1 if pool else 0)
            layers += [nn.Flatten(), nn.Linear(2 * side * side, 2)]
            module = nn.Sequential(*layers)
            if batch_norm:  # non-trivial running statistics, as after training
                bn = layers[1]
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 1.5)
            return module

        return _torch_export(_seeded(make), (_randn(1, 1, 5, 5),), path, opset)

    return build


def _batchnorm1d(path: Path) -> list[list[float]]:
    from torch import nn

    def make() -> Any:
        module = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1))
        norm: Any = module[1]
        norm.running_mean.uniform_(-0.5, 0.5)  # non-trivial running statistics, as after training
        norm.running_var.uniform_(0.5, 1.5)
        return module

    return _torch_export(_seeded(make), (_randn(1, 4),), path, 17)


def _layernorm(opset: int) -> Callable[[Path], list[list[float]]]:
    def build(path: Path) -> list[list[float]]:
        from torch import nn

        module = _seeded(lambda: nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 2)))
        return _torch_export(module, (_randn(1, 4),), path, opset)

    return build


def _softmax(opset: int) -> Callable[[Path], list[list[float]]]:
    def build(path: Path) -> list[list[float]]:
        from torch import nn

        module = _seeded(lambda: nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)))
        return _torch_export(module, (_randn(1, 4),), path, opset)

    return build


def _recurrent(kind: str) -> Callable[[Path], list[list[float]]]:
    def build(path: Path) -> list[list[float]]:
        import torch
        from torch import nn

        class Head(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.rnn = getattr(nn, kind)(input_size=2, hidden_size=3, batch_first=True)
                self.out = nn.Linear(3, 1)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                seq = self.rnn(x)[0]
                return self.out(seq[:, -1, :])

        return _torch_export(_seeded(Head), (_randn(1, 3, 2),), path, 14)

    return build


def _attention(path: Path) -> list[list[float]]:
    import torch
    from torch import nn

    class SelfAttention(nn.Module):
        """One head of scaled dot-product self-attention with a residual and an output projection."""

        def __init__(self, dim: int = 4) -> None:
            super().__init__()
            self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
            self.o = nn.Linear(dim, dim)
            self.scale = dim**-0.5

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            weights = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2) * self.scale, dim=-1)
            return self.o(weights @ self.v(x)) + x

    return _torch_export(_seeded(SelfAttention), (_randn(1, 3, 4),), path, 17)


def _causal_attention(fill: float, masked_fill: bool) -> Callable[[Path], list[list[float]]]:
    """Causal self-attention: future positions masked by ``+ fill`` or ``masked_fill(future, fill)`` (bare ezkl cannot calibrate either)."""

    def build(path: Path) -> list[list[float]]:
        import torch
        from torch import nn

        class CausalSelfAttention(nn.Module):
            def __init__(self, dim: int = 4, tokens: int = 3) -> None:
                super().__init__()
                self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
                self.scale = dim**-0.5
                self.register_buffer("future", torch.triu(torch.ones(tokens, tokens, dtype=torch.bool), 1))
                self.register_buffer("mask", torch.triu(torch.full((tokens, tokens), fill), 1))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                scores = self.q(x) @ self.k(x).transpose(1, 2) * self.scale
                scores = scores.masked_fill(self.future, fill) if masked_fill else scores + self.mask
                return torch.softmax(scores, dim=-1) @ self.v(x) + x

        return _torch_export(_seeded(CausalSelfAttention), (_randn(1, 3, 4),), path, 17)

    return build


def _causal_attention_unfolded(path: Path) -> list[list[float]]:
    """GPT-style causal attention, ``masked_fill(tril[:, :T, :T] == 0, -1e9)``, opset 10, exported without constant
    folding: a float Equal onnxruntime refuses and a mask computed in the graph (Slice, Equal, Cast, Where)."""
    import math

    import torch
    from torch import nn

    class CausalSelfAttention(nn.Module):
        def __init__(self, dim: int = 4, tokens: int = 3) -> None:
            super().__init__()
            self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
            self.register_buffer("tril", torch.tril(torch.ones(tokens, tokens)).view(1, tokens, tokens))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.q(x), self.k(x), self.v(x)
            scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))
            tokens = x.size(1)
            scores = scores.masked_fill(self.tril[:, :tokens, :tokens] == 0, -1e9)
            return torch.softmax(scores, dim=-1) @ v

    return _torch_export(_seeded(CausalSelfAttention), (_randn(1, 3, 4),), path, 10, fold=False)


def _multi_io(path: Path) -> list[list[float]]:
    import torch
    from torch import nn

    class TwoInTwoOut(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(2, 2)

        def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.a(x) + self.b(z), torch.sigmoid(z).sum(dim=1, keepdim=True)

    return _torch_export(_seeded(TwoInTwoOut), (_randn(1, 3), _randn(1, 2) * 0.5), path, 17)


def _multi_head(path: Path) -> list[list[float]]:
    import torch
    from torch import nn

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(4, 4)
            self.h1, self.h2, self.h3 = nn.Linear(4, 1), nn.Linear(4, 2), nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            h = torch.relu(self.body(x))
            return self.h1(h), self.h2(h), torch.softmax(self.h3(h), dim=1)

    return _torch_export(_seeded(Heads), (_randn(1, 4),), path, 15)


def _symbolic_batch(path: Path) -> list[list[float]]:
    from torch import nn

    module = _seeded(lambda: nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2)))
    return _torch_export(module, (_randn(1, 4),), path, 13, dynamic={"input": {0: "batch"}, "output": {0: "batch"}})


def _symbolic_reshape(path: Path) -> list[list[float]]:
    import torch
    from torch import nn

    class Reshaping(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.lin(x).reshape(x.shape[0], -1, 2)
            return torch.softmax(h, dim=-1).flatten(1)

    dynamic = {"input": {0: "batch"}, "output": {0: "batch", 1: "features"}}
    return _torch_export(_seeded(Reshaping), (_randn(1, 8),), path, 13, dynamic=dynamic)


# -- hand-written graphs -----------------------------------------------------------------------


def _save(path: Path, nodes: list[Any], inputs: list[Any], outputs: list[Any], initializers: list[Any], opset: int = 17) -> None:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, path.parent.name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _int8_weights(path: Path) -> list[list[float]]:
    """int8 weight initializer, dequantized in the graph (Cast, Mul by scale), then a float MatMul."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED)
    weights = rng.integers(-127, 128, size=(4, 3)).astype(np.int8)
    nodes = [
        helper.make_node("Cast", ["W_q"], ["W_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["W_f", "W_scale"], ["W"]),
        helper.make_node("MatMul", ["x", "W"], ["h"]),
        helper.make_node("Relu", ["h"], ["y"]),
    ]
    inits = [numpy_helper.from_array(weights, "W_q"), numpy_helper.from_array(np.array(0.01, np.float32), "W_scale")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    _save(path, nodes, [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    return [rng.normal(size=4).tolist()]


def _int8_matmul(path: Path) -> list[list[float]]:
    """MatMul on int8 inputs: valid ONNX that onnxruntime has no kernel for (its reference comes from onnx.reference)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED)
    weights = rng.integers(-4, 5, size=(4, 2)).astype(np.int8)
    nodes = [
        helper.make_node("Cast", ["x"], ["x_q"], to=TensorProto.INT8),
        helper.make_node("MatMul", ["x_q", "W_q"], ["h_q"]),
        helper.make_node("Cast", ["h_q"], ["y"], to=TensorProto.FLOAT),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    _save(path, nodes, [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [numpy_helper.from_array(weights, "W_q")])
    return [[3.0, 1.0, 0.0, 2.0]]


def _float_equal(path: Path) -> list[list[float]]:
    """Equal on floats at opset 10: onnxruntime refuses it and ezkl compiles it wrongly; export rewrites it exactly."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Equal", ["x", "zero"], ["mask"]),
        helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "m"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    inits = [numpy_helper.from_array(np.zeros((1, 4), np.float32), "zero")]
    _save(path, nodes, [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits, opset=10)
    return [[0.0, 1.0, -2.0, 0.0]]


def _ort_dynamic_quant(path: Path) -> list[list[float]]:
    """onnxruntime's dynamic quantization of an MLP: MatMulInteger / DynamicQuantizeLinear."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_path = path.with_name("float.onnx")
    sample = _mlp(13)(float_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QInt8)
    float_path.unlink()
    return sample


# -- scikit-learn, hummingbird, LightGBM, XGBoost ---------------------------------------------------


def _tabular(classes: int = 2, features: int = 4) -> tuple[Any, Any]:
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(120, features)).astype(np.float32)
    score = x[:, 0] + 0.5 * x[:, 1] - x[:, 2]
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])) if classes else score
    return x, y


def _skl2onnx(
    estimator: Any, *, classes: int, options: dict[Any, Any] | None = None, labels: tuple[int, ...] | None = None
) -> Callable[[Path], list[list[float]]]:
    def build(path: Path) -> list[list[float]]:
        from skl2onnx import to_onnx

        x, y = _tabular(classes)
        if labels is not None:  # class labels other than 0..n-1: the label lookup is not the identity
            y = np.asarray(labels)[y]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = estimator().fit(x, y)
            model = to_onnx(fitted, x[:1], options=options, target_opset=15)
        path.write_bytes(model.SerializeToString())
        return [x[0].tolist()]

    return build


def _hummingbird(estimator: Callable[[], Any], *, classes: int) -> Callable[[Path], list[list[float]]]:
    """hummingbird-ml's torch conversion, exported with a dynamic batch (as hummingbird's own ONNX backend does)."""

    def build(path: Path) -> list[list[float]]:
        import torch
        from hummingbird.ml import convert

        x, y = _tabular(classes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            container = convert(estimator().fit(x, y), "torch", x[:1], extra_config={"tree_implementation": "gemm"})
        sample = (torch.from_numpy(x[:1].copy()),)
        outputs = container.model(*sample)
        names = {f"output_{i}": {0: "batch"} for i in range(len(outputs) if isinstance(outputs, tuple) else 1)}
        names = names if len(names) > 1 else {"output": {0: "batch"}}
        return _torch_export(container.model, sample, path, 15, dynamic={"input": {0: "batch"}, **names})

    return build


def _estimators() -> dict[str, Callable[[], Any]]:
    def mlp_regressor() -> Any:
        from sklearn.neural_network import MLPRegressor

        return MLPRegressor(hidden_layer_sizes=(6,), max_iter=300, random_state=SEED)

    def mlp_classifier() -> Any:
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=SEED)

    def linear_regression() -> Any:
        from sklearn.linear_model import LinearRegression

        return LinearRegression()

    def logistic_regression() -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression()

    def gbc() -> Any:
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=SEED)

    def lgbm() -> Any:
        import lightgbm

        return lightgbm.LGBMClassifier(n_estimators=3, max_depth=2, num_leaves=4, verbose=-1, random_state=SEED)

    def xgb() -> Any:
        import xgboost

        return xgboost.XGBClassifier(n_estimators=3, max_depth=2, random_state=SEED)

    return {
        "mlp_regressor": mlp_regressor,
        "mlp_classifier": mlp_classifier,
        "linear_regression": linear_regression,
        "logistic_regression": logistic_regression,
        "gbc": gbc,
        "lgbm": lgbm,
        "xgb": xgb,
    }


def _onnxmltools_lgbm(path: Path) -> list[list[float]]:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y = _tabular(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = onnxmltools.convert_lightgbm(
            _estimators()["lgbm"]().fit(x, y), initial_types=[("input", FloatTensorType([1, 4]))], target_opset=15
        )
    path.write_bytes(model.SerializeToString())
    return [x[0].tolist()]


def corpus() -> list[CorpusModel]:
    """Every corpus model, in table order."""
    from .shaped import shaped_models  # they build on this module's helpers

    est = _estimators()
    return [
        CorpusModel("torch_mlp_op11", "torch MLP, opset 11", _mlp(11)),
        CorpusModel("torch_mlp_op17", "torch MLP, opset 17", _mlp(17)),
        CorpusModel("torch_conv_op13", "torch conv, opset 13", _conv(13)),
        CorpusModel("torch_conv_pool_op17", "torch conv + avg-pool, opset 17", _conv(17, pool=True)),
        CorpusModel("torch_conv_bn_op13", "torch conv + batch-norm, opset 13", _conv(13, batch_norm=True)),
        CorpusModel("torch_bn1d_op17", "torch linear + batch-norm 1d, opset 17", _batchnorm1d),
        CorpusModel("torch_layernorm_op17", "torch layer-norm (LayerNormalization), opset 17", _layernorm(17)),
        CorpusModel("torch_layernorm_op13", "torch layer-norm (decomposed), opset 13", _layernorm(13)),
        CorpusModel("torch_softmax_op13", "torch softmax, opset 13", _softmax(13)),
        CorpusModel("torch_softmax_op11", "torch softmax, opset 11", _softmax(11)),
        CorpusModel("torch_rnn_op14", "torch RNN, opset 14", _recurrent("RNN")),
        CorpusModel("torch_lstm_op14", "torch LSTM, opset 14", _recurrent("LSTM")),
        CorpusModel("torch_gru_op14", "torch GRU, opset 14", _recurrent("GRU")),
        CorpusModel("torch_attention_op17", "torch self-attention block, opset 17", _attention),
        CorpusModel(
            "torch_causal_attention_op17",
            "torch causal self-attention, additive -1e9 mask, opset 17 (mask factored out at export)",
            _causal_attention(-1e9, masked_fill=False),
        ),
        CorpusModel(
            "torch_masked_fill_attention_op17",
            "torch causal self-attention, masked_fill(-inf) (Where), opset 17 (mask factored out at export)",
            _causal_attention(float("-inf"), masked_fill=True),
        ),
        CorpusModel(
            "torch_causal_attention_op10_unfolded",
            "torch causal self-attention, masked_fill(tril == 0, -1e9) unfolded, opset 10 (onnxruntime refuses; rewritten at export)",
            _causal_attention_unfolded,
        ),
        CorpusModel("torch_multi_io_op17", "torch 2 inputs / 2 outputs, opset 17", _multi_io),
        CorpusModel("torch_multi_head_op15", "torch 1 input / 3 outputs, opset 15", _multi_head),
        CorpusModel("torch_symbolic_batch_op13", "torch, symbolic batch axis, opset 13", _symbolic_batch),
        CorpusModel("torch_symbolic_reshape_op13", "torch, symbolic output dims via Shape/Reshape, opset 13", _symbolic_reshape),
        CorpusModel("int8_weights", "int8 weight initializer dequantized in-graph", _int8_weights),
        CorpusModel("int8_matmul", "MatMul on int8 tensors (onnxruntime refuses)", _int8_matmul),
        CorpusModel("ort_dynamic_quant", "onnxruntime dynamic quantization (MatMulInteger)", _ort_dynamic_quant, expect="refuse"),
        CorpusModel("float_equal_op10", "Equal on floats, opset 10 (onnxruntime refuses; rewritten at export)", _float_equal),
        CorpusModel(
            "skl2onnx_mlp_regressor", "sklearn MLPRegressor via skl2onnx", _skl2onnx(est["mlp_regressor"], classes=0), needs="skl2onnx"
        ),
        CorpusModel(
            "skl2onnx_mlp_classifier",
            "sklearn MLPClassifier via skl2onnx (no ZipMap; labels 3, 7 via ai.onnx.ml ArrayFeatureExtractor)",
            _skl2onnx(est["mlp_classifier"], classes=2, options={"zipmap": False}, labels=(3, 7)),
            needs="skl2onnx",
        ),
        CorpusModel(
            "skl2onnx_linear_regression",
            "sklearn LinearRegression via skl2onnx (ai.onnx.ml)",
            _skl2onnx(est["linear_regression"], classes=0),
            expect="refuse",
            needs="skl2onnx",
        ),
        CorpusModel(
            "hb_logistic_regression",
            "sklearn LogisticRegression via hummingbird",
            _hummingbird(est["logistic_regression"], classes=2),
            needs="hummingbird",
        ),
        CorpusModel(
            "hb_mlp_classifier",
            "sklearn MLPClassifier via hummingbird",
            _hummingbird(est["mlp_classifier"], classes=3),
            needs="hummingbird",
        ),
        CorpusModel(
            "hb_gbdt",
            "sklearn GradientBoosting via hummingbird (GEMM trees)",
            _hummingbird(est["gbc"], classes=2),
            needs="hummingbird",
        ),
        CorpusModel("hb_lightgbm", "LightGBM via hummingbird (GEMM trees)", _hummingbird(est["lgbm"], classes=2), needs="lightgbm"),
        CorpusModel("hb_xgboost", "XGBoost via hummingbird (GEMM trees)", _hummingbird(est["xgb"], classes=2), needs="xgboost"),
        CorpusModel(
            "onnxmltools_lightgbm", "LightGBM via onnxmltools (ai.onnx.ml)", _onnxmltools_lgbm, expect="refuse", needs="onnxmltools"
        ),
        *shaped_models(),
    ]


def by_name(name: str) -> CorpusModel:
    """The corpus model called ``name``."""
    return next(model for model in corpus() if model.name == name)
