"""Small CNN classifying scikit-learn's bundled 8x8 handwritten digits.

Architecture: Conv2d(1->4, 3x3, padding 1) -> ReLU -> AvgPool 2x2 -> Linear(64->10).
Average pooling (a sum plus a constant division) is used instead of max
pooling because max needs comparison lookups in the circuit; the whole
network then stays within a logrows ~15-17 circuit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

WEIGHTS = Path(__file__).with_name("weights.safetensors")  # written by `make retrain`

SEED = 0
TEST_FRACTION = 0.2
EPOCHS = 150


def make_dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_test, y_test); x is float32 [N, 1, 8, 8] in [0, 1].

    load_digits ships inside scikit-learn (no download). Pixels are 0..16, so
    dividing by 16 puts inputs in [0, 1], which suits fixed-point quantisation.
    """
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y)
    return x_train, y_train, x_test, y_test


class DigitsCNN(nn.Module):
    """Conv(1->4, 3x3) -> ReLU -> AvgPool(2) -> Linear(4*4*4 -> 10) logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, kernel_size=3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.conv(x)))
        # reshape rather than flatten(start_dim=1) keeps the export to one plain Reshape.
        return self.fc(h.reshape(h.shape[0], -1))


def train() -> nn.Module:
    """Train the CNN (seeded, full-batch Adam); `make retrain` saves the result as weights.safetensors.

    Seeded, yet bit-identical only on the same CPU kind and thread count: load the saved weights instead.
    """
    x_train, y_train, _, _ = make_dataset()
    # Seeding right before construction fixes the initial weights; full-batch
    # training then has no other randomness, so every call yields the same weights.
    torch.manual_seed(SEED)
    model = DigitsCNN()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(EPOCHS):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    return model.eval()


def build() -> nn.Module:
    """The trained DigitsCNN in eval mode: the committed weights.safetensors, the same bytes on every machine.

    Training again here would give weights a few ulps apart on another CPU or
    thread count; `make retrain` runs :func:`train` and rewrites the file.
    """
    from zkml.weights import load_weights

    return load_weights(DigitsCNN(), WEIGHTS)


def example_input() -> torch.Tensor:
    """First test image, shape [1, 1, 8, 8]; used to trace the ONNX export."""
    _, _, x_test, _ = make_dataset()
    return torch.from_numpy(x_test[:1].copy())
