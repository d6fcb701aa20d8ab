"""A one-head self-attention forecaster over the gru_forecaster example's series (8 returns -> the next).

Its plain verifier is over EIP-170 (about 32 KB at logrows 16), so `zkml run` takes it to an
attested prediction through the reusable verifier and its VKA: what
``benchmarks/oracle_vka_run.py`` measures and a slow test in ``tests/test_flow.py`` runs.
The weights come from a short seeded training at export (deterministic on one machine;
nothing committed depends on them).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

DIM = 4
STEPS = 300


def _series_module() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "circuits" / "gru_forecaster" / "model.py"
    spec = importlib.util.spec_from_file_location("gru_forecaster_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def price_series(start: float = 100.0) -> list[float]:
    """The price path whose percent returns are the series (the gru_forecaster example's)."""
    prices: list[float] = _series_module().price_series(start)
    return prices


class AttentionForecaster(nn.Module):
    """Embed each return, one head of scaled dot-product self-attention with a residual, read the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(1, DIM)
        self.q, self.k, self.v = nn.Linear(DIM, DIM), nn.Linear(DIM, DIM), nn.Linear(DIM, DIM)
        self.head = nn.Linear(DIM, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        scores = self.q(h) @ self.k(h).transpose(1, 2) / math.sqrt(DIM)
        mixed = torch.softmax(scores, dim=-1) @ self.v(h) + h
        out: torch.Tensor = self.head(mixed[:, -1, :])
        return out


def build() -> nn.Module:
    """Train briefly (seeded, full-batch Adam on MSE) on the example's training windows."""
    torch.manual_seed(3)
    model = AttentionForecaster()
    x, y, _, _ = _series_module().make_dataset()
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(STEPS):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        optimizer.step()
    return model.eval()


def example_input() -> torch.Tensor:
    return torch.zeros(1, 8, 1)
