"""1-D convolution over a price series, with layer norm and a sigmoid output.

Task: from the last 16 percent returns of a seeded AR(2)-GARCH(1,1) series
(the same process as circuits/mlp_regressor, another seed), give the
probability that the next return is positive.

Architecture (ONNX ops in brackets): Conv1d(1 -> 4, kernel 3) [Conv] + ReLU,
LayerNorm over the 4 x 14 feature map [LayerNormalization, opset 17],
Linear(56 -> 1) [Gemm via Flatten] and a Sigmoid [Sigmoid]. It exercises the three
op families the other examples lack: 1-D convolution over time, a
normalisation layer (mean, variance and a reciprocal square root, which ezkl
does with lookups) and a bounded nonlinear output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS = Path(__file__).with_name("weights.safetensors")  # written by `make retrain`

WINDOW = 16
SERIES_LENGTH = 3000
SEED = 21
TRAIN_FRACTION = 0.8
EPOCHS = 150


def simulate_returns(length: int = SERIES_LENGTH, seed: int = SEED) -> np.ndarray:
    """Percent returns r_t = 0.35 r_{t-1} - 0.2 r_{t-2} + sigma_t z_t with GARCH(1,1) sigma."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 0.05, 0.10, 0.85
    phi1, phi2 = 0.35, -0.20
    returns = np.zeros(length, dtype=np.float64)
    var = omega / (1.0 - alpha - beta)
    shock = 0.0
    for t in range(2, length):
        var = omega + alpha * shock**2 + beta * var
        shock = np.sqrt(var) * rng.standard_normal()
        returns[t] = phi1 * returns[t - 1] + phi2 * returns[t - 2] + shock
    return returns


def make_dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): x float32 [N, 1, 16], y float32 [N, 1] in {0, 1}; split in time order."""
    returns = simulate_returns()
    windows = np.lib.stride_tricks.sliding_window_view(returns[:-1], WINDOW)
    x = windows.astype(np.float32)[:, None, :]
    y = (returns[WINDOW:] > 0).astype(np.float32)[:, None]
    split = int(len(x) * TRAIN_FRACTION)
    return x[:split], y[:split], x[split:], y[split:]


class ConvSequenceClassifier(nn.Module):
    """Conv1d -> ReLU -> LayerNorm -> Linear -> Sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, kernel_size=3, stride=1)
        self.norm = nn.LayerNorm([4, WINDOW - 2])
        self.head = nn.Linear(4 * (WINDOW - 2), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(torch.relu(self.conv(x)))
        return torch.sigmoid(self.head(h.flatten(1)))


def train() -> nn.Module:
    """Train the classifier (seeded, full-batch Adam on binary cross-entropy); `make retrain` saves the result as weights.safetensors.

    Seeded, yet bit-identical only on the same CPU kind and thread count: load the saved weights instead.
    """
    x_train, y_train, _, _ = make_dataset()
    torch.manual_seed(SEED)
    model = ConvSequenceClassifier()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(EPOCHS):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    return model.eval()


def build() -> nn.Module:
    """The trained ConvSequenceClassifier in eval mode: the committed weights.safetensors, the same bytes on every machine.

    Training again here would give weights a few ulps apart on another CPU or
    thread count; `make retrain` runs :func:`train` and rewrites the file.
    """
    from zkml.weights import load_weights

    return load_weights(ConvSequenceClassifier(), WEIGHTS)


def example_input() -> torch.Tensor:
    """First test window, shape [1, 1, 16]; used to trace the ONNX export."""
    _, _, x_test, _ = make_dataset()
    return torch.from_numpy(x_test[:1].copy())
