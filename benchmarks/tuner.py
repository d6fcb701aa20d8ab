"""Tuner vs ezkl's default calibration on every example circuit.

For each circuit: measure ezkl's default calibration (target "resources") on
the held-out set, set the budget to "no worse than that" (max abs error and,
for classifiers, class agreement), run the tuner, then prove both the default
and the tuned circuit (setup once, prove REPEATS times in child processes,
fastest kept; peak RSS is the proving child's own ru_maxrss).

    .venv/bin/python -m benchmarks.tuner [--build-dir build/bench-tuner] [--repeats 2] [circuit ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CIRCUITS, write_results

ALL = ("mlp_regressor", "cnn_classifier", "gru_forecaster", "tree_ensemble", "conv1d_sequence", "gbt_classifier")


def _fid(cand: Any) -> str:
    fid = cand.fidelity
    text = f"{fid.max_abs_error:.2e}"
    if fid.argmax_agreement is not None:
        text += f" / {fid.argmax_agreement:.0%}"
    return text


def measure(name: str, build_dir: Path, repeats: int) -> dict[str, Any]:
    """One row: default vs tuned for circuit ``name``."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.srs import resolve_srs
    from zkml.tune import Budget, measure_baseline, measure_proving, tune
    from zkml.tune.measure import discard_proving_files
    from zkml.workspace import Workspace

    config = load_config(CIRCUITS / name)
    assert config.input is not None, f"{name} has no [data] input to prove"
    ws = Workspace(build_dir / name)
    pipeline = Pipeline(config, ws)
    baseline = measure_baseline(pipeline)
    assert baseline.fidelity is not None
    budget = Budget.no_worse_than(baseline.fidelity)
    start = time.perf_counter()
    result = tune(pipeline, budget, finalists=2)
    tune_seconds = time.perf_counter() - start
    chosen = result.chosen
    assert chosen is not None and chosen.fidelity is not None
    timings = {}
    for role, cand in (("default", result.baseline), ("tuned", chosen)):
        assert cand.logrows is not None
        srs = resolve_srs(cand.logrows)
        work = Path(cand.compiled_path).parent
        timings[role] = measure_proving(Path(cand.compiled_path), Path(cand.settings_path), srs.path, config.input, work, repeats=repeats)
        discard_proving_files(work)
    default, tuned = timings["default"], timings["tuned"]
    met, _ = budget.check(chosen.fidelity)
    return {
        "circuit": name,
        "budget": budget.describe(),
        "default_settings": f"s{result.baseline.input_scale} b{result.baseline.decomp_base}x{result.baseline.decomp_legs} c{result.baseline.num_inner_cols}",
        "default_fidelity": _fid(result.baseline),
        "default_logrows": result.baseline.logrows,
        "default_prove_s": round(default["prove_seconds"], 2),
        "default_peak_mb": round(default["prove_peak_rss_bytes"] / 2**20),
        "tuned_settings": chosen.knobs.label(),
        "tuned_fidelity": _fid(chosen),
        "tuned_logrows": chosen.logrows,
        "tuned_prove_s": round(tuned["prove_seconds"], 2),
        "tuned_peak_mb": round(tuned["prove_peak_rss_bytes"] / 2**20),
        "speedup": f"{default['prove_seconds'] / tuned['prove_seconds']:.1f}x",
        "meets_budget": met and bool(tuned["verified"]),
        "candidates": len(result.candidates),
        "tune_s": round(tune_seconds, 1),
    }


COLUMNS = [
    ("circuit", "circuit"),
    ("budget", "budget (= default's fidelity)"),
    ("default_settings", "default settings"),
    ("default_fidelity", "default fidelity (max abs err / agreement)"),
    ("default_logrows", "default logrows"),
    ("default_prove_s", "default prove s"),
    ("default_peak_mb", "default prove peak MB"),
    ("tuned_settings", "tuned settings"),
    ("tuned_fidelity", "tuned fidelity"),
    ("tuned_logrows", "tuned logrows"),
    ("tuned_prove_s", "tuned prove s"),
    ("tuned_peak_mb", "tuned prove peak MB"),
    ("speedup", "prove speed-up"),
    ("meets_budget", "meets budget + verified"),
    ("candidates", "candidates"),
    ("tune_s", "tune wall s"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", type=Path, default=Path("build/bench-tuner"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("circuits", nargs="*", default=list(ALL))
    args = parser.parse_args()
    rows = []
    for name in args.circuits:
        rows.append(measure(name, args.build_dir, args.repeats))
        # Written after every circuit, so an interrupted run keeps what it measured.
        write_results("tuner", rows, COLUMNS, "Tuner vs ezkl default calibration", _notes(args.repeats))
    path = write_results("tuner", rows, COLUMNS, "Tuner vs ezkl default calibration", _notes(args.repeats))
    print(path.read_text())


def _notes(repeats: int) -> str:
    return (
        "Settings: s = input/param scale, b = range-check decomposition base x legs, c = inner columns. "
        "Fidelity is measured with witnesses on the held-out set against onnxruntime. Prove seconds: fastest of "
        f"{repeats} runs in a child process (2 cores shared with other jobs, load average 3-5 during the run: noisy); "
        "peak MB is the proving child's own peak RSS (VmHWM; includes the Python interpreter and ezkl). "
        "Budget = the default calibration's own held-out fidelity, so 'tuned' is at equal or better fidelity by construction."
    )


if __name__ == "__main__":
    main()
