"""Calibration where ezkl's fails: the tuner's knobs, searched for any settings that fit.

ezkl's ``calibrate_settings`` tries scales at its default range-check
decomposition and lookup margin, and gives up with "could not find any
suitable parameters" when none fits in ``max_logrows``. A large constant does
that, e.g. the -1e5 additive mask of a causal self-attention block: at scale
13 the softmax's lookup range is about 1e5 * 2**13 * 2 (the margin), more than
2**26 rows. Lower scales, a lookup margin of 1 and smaller decompositions
shrink it by powers of two; this module searches them with the tuner's
:class:`~zkml.tune.workbench.Workbench` (calibrate, compile, fidelity on
held-out data, constraint check) and keeps the cheapest candidate within a
factor of the most accurate one, or, when the circuit declares a
``[budget]``, the cheapest that meets it.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from zkml.errors import CalibrationError

if TYPE_CHECKING:
    from pathlib import Path

    from zkml.artifacts import Settings
    from zkml.config import CircuitConfig
    from zkml.tune.auto import SettingsChoice
    from zkml.tune.candidates import Candidate, Knobs
    from zkml.tune.workbench import Prepared, Workbench
    from zkml.workspace import Workspace

log = logging.getLogger(__name__)

# ezkl's message when no scale fits; other calibration failures (a model ezkl
# cannot run, bad data) are not a matter of settings and are raised as they are.
NO_PARAMETERS = "could not find any suitable parameters"
# Searched from the most accurate down: scales, then (base, legs), then the lookup margin.
FALLBACK_SCALES = (13, 10, 7, 5, 3, 2, 1)
FALLBACK_DECOMPS = ((16384, 2), (256, 4))
FALLBACK_MARGINS = (2.0, 1.0)
# Without a budget: the cheapest whose max relative error is within this factor of the best found.
ACCURACY_SLACK = 2.0
# Of the combinations that calibrate, those within this many logrows of the smallest are
# compiled and measured (at most MAX_MEASURED of them).
LOGROWS_SLACK = 2
MAX_MEASURED = 4


def calibrate_or_search(
    data: Path, out_path: Path, choice: SettingsChoice, *, rebase_multipliers: tuple[int, ...] | None = None
) -> tuple[Settings, str | None]:
    """ezkl's calibration with ``choice.circuit``; when it finds no parameters, the tuner's search.

    Args:
        data: calibration samples.
        out_path: where the settings go.
        choice: the settings, config, workspace and prepared model (:func:`zkml.tune.auto.choose_settings`).
        rebase_multipliers: passed to ezkl's calibration (:func:`zkml.calibrate.calibrate`).

    Returns:
        The settings (written to ``out_path``), and a short description of the
        searched candidate (None when ezkl's calibration succeeded).

    Raises:
        CalibrationError: ezkl failed for another reason, ``[circuit]`` pins the
            searched settings itself, or no searched candidate calibrates.
    """
    from zkml.calibrate import calibrate

    circuit = choice.circuit
    try:
        return calibrate(choice.prepared.model, data, out_path, circuit, rebase_multipliers=rebase_multipliers), None
    except CalibrationError as exc:
        pinned = [k for k in ("input_scale", "param_scale", "decomp_base", "decomp_legs", "logrows") if getattr(circuit, k) is not None]
        if NO_PARAMETERS not in exc.message or pinned:
            raise
        first = exc
    log.warning("ezkl's calibration found no parameters for %s; searching scales, decompositions and margins", choice.config.name)
    chosen = search_settings(choice.config, choice.workspace, data, choice.prepared)
    if chosen is None:
        raise CalibrationError(
            f"{first.message}; the tuner's search ({len(FALLBACK_SCALES)} scales x {len(FALLBACK_DECOMPS)} decompositions "
            f"x {len(FALLBACK_MARGINS)} margins) found none either",
            hint="look for very large constants in the model (e.g. a -1e9 attention mask: use -1e4), or raise max_logrows",
        ) from first
    from zkml.settings import read_settings

    shutil.copyfile(chosen.settings_path, out_path)
    return read_settings(out_path), f"{chosen.knobs.label()}, logrows {chosen.logrows}"


def search_settings(config: CircuitConfig, workspace: Workspace, calibration: Path, prepared: Prepared) -> Candidate | None:
    """The searched candidate for :func:`calibrate_or_search` (None when none calibrates and passes mock).

    Two passes: every knob combination is only calibrated first (a failure
    takes well under a second), then the ones with the fewest logrows are
    compiled and measured on held-out data, most accurate scale first. A
    circuit compiled at logrows 26 takes minutes, so cost decides what is measured.
    """
    from zkml.tune.auto import declared_budget
    from zkml.tune.budget import Budget
    from zkml.tune.workbench import Workbench

    budget = declared_budget(config)
    bench = Workbench(config, workspace, budget or Budget(max_abs_error=float("inf")), samples=32, prepared=prepared)
    bench.prepare()
    bench.calibration_path = calibration
    sized = _calibrated_sizes(bench)
    if not sized:
        return None
    # Per scale, its cheapest combination; then the scales within LOGROWS_SLACK of the cheapest, most accurate first.
    per_scale: dict[int, tuple[int, Knobs]] = {}
    for logrows, knobs in sized:
        scale = knobs.input_scale or 0
        if scale not in per_scale or logrows < per_scale[scale][0]:
            per_scale[scale] = (logrows, knobs)
    smallest = min(logrows for logrows, _ in per_scale.values())
    queue = [knobs for scale, (logrows, knobs) in sorted(per_scale.items(), reverse=True) if logrows <= smallest + LOGROWS_SLACK]
    measured = [c for c in (bench.evaluate(k) for k in queue[:MAX_MEASURED]) if not c.error and c.fidelity is not None]
    return _choose(bench, measured, budget is not None)


def _calibrated_sizes(bench: Workbench) -> list[tuple[int, Knobs]]:
    """(logrows, knobs) of every knob combination ezkl's calibration accepts (calibration only, no compile)."""
    from zkml.calibrate import calibrate
    from zkml.tune.candidates import Knobs

    sized = []
    scratch = bench.dir / "fallback"
    for scale in FALLBACK_SCALES:
        for base, legs in FALLBACK_DECOMPS:
            for margin in FALLBACK_MARGINS:
                knobs = Knobs(scale, scale, base, legs, None, margin)
                circuit = replace(bench.config.circuit, calibration_target="resources", logrows=None, **asdict(knobs))
                try:
                    settings = calibrate(bench.model, bench.calibration_path, scratch / f"{knobs.label()}.json".replace(" ", "_"), circuit)
                except CalibrationError as exc:
                    log.debug("fallback %s: %s", knobs.label(), exc)
                    continue
                sized.append((settings.logrows, knobs))
    return sized


def _choose(bench: Workbench, measured: list[Candidate], has_budget: bool) -> Candidate | None:
    """The cheapest acceptable candidate that passes ezkl's constraint check."""
    from zkml.tune.candidates import Candidate

    if has_budget:
        acceptable = [c for c in measured if c.meets_budget]
    else:
        best = min((c.fidelity.max_rel_error for c in measured if c.fidelity is not None), default=float("inf"))
        acceptable = [c for c in measured if c.fidelity is not None and c.fidelity.max_rel_error <= best * ACCURACY_SLACK]
    for cand in sorted(acceptable, key=Candidate.cost_key):
        if bench.mock(cand):
            log.info("calibration fallback chose %s (logrows %s)", cand.label, cand.logrows)
            return cand
    return None


__all__ = ["NO_PARAMETERS", "calibrate_or_search", "search_settings"]
