"""Fit the cost model of :mod:`zkml.estimate` to measurements, and write ``zkml/estimate_model.json``.

Reads ``benchmarks/results/estimate_measurements.json`` (written by
``python -m benchmarks.estimate measure``): one row per measured circuit
variant with its :class:`zkml.settings.CostShape` and the measured setup and
prove seconds, peak memory, proving-key bytes and verify gas. Each target is
fitted by non-negative least squares, relative (each row weighted by
1 / measured value) so a 60 MB circuit counts as much as a 2 GB one; the
estimate's contract is a ratio (within 1.5x, 2x), not an absolute error.

    .venv/bin/python -m benchmarks.estimate_fit
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, machine

MEASUREMENTS = RESULTS / "estimate_measurements.json"
# measured key -> estimate_model.json target
TARGET_KEYS = {
    "prove_seconds": "prove_seconds",
    "setup_seconds": "setup_seconds",
    "prove_peak_bytes": "prove_peak_rss_bytes",
    "setup_peak_bytes": "setup_peak_rss_bytes",
    "pk_bytes": "pk_bytes",
}


def fit_nnls(features: list[list[float]], values: list[float]) -> list[float]:
    """Non-negative coefficients minimising the relative squared error of ``features @ c`` against ``values``."""
    import numpy as np
    from scipy.optimize import nnls

    x = np.asarray(features, dtype=float)
    y = np.asarray(values, dtype=float)
    weights = 1.0 / np.maximum(np.abs(y), 1e-12)
    # Columns scaled to unit norm: n is ~1e5 and the constant 1, which nnls handles badly unscaled.
    weighted = x * weights[:, None]
    norms = np.linalg.norm(weighted, axis=0)
    norms[norms == 0] = 1.0
    coef, _ = nnls(weighted / norms, y * weights)
    return [float(c) for c in coef / norms]


def fit(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The estimate model's JSON for measured ``rows``."""
    from zkml.estimate import gas_features, row_features
    from zkml.settings import CostShape

    shapes = [CostShape(**row["shape"]) for row in rows]
    targets = {}
    for target, key in TARGET_KEYS.items():
        usable = [(row_features(s), r[key]) for s, r in zip(shapes, rows, strict=True) if r.get(key)]
        targets[target] = fit_nnls([f for f, _ in usable], [v for _, v in usable])
    gas = [(gas_features(s), r["verify_gas"]) for s, r in zip(shapes, rows, strict=True) if r.get("verify_gas")]
    return {
        "version": 1,
        "fitted": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "points": len(rows),
        "row_features": ["1", "n", "n*inner_cols", "n*tables", "assignments"],
        "gas_features": ["1", "instances", "tables", "inner_cols"],
        "targets": targets,
        "verify_gas": fit_nnls([f for f, _ in gas], [v for _, v in gas]),
    }


def main() -> None:
    from zkml.estimate import MODEL_PATH

    rows = json.loads(MEASUREMENTS.read_text())["rows"]
    model = fit(rows)
    Path(MODEL_PATH).write_text(json.dumps(model, indent=2) + "\n")
    print(f"fitted {len(rows)} measurements -> {MODEL_PATH}")


if __name__ == "__main__":
    main()
