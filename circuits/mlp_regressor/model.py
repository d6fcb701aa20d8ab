"""MLP regressor: predict the next-period return of a synthetic price series.

The series is a seeded AR(2) process with GARCH(1,1) volatility, so the next
return is partly predictable from recent returns (the AR part) while the noise
level clusters in time (the GARCH part), like real asset returns.

Returns are expressed in percent (about 1.0 in magnitude) rather than as raw
fractions (about 0.01): ezkl quantises inputs to fixed point, and values near
1 keep far more significant bits at a given scale than values near 0.01.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS = Path(__file__).with_name("weights.safetensors")  # written by `make retrain`

WINDOW = 8  # number of past returns fed to the model
SERIES_LENGTH = 3000
SEED = 7
TRAIN_FRACTION = 0.8
EPOCHS = 100


def simulate_returns(length: int = SERIES_LENGTH, seed: int = SEED) -> np.ndarray:
    """Simulate percent returns r_t = 0.35 r_{t-1} - 0.2 r_{t-2} + sigma_t * z_t."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 0.05, 0.10, 0.85  # GARCH(1,1); alpha + beta < 1 keeps it stationary
    phi1, phi2 = 0.35, -0.20  # AR(2) coefficients: the learnable signal
    returns = np.zeros(length, dtype=np.float64)
    var = omega / (1.0 - alpha - beta)  # start at the unconditional variance
    shock = 0.0
    for t in range(2, length):
        var = omega + alpha * shock**2 + beta * var
        shock = np.sqrt(var) * rng.standard_normal()
        returns[t] = phi1 * returns[t - 1] + phi2 * returns[t - 2] + shock
    return returns


def price_series(start: float = 100.0) -> list[float]:
    """The price path behind the returns: p_t = p_{t-1} * (1 + r_t / 100), from ``start``.

    `zkml run` pushes its last rounds into a local AggregatorV3 feed; the on-chain
    feature source turns them back into percent returns, the model's input.
    """
    prices = start * np.cumprod(1.0 + simulate_returns() / 100.0)
    return [float(p) for p in prices]


def make_dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_test, y_test) as float32 arrays.

    Each row of x is the last WINDOW returns (oldest first); y is the next
    return. The split is chronological so test windows come strictly after
    all training windows.
    """
    returns = simulate_returns()
    windows = np.lib.stride_tricks.sliding_window_view(returns[:-1], WINDOW)
    targets = returns[WINDOW:]
    x = windows.astype(np.float32)
    y = targets.astype(np.float32)[:, None]
    split = int(len(x) * TRAIN_FRACTION)
    return x[:split], y[:split], x[split:], y[split:]


class MLPRegressor(nn.Module):
    """8 -> 16 -> 16 -> 1 ReLU MLP; small enough for a logrows ~15 circuit."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(WINDOW, 16),
            nn.ReLU(),
            nn.Linear(16, 16),
            nn.ReLU(),
            nn.Linear(16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train() -> nn.Module:
    """Train the regressor (seeded); `make retrain` saves the result as weights.safetensors.

    Seeded, yet bit-identical only on the same CPU kind and thread count: load the saved weights instead.
    """
    x_train, y_train, _, _ = make_dataset()
    torch.manual_seed(SEED)  # fixes the initial weights; full-batch training adds no other randomness
    model = MLPRegressor()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    # Full-batch training: no data-order randomness. Only 100 steps: returns are
    # noise-dominated (heavy-tailed GARCH shocks), and longer training overfits
    # that noise (test R^2 turns negative by ~200 steps).
    for _ in range(EPOCHS):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xt), yt)
        loss.backward()
        opt.step()
    return model.eval()


def build() -> nn.Module:
    """The trained MLPRegressor in eval mode: the committed weights.safetensors, the same bytes on every machine.

    Training again here would give weights a few ulps apart on another CPU or
    thread count; `make retrain` runs :func:`train` and rewrites the file.
    """
    from zkml.weights import load_weights

    return load_weights(MLPRegressor(), WEIGHTS)


def example_input() -> torch.Tensor:
    """First test window, shape [1, 8]; used to trace the ONNX export."""
    _, _, x_test, _ = make_dataset()
    return torch.from_numpy(x_test[:1].copy())
