"""Random-forest classifier on 6 breast-cancer features, converted to torch by hummingbird-ml.

scikit-learn's bundled `load_breast_cancer` (no download) is reduced to six
features. A `StandardScaler -> RandomForestClassifier(5 trees, depth 3)`
pipeline is trained, then hummingbird-ml converts the *whole pipeline* to
torch with the GEMM tree strategy, so the circuit proves the scaling step as
well as the trees, and its input is the raw feature vector.

Why hummingbird: ezkl does not support the ai.onnx.ml TreeEnsemble* ops that
skl2onnx emits. Hummingbird's GEMM strategy instead expresses each tree as
MatMul -> LessOrEqual -> MatMul -> Equal -> MatMul over tensors, which ezkl
compiles (this is also the route in ezkl's own examples). One op of that graph
(`Equal`) is re-expressed for ezkl; see EzklGemmForest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

WEIGHTS = Path(__file__).with_name("weights.safetensors")  # written by `make retrain`

SEED = 0
TEST_FRACTION = 0.3
# mean radius, mean texture, mean concave points, worst radius, worst texture,
# worst concave points: six informative, weakly redundant features.
FEATURE_INDICES = (0, 1, 7, 20, 21, 27)
N_TREES = 5
MAX_DEPTH = 3


def make_dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_test, y_test); x is float32 [N, 6] raw features.

    Labels follow scikit-learn: 0 = malignant, 1 = benign.
    """
    data = load_breast_cancer()
    x = data.data[:, list(FEATURE_INDICES)].astype(np.float32)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y)
    return x_train, y_train, x_test, y_test


def train_pipeline() -> Pipeline:
    """Fit the scikit-learn pipeline; random_state and n_jobs=1 make it deterministic."""
    x_train, y_train, _, _ = make_dataset()
    pipeline = make_pipeline(
        StandardScaler(),
        RandomForestClassifier(n_estimators=N_TREES, max_depth=MAX_DEPTH, random_state=SEED, n_jobs=1),
    )
    return pipeline.fit(x_train, y_train)


class EzklGemmForest(nn.Module):
    """Run hummingbird's converted Scaler + GEMM forest with two ezkl-safe rewrites.

    Hummingbird's GEMMTreeImpl.forward marks the reached leaf with
    `(W2 @ cond) == bias_2`. ezkl 23.0.5 compiles that ONNX `Equal` but gives
    its 0/1 output the *input's* fixed-point scale instead of scale 0, so the
    following MatMul is off by 2**scale and every probability decodes as 0.
    We therefore re-express that one step, reusing hummingbird's tensors:
    W2 holds +1 for ancestors whose left branch leads to the leaf and -1 for
    right-branch ancestors, and bias_2 counts the left-branch ancestors, so
    `W2 @ cond` is an integer <= bias_2 with equality exactly at the reached
    leaf. Hence `relu(W2 @ cond - bias_2 + 1)` is the same 0/1 indicator,
    built from ops whose scales ezkl tracks correctly.

    The scaler is also applied in float32: hummingbird keeps sklearn's float64
    offset/scale, which exports as Cast-to-double nodes that add nothing here.

    Output: class probabilities [batch, 2] (the executor's label ArgMax is
    dropped, so it is neither exported nor proven).
    """

    def __init__(self, executor: nn.Module) -> None:
        super().__init__()
        scaler, trees = executor._operators  # hummingbird's Scaler, GEMMDecisionTreeImpl
        self.register_buffer("offset", scaler.offset.detach().float().clone())
        self.register_buffer("scale", scaler.scale.detach().float().clone())
        self.trees = trees

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.trees
        x = ((x - self.offset) * self.scale).t()
        # Same steps as hummingbird's GEMMTreeImpl.forward, except the leaf test.
        cond = t.decision_cond(torch.mm(t.weight_1, x), t.bias_1).float()
        cond = cond.view(t.n_trees, t.hidden_one_size, -1)
        paths = torch.matmul(t.weight_2, cond).view(t.n_trees * t.hidden_two_size, -1)
        leaves = torch.relu(paths - t.bias_2 + 1.0).view(t.n_trees, t.hidden_two_size, -1)
        votes = torch.matmul(t.weight_3, leaves).view(t.n_trees, t.hidden_three_size, -1)
        return t.aggregation(votes)  # sum over trees (weight_3 is pre-divided by n_trees), transposed


def train() -> nn.Module:
    """Fit the scikit-learn pipeline and convert the forest to tensors; `make retrain` saves them as weights.safetensors.

    The fit is seeded, yet its float thresholds and leaf values may differ in the last bits on another CPU
    (numpy's kernels depend on the vector unit): :func:`build` loads the saved ones instead.
    """
    # Imported lazily: hummingbird is only needed for this circuit.
    import hummingbird.ml

    container = hummingbird.ml.convert(
        train_pipeline(),
        "torch",
        # GEMM is hummingbird's default for depth <= 3 anyway; pinning it keeps
        # the tensor layout EzklGemmForest relies on stable if that heuristic changes.
        extra_config={"tree_implementation": "gemm"},
    )
    return EzklGemmForest(container.model).eval()


def build() -> nn.Module:
    """The converted forest with the committed weights.safetensors: the same bytes on every machine.

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
