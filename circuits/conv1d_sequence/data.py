"""Regenerate input.json, calibration.json and holdout.json for conv1d_sequence.

Run: python data.py (deterministic). Calibration rows are training windows;
holdout rows are later test windows (time-ordered split), with the real
up/down labels as `targets`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from model import example_input, make_dataset  # noqa: E402

N_CALIBRATION = 48
N_HOLDOUT = 128
SEED = 11


def _flat(rows: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(rows, dtype=np.float32).reshape(-1)]


def main() -> None:
    x_train, _, x_test, y_test = make_dataset()
    rng = np.random.default_rng(SEED)
    calib_idx = np.sort(rng.choice(len(x_train), N_CALIBRATION, replace=False))
    hold_idx = np.sort(rng.choice(len(x_test), N_HOLDOUT, replace=False))
    files = {
        "input.json": {"input_data": [_flat(example_input().numpy())]},
        "calibration.json": {"input_data": [_flat(x_train[calib_idx])]},
        "holdout.json": {"input_data": [_flat(x_test[hold_idx])], "targets": [float(v) for v in y_test[hold_idx, 0]]},
    }
    for name, payload in files.items():
        (HERE / name).write_text(json.dumps(payload) + "\n")


if __name__ == "__main__":
    main()
