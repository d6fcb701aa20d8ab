"""The one data writer the example circuits share: input.json, calibration.json, holdout.json.

Each circuit's ``data.py`` hands it that folder's ``example_input`` and
``make_dataset`` (from its ``model.py``). Calibration rows are drawn from the
training split (what the circuit's fixed-point ranges should be fitted to);
holdout rows from the test split, so the two never overlap. Output is
deterministic (seeded).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

N_CALIBRATION = 48
SEED = 11


def _flat(rows: Any) -> list[float]:
    """Row-major flatten to plain Python floats (ezkl's input_data format)."""
    return [float(v) for v in np.asarray(rows, dtype=np.float32).reshape(-1)]


def write_example_data(
    folder: Path,
    example_input: Callable[[], Any],
    make_dataset: Callable[[], tuple[Any, Any, Any, Any]],
    *,
    n_holdout: int | None = 128,
) -> None:
    """Write the three data files of a circuit folder.

    Args:
        folder: the circuit folder.
        example_input: returns the sample input (a torch tensor or an array).
        make_dataset: returns ``x_train, y_train, x_test, y_test``.
        n_holdout: test rows to keep (seeded sample), or None for all of them.
    """
    x_train, _, x_test, y_test = make_dataset()
    rng = np.random.default_rng(SEED)
    calib_idx = np.sort(rng.choice(len(x_train), N_CALIBRATION, replace=False))
    hold_idx = np.arange(len(x_test)) if n_holdout is None else np.sort(rng.choice(len(x_test), n_holdout, replace=False))
    y = np.asarray(y_test)
    # Regression targets come as a column; class indices as a vector.
    targets = y[hold_idx, 0] if y.ndim == 2 else y[hold_idx]
    example = example_input()
    files = {
        "input.json": {"input_data": [_flat(example.numpy() if hasattr(example, "numpy") else example)]},
        "calibration.json": {"input_data": [_flat(x_train[calib_idx])]},
        "holdout.json": {"input_data": [_flat(x_test[hold_idx])], "targets": [float(v) for v in targets]},
    }
    for name, payload in files.items():
        (Path(folder) / name).write_text(json.dumps(payload) + "\n")


def main(data_file: str, **options: Any) -> None:
    """Run from a circuit's ``data.py``: load its ``model.py`` and write the folder's data files."""
    import sys

    folder = Path(data_file).resolve().parent
    sys.path.insert(0, str(folder))  # so `model` resolves to that folder's model.py
    from model import example_input, make_dataset  # type: ignore[import-not-found]

    write_example_data(folder, example_input, make_dataset, **options)
