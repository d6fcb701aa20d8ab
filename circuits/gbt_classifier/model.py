"""Gradient-boosted trees (3-class wine cultivar) converted to torch by hummingbird-ml.

scikit-learn's bundled `load_wine` (no download) is reduced to six features. A
`StandardScaler -> GradientBoostingClassifier(8 rounds, depth 2)` pipeline is
trained, then hummingbird-ml converts the whole pipeline to torch with the
GEMM tree strategy. The circuit therefore proves the scaling, 24 trees (8 per
class), the per-class sums with the prior (base prediction) and the softmax
that turns the scores into class probabilities.

As in circuits/tree_ensemble, hummingbird's leaf test `(W2 @ cond) == bias_2`
uses ONNX `Equal`, which ezkl 23.0.5 compiles with the wrong output scale (the
0/1 result comes out as 2**-scale); it is re-expressed as
`relu(W2 @ cond - bias_2 + 1)`, the same 0/1 indicator (see EzklGemmGbdt).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_wine
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

WEIGHTS = Path(__file__).with_name("weights.safetensors")  # written by `make retrain`

SEED = 0
TEST_FRACTION = 0.35
# alcohol, flavanoids, color intensity, hue, OD280/OD315, proline
FEATURE_INDICES = (0, 6, 9, 10, 11, 12)
N_ROUNDS = 8
MAX_DEPTH = 2


def make_dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_test, y_test); x is float32 [N, 6] raw features, y in {0, 1, 2}."""
    data = load_wine()
    x = data.data[:, list(FEATURE_INDICES)].astype(np.float32)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y)
    return x_train, y_train, x_test, y_test


def train_pipeline() -> Pipeline:
    """Fit the scikit-learn pipeline; random_state makes it deterministic."""
    x_train, y_train, _, _ = make_dataset()
    pipeline = make_pipeline(
        StandardScaler(),
        GradientBoostingClassifier(n_estimators=N_ROUNDS, max_depth=MAX_DEPTH, learning_rate=0.3, random_state=SEED),
    )
    return pipeline.fit(x_train, y_train)


class EzklGemmGbdt(nn.Module):
    """Hummingbird's Scaler + GEMM GBDT with ezkl-safe leaf indicators.

    W2 holds +1 for ancestors whose left branch leads to the leaf and -1 for
    right-branch ancestors, and bias_2 counts the left-branch ancestors, so
    `W2 @ cond` is an integer <= bias_2 with equality exactly at the reached
    leaf: `relu(W2 @ cond - bias_2 + 1)` is the 0/1 indicator `Equal` would give.

    Output: class probabilities [1, 3] (softmax of prior + per-class tree sums).
    """

    def __init__(self, executor: nn.Module) -> None:
        super().__init__()
        scaler, trees = executor._operators  # hummingbird's Scaler, GEMMGBDTImpl
        self.register_buffer("offset", scaler.offset.detach().float().clone())
        self.register_buffer("scale", scaler.scale.detach().float().clone())
        self.trees = trees
        self.n_classes = trees.n_gbdt_classes
        self.per_class = trees.n_trees_per_class
        base = trees.post_transform.base_prediction.base_prediction
        self.register_buffer("prior", torch.as_tensor(np.asarray(base), dtype=torch.float32).reshape(1, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.trees
        x = ((x - self.offset) * self.scale).t()
        cond = t.decision_cond(torch.mm(t.weight_1, x), t.bias_1).float()
        cond = cond.view(t.n_trees, t.hidden_one_size, -1)
        paths = torch.matmul(t.weight_2, cond).view(t.n_trees * t.hidden_two_size, -1)
        leaves = torch.relu(paths - t.bias_2 + 1.0).view(t.n_trees, t.hidden_two_size, -1)
        values = torch.matmul(t.weight_3, leaves).view(1, self.n_classes, self.per_class)  # batch 1
        scores = values.sum(2) + self.prior
        return torch.softmax(scores, dim=1)


def train() -> nn.Module:
    """Fit the scikit-learn pipeline and convert the boosted trees to tensors; `make retrain` saves them as weights.safetensors.

    The fit is seeded, yet its float thresholds and leaf values may differ in the last bits on another CPU
    (numpy's kernels depend on the vector unit): :func:`build` loads the saved ones instead.
    """
    import hummingbird.ml

    container = hummingbird.ml.convert(train_pipeline(), "torch", extra_config={"tree_implementation": "gemm"})
    return EzklGemmGbdt(container.model).eval()


def build() -> nn.Module:
    """The converted boosted trees with the committed weights.safetensors: the same bytes on every machine.

    The fit only lays out the tensors (which trees, how many nodes); their
    values all come from the file, which :func:`zkml.weights.load_weights`
    refuses when the layout differs.
    """
    from zkml.weights import load_weights

    return load_weights(train(), WEIGHTS)


def example_input() -> torch.Tensor:
    """First test sample, shape [1, 6]; used to trace the ONNX export."""
    _, _, x_test, _ = make_dataset()
    return torch.from_numpy(x_test[:1].copy())
