"""Fit the cost model of :mod:`zkml.estimate` to measurements, write ``zkml/estimate_model.json``, and check it.

Reads ``benchmarks/results/estimate_measurements.json`` (written by
``python -m benchmarks.estimate measure``): one row per measured circuit
variant with its settings and the measured setup and prove seconds, peak
memory, proving-key bytes and verify gas. Each target is fitted by
non-negative least squares, relative (each row weighted by 1 / measured value)
so a 60 MB circuit counts as much as a 2 GB one, then scaled by one factor
that centres the worst under- and over-estimate (their geometric mean becomes
1): the estimate's contract is a ratio (within 1.5x, 2x), not an absolute
error. :func:`compare` checks the
committed model in-sample and, honestly, leave one model out: each row is
estimated by a model refitted without every row of its model (and of its
opset twins: ``torch_mlp_op11`` and ``torch_mlp_op17`` are left out together).

    .venv/bin/python -m benchmarks.estimate_fit
"""

from __future__ import annotations

import json
import re
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
MEMORY_TARGET, TIME_TARGET = 1.5, 2.0
# compared quantity -> (Estimate attribute, measured key, target factor, label)
QUANTITIES = {
    "setup_peak": ("setup_peak_bytes", "setup_peak_rss_bytes", MEMORY_TARGET, "setup peak memory"),
    "prove_peak": ("prove_peak_bytes", "prove_peak_rss_bytes", MEMORY_TARGET, "prove peak memory"),
    "prove_s": ("prove_seconds", "prove_seconds", TIME_TARGET, "prove seconds"),
    "pk": ("pk_bytes", "pk_bytes", MEMORY_TARGET, "proving-key size"),
    "gas": ("verify_gas", "verify_gas", MEMORY_TARGET, "verify gas (plain verifier)"),
}


def shape_of(row: dict[str, Any]) -> Any:
    """A measurement row's :class:`zkml.settings.CostShape` (from its settings when recorded)."""
    from zkml.settings import CostShape, cost_shape_of

    return cost_shape_of(row["settings"]) if "settings" in row else CostShape(**row["shape"])


def group_of(row: dict[str, Any]) -> str:
    """What leave-one-out leaves out together: a model and its opset twins (``torch_mlp_op11`` with ``torch_mlp_op17``)."""
    return re.sub(r"_op\d+$", "", str(row["circuit"]))


def fit_nnls(features: list[list[float]], values: list[float]) -> list[float]:
    """Non-negative coefficients minimising the relative squared error of ``features @ c`` against ``values``, worst ratios centred."""
    import numpy as np
    from scipy.optimize import nnls

    x = np.asarray(features, dtype=float)
    y = np.asarray(values, dtype=float)
    weights = 1.0 / np.maximum(np.abs(y), 1e-12)
    # Columns scaled to unit norm: n*E is ~1e5 and the constant 1, which nnls handles badly unscaled.
    weighted = x * weights[:, None]
    norms = np.linalg.norm(weighted, axis=0)
    norms[norms == 0] = 1.0
    coef, _ = nnls(weighted / norms, y * weights)
    coef = coef / norms
    # The contract is a bound on the ratio (within 1.5x), so the fit is then scaled to centre its
    # worst ratios geometrically: least squares alone leaves them lopsided (e.g. 0.65 and 1.17),
    # one common factor makes them symmetric (0.75 and 1.34) without changing the shape of the model.
    ratios = (x @ coef) / y
    if (ratios > 0).all():
        coef = coef / np.sqrt(ratios.min() * ratios.max())
    return [float(c) for c in coef]


def fit(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The estimate model's JSON for measured ``rows``."""
    from zkml.estimate import GAS_FEATURES, ROW_FEATURES, gas_features, row_features

    shapes = [shape_of(row) for row in rows]
    targets = {}
    for target, key in TARGET_KEYS.items():
        usable = [(row_features(s), r[key]) for s, r in zip(shapes, rows, strict=True) if r.get(key)]
        targets[target] = fit_nnls([f for f, _ in usable], [v for _, v in usable])
    gas = [(gas_features(s), r["verify_gas"]) for s, r in zip(shapes, rows, strict=True) if r.get("verify_gas")]
    return {
        "version": 2,
        "fitted": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "points": len(rows),
        "models": len({r["circuit"] for r in rows}),
        "row_features": list(ROW_FEATURES),
        "gas_features": list(GAS_FEATURES),
        "targets": targets,
        "verify_gas": fit_nnls([f for f, _ in gas], [v for _, v in gas]),
    }


def compare(rows: list[dict[str, Any]], committed: dict[str, Any]) -> list[dict[str, Any]]:
    """Per measured row: the ``committed`` model's and the leave-one-model-out estimates, and their ratios to the measurement."""
    from zkml.estimate import estimate_shape

    held_out = {group: fit([r for r in rows if group_of(r) != group]) for group in {group_of(r) for r in rows}}
    out = []
    for row in rows:
        shape = shape_of(row)
        entry: dict[str, Any] = {
            "circuit": row["circuit"],
            "source": row.get("source", "example"),
            "variant": row["variant"],
            "logrows": shape.logrows,
            "load_average": row.get("load_average"),
        }
        for kind, model in (("fit", committed), ("loo", held_out[group_of(row)])):
            est = estimate_shape(shape, model=model)
            for key, (attr, measured_key, factor, _) in QUANTITIES.items():
                estimated, measured = getattr(est, attr), row.get(measured_key)
                ratio = estimated / measured if measured else None
                entry[f"{key}_{kind}"] = estimated
                entry[f"{key}_measured"] = measured
                entry[f"{key}_{kind}_ratio"] = None if ratio is None else round(ratio, 2)
                entry[f"{key}_{kind}_ok"] = None if ratio is None else 1 / factor <= ratio <= factor
        out.append(entry)
    return out


def counts(compared: list[dict[str, Any]], key: str, kind: str) -> tuple[int, int, float | None]:
    """(rows within the target, rows with a measurement, worst ratio estimated/measured) of one quantity."""
    oks = [c[f"{key}_{kind}_ok"] for c in compared if c[f"{key}_{kind}_ok"] is not None]
    ratios = [c[f"{key}_{kind}_ratio"] for c in compared if c[f"{key}_{kind}_ratio"]]
    worst = max(ratios, key=lambda r: max(r, 1 / r)) if ratios else None
    return sum(oks), len(oks), worst


def main() -> None:
    from zkml.estimate import MODEL_PATH

    rows = json.loads(MEASUREMENTS.read_text())["rows"]
    model = fit(rows)
    Path(MODEL_PATH).write_text(json.dumps(model, indent=2) + "\n")
    print(f"fitted {len(rows)} measurements of {model['models']} models -> {MODEL_PATH}")


if __name__ == "__main__":
    main()
