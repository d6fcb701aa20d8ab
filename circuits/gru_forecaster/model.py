"""GRU one-step-ahead forecaster over an 8-step univariate window.

The series is a seeded synthetic "seasonal load" signal: two sinusoids with
incommensurate periods, a slow AR(1) drift and Gaussian noise. The model reads
the last 8 values (shape [1, 8, 1], batch_first) and predicts the next value.

torch.nn.GRU is exported as a single ONNX `GRU` node (opset 17, legacy
exporter). ezkl 23.0.5 accepts that node directly (its tract-based loader
unrolls the recurrence over the fixed 8 steps), so no hand-written GRU cell is
needed here; see README.md for the check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS = Path(__file__).with_name("weights.safetensors")  # written by `make retrain`

WINDOW = 8
HIDDEN = 6
SERIES_LENGTH = 2500
SEED = 3
TRAIN_FRACTION = 0.8
EPOCHS = 200


def simulate_series(length: int = SERIES_LENGTH, seed: int = SEED) -> np.ndarray:
    """Seasonal signal + AR(1) drift + noise, roughly in [-2, 2]."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    seasonal = np.sin(2 * np.pi * t / 24.0) + 0.5 * np.sin(2 * np.pi * t / 7.3 + 1.0)
    drift = np.zeros(length)
    for i in range(1, length):
        drift[i] = 0.95 * drift[i - 1] + 0.05 * rng.standard_normal()
    return seasonal + drift + 0.1 * rng.standard_normal(length)


def price_series(start: float = 100.0) -> list[float]:
    """A price path whose percent returns are the series: p_t = p_{t-1} * (1 + s_t / 100), from ``start``.

    `zkml run` pushes its last rounds into a local AggregatorV3 feed; the on-chain
    feature source turns them back into percent returns, the model's input, so the
    forecast is the next round's percent return.
    """
    prices = start * np.cumprod(1.0 + simulate_series() / 100.0)
    return [float(p) for p in prices]


def make_dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train [N, 8, 1], y_train [N, 1], x_test, y_test), float32.

    Chronological split: every test window lies after every training window.
    """
    series = simulate_series()
    windows = np.lib.stride_tricks.sliding_window_view(series[:-1], WINDOW)
    x = windows.astype(np.float32)[:, :, None]
    y = series[WINDOW:].astype(np.float32)[:, None]
    split = int(len(x) * TRAIN_FRACTION)
    return x[:split], y[:split], x[split:], y[split:]


class GRUForecaster(nn.Module):
    """Single-layer GRU (1 -> 6) whose last hidden state feeds a Linear(6 -> 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size=1, hidden_size=HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # h_n is [num_layers, batch, hidden]; using it (not the full output
        # sequence) keeps the exported graph free of a slice over time.
        _, h_n = self.gru(x)
        return self.head(h_n[-1])


def train() -> nn.Module:
    """Train the forecaster (seeded, full-batch Adam); `make retrain` saves the result as weights.safetensors.

    Seeded, yet bit-identical only on the same CPU kind and thread count: load the saved weights instead.
    """
    x_train, y_train, _, _ = make_dataset()
    torch.manual_seed(SEED)  # fixes the initial weights; full-batch training adds no other randomness
    model = GRUForecaster()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(EPOCHS):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xt), yt)
        loss.backward()
        opt.step()
    return model.eval()


def build() -> nn.Module:
    """The trained GRUForecaster in eval mode: the committed weights.safetensors, the same bytes on every machine.

    Training again here would give weights a few ulps apart on another CPU or
    thread count; `make retrain` runs :func:`train` and rewrites the file.
    """
    from zkml.weights import load_weights

    return load_weights(GRUForecaster(), WEIGHTS)


def example_input() -> torch.Tensor:
    """First test window, shape [1, 8, 1]; used to trace the ONNX export."""
    _, _, x_test, _ = make_dataset()
    return torch.from_numpy(x_test[:1].copy())
