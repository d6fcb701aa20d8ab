"""Fidelity report: what quantization did to the model's outputs, in JSON, a PNG and a few lines.

Inputs are files a workspace already holds: ``fidelity.json`` (written by the
pipeline's compile stage: per-sample float and circuit outputs) or, before a
``zkml run``, the tuner's ``tune_fidelity.json`` (same schema), plus the
tuner's ``tune_candidates.json`` when there is one (names from
:class:`zkml.workspace.Layout`). Nothing is recomputed, so
``zkml report`` is instant and reproducible.

The PNG has two panels for the fidelity (circuit vs float outputs, with the
identity line; histogram of circuit - float errors) and, after a tuning run, a
third: every candidate's estimated cost against its error, with the budget,
the cost/accuracy frontier, the default calibration and the chosen one marked.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import ConfigError
from zkml.workspace import Layout

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """The files a report wrote and its text summary.

    Attributes:
        json_path: the report as JSON.
        png_path: the plots.
        summary: a few lines for a terminal.
    """

    json_path: Path
    png_path: Path
    summary: str


def load_fidelity(workspace: Path, *, prefer: str | None = None) -> tuple[dict[str, Any], Path]:
    """The workspace's per-sample fidelity data (``fidelity.json``, else ``tune_fidelity.json``).

    Args:
        workspace: the workspace folder.
        prefer: a file name to try first (``zkml tune`` shows its own choice).

    Raises:
        ConfigError: neither file exists or holds per-sample outputs.
    """
    layout = Layout(workspace)
    defaults = (layout.fidelity, layout.tune_fidelity)
    paths = ([layout.path(prefer)] if prefer else []) + [p for p in defaults if p.name != prefer]
    for path in paths:
        if path.is_file():
            try:
                data = json.loads(path.read_text())
                if data.get("float_outputs") is not None and data.get("circuit_outputs") is not None:
                    return data, path
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path} is unreadable: {exc}", hint="run zkml compile (or zkml tune) again") from exc
    raise ConfigError(
        f"{workspace} has no fidelity data ({' or '.join(p.name for p in defaults)})",
        hint="run zkml compile TARGET or zkml tune TARGET first",
    )


def _stats(fidelity: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    floats = np.asarray(fidelity["float_outputs"], dtype=np.float64)
    circuit = np.asarray(fidelity["circuit_outputs"], dtype=np.float64)
    errors = circuit - floats
    abs_err = np.abs(errors)
    scale = float(np.max(np.abs(floats))) if floats.size else 0.0
    stats: dict[str, Any] = {
        "samples": int(floats.shape[0]),
        "outputs_per_sample": int(floats.shape[1]) if floats.ndim > 1 else 1,
        "max_abs_error": float(abs_err.max()) if abs_err.size else 0.0,
        "mean_abs_error": float(abs_err.mean()) if abs_err.size else 0.0,
        "p99_abs_error": float(np.quantile(abs_err, 0.99)) if abs_err.size else 0.0,
        "mean_error": float(errors.mean()) if errors.size else 0.0,
        "max_rel_error": float(abs_err.max() / scale) if scale > 0 and abs_err.size else None,
        "output_range": [float(floats.min()), float(floats.max())] if floats.size else None,
        "argmax_agreement": fidelity.get("argmax_agreement"),
    }
    targets = fidelity.get("targets")
    if targets and floats.size:
        tgt = np.asarray(targets[: floats.shape[0]], dtype=np.float64)
        if floats.shape[1] == 1:
            stats["target_mae_float"] = float(np.mean(np.abs(floats[:, 0] - tgt)))
            stats["target_mae_circuit"] = float(np.mean(np.abs(circuit[:, 0] - tgt)))
        else:
            stats["target_accuracy_float"] = float(np.mean(np.argmax(floats, axis=1) == tgt))
            stats["target_accuracy_circuit"] = float(np.mean(np.argmax(circuit, axis=1) == tgt))
    return stats


def build_report(fidelity: dict[str, Any], tuner: dict[str, Any] | None = None, *, source: str = "") -> dict[str, Any]:
    """The report as plain JSON: fidelity statistics and, if given, the tuner's outcome.

    Args:
        fidelity: ``fidelity.json`` content (needs ``float_outputs`` and ``circuit_outputs``).
        tuner: ``tune_candidates.json`` content (raw JSON), or None.
        source: where the fidelity data came from (recorded).
    """
    report: dict[str, Any] = {"source": source, "data": fidelity.get("data"), "fidelity": _stats(fidelity)}
    # A bare ONNX is measured on samples generated around its input: say so wherever the numbers go.
    report["holdout_generated"] = bool(fidelity.get("holdout_generated"))
    if tuner is not None:
        cands = tuner.get("candidates", [])

        def pick(key: str) -> dict[str, Any] | None:
            index = tuner.get(key)
            return _candidate_summary(cands[index]) if isinstance(index, int) and 0 <= index < len(cands) else None

        report["tuner"] = {
            "budget": tuner.get("budget"),
            "reachable": tuner.get("reachable"),
            "message": tuner.get("message"),
            "candidates": len(cands),
            "chosen": pick("chosen"),
            "best": pick("best"),
            "baseline": pick("baseline"),
            "frontier": [_candidate_summary(c) for c in _frontier(cands)],
            # Every candidate proved for real (finalists and baseline), with its on-chain cost when measured.
            "finalists": [_candidate_summary(c) for c in cands if c.get("prove_seconds") is not None],
        }
    return report


def _candidate_summary(cand: dict[str, Any]) -> dict[str, Any]:
    fid = cand.get("fidelity") or {}
    return {
        "label": cand.get("label"),
        "logrows": cand.get("logrows"),
        "num_rows": cand.get("num_rows"),
        "input_scale": cand.get("input_scale"),
        "decomp": [cand.get("decomp_base"), cand.get("decomp_legs")],
        "num_inner_cols": cand.get("num_inner_cols"),
        "max_abs_error": fid.get("max_abs_error"),
        # tune_candidates.json of older zkml versions calls it `agreement`.
        "agreement": fid.get("argmax_agreement", fid.get("agreement")),
        "meets_budget": cand.get("meets_budget"),
        "prove_seconds": cand.get("prove_seconds"),
        "prove_peak_rss_bytes": cand.get("prove_peak_rss_bytes"),
        "verified": cand.get("verified"),
        "verify_gas": cand.get("verify_gas"),
        "verifier_runtime_bytes": cand.get("verifier_runtime_bytes"),
        "over_eip170": cand.get("over_eip170"),
    }


def _frontier(cands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Candidates no other candidate beats on both estimated cost and max abs error."""
    measured = sorted((c for c in cands if c.get("fidelity") and not c.get("error")), key=lambda c: (_x(c), c["fidelity"]["max_abs_error"]))
    frontier, best_err = [], math.inf
    for cand in measured:
        err = cand["fidelity"]["max_abs_error"]
        if err < best_err:
            frontier.append(cand)
            best_err = err
    return frontier


def summary_text(report: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    fid = report["fidelity"]
    kind = "GENERATED (no [data] holdout; not real data)" if report.get("holdout_generated") else "held-out"
    lines = [f"fidelity on {fid['samples']} {kind} samples ({fid['outputs_per_sample']} outputs each)"]
    line = f"  max abs err {fid['max_abs_error']:.3g}, mean {fid['mean_abs_error']:.3g}, p99 {fid['p99_abs_error']:.3g}"
    if fid.get("max_rel_error") is not None:
        line += f", rel {fid['max_rel_error']:.3g}"
    lines.append(line)
    if fid.get("argmax_agreement") is not None:
        lines.append(f"  class agreement with the float model {fid['argmax_agreement']:.1%}")
    if "target_mae_float" in fid:
        lines.append(f"  MAE vs targets: float {fid['target_mae_float']:.4g}, circuit {fid['target_mae_circuit']:.4g}")
    if "target_accuracy_float" in fid:
        lines.append(f"  accuracy vs labels: float {fid['target_accuracy_float']:.1%}, circuit {fid['target_accuracy_circuit']:.1%}")
    tuner = report.get("tuner")
    if tuner:
        lines.append(f"tuner: {tuner['candidates']} candidates, budget {tuner['budget']}")
        for key in ("baseline", "chosen"):
            cand = tuner.get(key)
            if cand:
                prove = f"{cand['prove_seconds']:.2f}s" if cand.get("prove_seconds") is not None else "not proved"
                lines.append(
                    f"  {key:8} {cand['label']}: logrows {cand['logrows']}, max abs err {cand['max_abs_error']:.3g}, prove {prove}"
                )
        lines.extend(_finalist_lines(tuner.get("finalists") or []))
        if not tuner.get("reachable"):
            lines.append(f"  budget unreachable: {tuner.get('message')}")
    return "\n".join(lines)


def _finalist_lines(finalists: list[dict[str, Any]]) -> list[str]:
    """One line per proved candidate: prove time, verifier size (flagged over EIP-170) and verify gas."""
    if not finalists:
        return []
    lines = [f"  {'proved':<30}{'logrows':>8}{'prove s':>9}{'verifier B':>12}{'verify gas':>12}"]
    for cand in finalists:
        size, gas = cand.get("verifier_runtime_bytes"), cand.get("verify_gas")
        flag = "  OVER EIP-170: needs the reusable verifier + VKA" if cand.get("over_eip170") else ""
        lines.append(
            f"  {str(cand['label'])[:30]:<30}{cand.get('logrows') or '?':>8}{cand['prove_seconds']:>9.2f}"
            f"{f'{size:,}' if size is not None else '-':>12}{f'{gas:,}' if gas is not None else '-':>12}{flag}"
        )
    return lines


def plot_report(fidelity: dict[str, Any], tuner: dict[str, Any] | None, out_path: Path, *, title: str = "") -> Path:
    """Draw the report PNG (matplotlib, Agg backend) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from zkml.workspace import atomic_path

    floats = np.asarray(fidelity["float_outputs"], dtype=np.float64)
    circuit = np.asarray(fidelity["circuit_outputs"], dtype=np.float64)
    panels = 3 if tuner and tuner.get("candidates") else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 5.2 if panels == 3 else 4.4), dpi=100)
    ax = axes[0]
    for column in range(floats.shape[1]):
        ax.scatter(floats[:, column], circuit[:, column], s=12, alpha=0.7, label=f"output {column}" if floats.shape[1] > 1 else None)
    low, high = float(min(floats.min(), circuit.min())), float(max(floats.max(), circuit.max()))
    ax.plot([low, high], [low, high], color="black", lw=0.8, ls="--", label="circuit = float")
    ax.set_xlabel("float model output (onnxruntime)")
    ax.set_ylabel("circuit output (ezkl witness)")
    ax.set_title("circuit vs float")
    ax.legend(fontsize=7, loc="upper left")

    ax = axes[1]
    errors = (circuit - floats).reshape(-1)
    ax.hist(errors, bins=min(40, max(10, errors.size // 4)), color="tab:blue", alpha=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("circuit - float")
    ax.set_ylabel("count (samples x outputs)")
    ax.set_title(f"error: max |e| {np.abs(errors).max():.2g}, mean {np.abs(errors).mean():.2g}")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))

    if panels == 3:
        assert tuner is not None
        _plot_frontier(axes[2], tuner)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out_path


def _x(cand: dict[str, Any]) -> float:
    """Plot position: logrows, nudged left/right by inner columns (1 / 2 / 4) so candidates do not hide each other."""
    cols = cand.get("num_inner_cols") or 2
    return float(cand.get("logrows") or 0) + 0.22 * math.log2(cols / 2)


def _plot_frontier(ax: Axes, tuner: dict[str, Any]) -> None:
    cands = [c for c in tuner["candidates"] if c.get("fidelity") and not c.get("error")]
    # Errors of exactly 0 cannot sit on a log axis; put them at a floor.
    floor = 1e-9

    def err(c: dict[str, Any]) -> float:
        return max(float(c["fidelity"]["max_abs_error"]), floor)

    ok = [c for c in cands if c.get("meets_budget")]
    miss = [c for c in cands if not c.get("meets_budget")]
    front = _frontier(tuner["candidates"])
    if front:
        ax.step([_x(c) for c in front], [err(c) for c in front], where="post", color="gray", lw=1, label="cost/accuracy frontier", zorder=1)
    budget = tuner.get("budget") or {}
    if budget.get("max_abs_error"):
        ax.axhline(budget["max_abs_error"], color="tab:orange", ls="--", lw=1, label="budget (max abs err)", zorder=1)
    all_c = tuner["candidates"]
    for key, marker, color in (("baseline", "s", "tab:purple"), ("chosen", "*", "gold")):
        index = tuner.get(key)
        if isinstance(index, int) and 0 <= index < len(all_c) and all_c[index].get("fidelity"):
            c = all_c[index]
            secs = f", prove {c['prove_seconds']:.1f}s" if c.get("prove_seconds") is not None else ""
            ax.scatter(
                [_x(c)],
                [err(c)],
                marker=marker,
                s=260,
                facecolors=color,
                edgecolors="black",
                zorder=2,
                label=f"{key}: {c.get('label')} (k={c['logrows']}{secs})",
            )
    ax.scatter([_x(c) for c in ok], [err(c) for c in ok], c="tab:green", s=22, label="meets budget", zorder=3)
    ax.scatter([_x(c) for c in miss], [err(c) for c in miss], c="tab:red", marker="x", s=30, label="misses budget", zorder=3)
    failed = len(tuner["candidates"]) - len(cands)
    ax.set_yscale("log")
    ticks = sorted({int(c.get("logrows") or 0) for c in cands})
    if ticks:
        ax.set_xticks(ticks)
        ax.set_xlim(ticks[0] - 0.6, ticks[-1] + 0.6)
    ax.set_xlabel("logrows (left/right of a tick: 1 / 4 inner columns)")
    ax.set_ylabel("max abs error on held-out data")
    ax.set_title(f"tuner: {len(tuner['candidates'])} candidates" + (f" ({failed} failed)" if failed else ""))
    # Below the axes: inside, it hides the candidates it describes.
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def write_report(workspace: Path, *, out_dir: Path | None = None, prefer: str | None = None) -> Report:
    """Regenerate the fidelity report of a workspace.

    Reads ``fidelity.json`` (or ``tune_fidelity.json``) and, if present,
    ``tune_candidates.json``; writes ``fidelity_report.json`` and
    ``fidelity_report.png`` into ``out_dir`` (default: the workspace).
    ``prefer`` names the fidelity file to try first (``tune_fidelity.json``
    right after tuning, when ``fidelity.json`` may describe the untuned circuit).

    Raises:
        ConfigError: the workspace has no fidelity data.
    """
    from zkml.workspace import write_json_atomic

    workspace = Path(workspace)
    out_dir = Path(out_dir) if out_dir else workspace
    out_dir.mkdir(parents=True, exist_ok=True)
    fidelity, source = load_fidelity(workspace, prefer=prefer)
    tuner = None
    candidates_path = Layout(workspace).tune_candidates
    if candidates_path.is_file():
        try:
            tuner = json.loads(candidates_path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{candidates_path} is unreadable: {exc}", hint="run zkml tune again, or delete it") from exc
    report = build_report(fidelity, tuner, source=str(source))
    json_path = Layout(out_dir).fidelity_report
    write_json_atomic(json_path, report)
    png_path = plot_report(fidelity, tuner, Layout(out_dir).fidelity_plot, title=f"{workspace.name}: fidelity ({source.name})")
    log.info("fidelity report: %s, %s", json_path, png_path)
    return Report(json_path, png_path, summary_text(report))


__all__ = ["Report", "build_report", "load_fidelity", "plot_report", "summary_text", "write_report"]
