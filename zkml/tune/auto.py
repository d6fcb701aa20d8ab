"""Tuned settings by default: what the pipeline's calibrate stage calibrates with.

In order: the workspace's ``tuned.json`` (from ``zkml tune``, or an earlier
``[budget]`` run), then the circuit folder's committed ``tuned.json``
(``zkml tune --all --write``), each only while it was made for this model's
graph (:func:`zkml.tune.pinned.graph_fingerprint`); for other weights than it
was tuned on, only once re-validated on held-out data (:mod:`zkml.tune.revalidate`). A circuit that declares a
``[budget]`` no file was tuned for is tuned once, here, and the result cached
in the workspace, so the next run reuses it. Otherwise: ezkl's calibration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zkml.tune.pinned import TunedChoice, find_tuned
from zkml.tune.revalidate import Revalidation
from zkml.tune.workbench import Prepared

if TYPE_CHECKING:
    from pathlib import Path

    from zkml.artifacts import OnnxModel
    from zkml.config import CircuitConfig, CircuitSettings
    from zkml.tune.budget import Budget
    from zkml.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettingsChoice:
    """The circuit settings to calibrate with, what they are for, and a note for the run summary.

    Attributes:
        circuit: ``[circuit]`` with the tuned values pinned (or unchanged).
        origin: ``tuned`` (a file applied), ``tuned-now`` (tuned in this run for ``[budget]``) or ``default``.
        config: the circuit's config (``[budget]``, data).
        workspace: its workspace.
        prepared: the exported model and its sample input (for a fallback search).
        choice: the tuned file applied, if any.
        revalidation: the verdict on a tuned file made for other weights of the same
            graph (:mod:`zkml.tune.revalidate`): applied when it passed, dropped when not.
    """

    circuit: CircuitSettings
    origin: str
    config: CircuitConfig
    workspace: Workspace
    prepared: Prepared
    choice: TunedChoice | None = None
    revalidation: Revalidation | None = None

    def note(self, searched: str | None = None, settings_path: Path | None = None) -> dict[str, Any]:
        """What the run summary says about the settings (:attr:`zkml.artifacts.RunSummary.extra`).

        Args:
            searched: what the calibration fallback chose, when ezkl's own calibration failed.
            settings_path: the calibrated settings, to add :mod:`zkml.estimate`'s predicted cost.
        """
        from zkml.estimate import summary_note

        note: dict[str, Any] = summary_note(settings_path) if settings_path is not None else {}
        if searched:
            note["settings"] = f"searched ({searched}): ezkl's calibration found none"
        elif self.choice is None:
            note["settings"] = "default (ezkl calibration)"
        elif self.revalidation is not None and self.revalidation.ok:
            note["settings"] = f"tuned (re-validated for changed weights; logrows {self.choice.logrows})"
        else:
            note["settings"] = f"tuned (logrows {self.choice.logrows})"
        if self.revalidation is not None:
            verdict = "re-validated" if self.revalidation.ok else "tuned settings dropped"
            note["settings_revalidation"] = f"{verdict}: {self.revalidation.reason}"
        if self.choice is not None:
            note["settings_source"] = str(self.choice.path)
            if self.choice.budget:
                note["settings_budget"] = self.choice.budget
        return note


def declared_budget(config: CircuitConfig) -> Budget | None:
    """The ``[budget]`` of ``zkml.toml`` (or ``tune.toml`` beside it), if the circuit declares one.

    Raises:
        ConfigError: an invalid budget.
    """
    from zkml.tune.budget import Budget, load_budget

    # load_budget reads zkml.toml and tune.toml (tune.toml wins); a config not loaded from a folder has only its own table.
    found = load_budget(config.root) if config.source is not None else None
    if found is None and config.budget:
        found = Budget.from_mapping(dict(config.budget), source=str(config.source or config.root))
    return found


def _pins_tuned_settings(config: CircuitConfig) -> list[str]:
    """The tunable settings ``[circuit]`` pins itself (then nothing is tuned for it, nor applied)."""
    from zkml.config import CircuitSettings

    defaults = CircuitSettings()
    knobs = ("input_scale", "param_scale", "logrows", "lookup_safety_margin", "num_inner_cols", "decomp_base", "decomp_legs")
    return [k for k in knobs if getattr(config.circuit, k) != getattr(defaults, k)]


def choose_settings(
    config: CircuitConfig,
    workspace: Workspace,
    model: OnnxModel,
    sample: Path,
    *,
    tune_budget: bool = True,
    calibration: Path | None = None,
) -> SettingsChoice:
    """The circuit settings the pipeline calibrates ``model`` with.

    Args:
        config: the circuit.
        workspace: its workspace (``tuned.json`` is read there, and written when tuning now).
        model: the exported model (its fingerprints select the tuned file).
        sample: the sample input the tuner proves.
        tune_budget: tune now for a declared ``[budget]`` that no tuned file matches.
        calibration: the calibration samples, to re-validate a tuned file made for other
            weights of this graph; without them such a file is not used.

    Raises:
        BudgetUnreachableError: the declared budget cannot be met.
        ConfigError: an unreadable ``tuned.json`` or invalid budget.
    """
    prepared = Prepared(model, sample)
    choice = find_tuned(config, workspace.root, model.path)
    revalidation, stale = None, choice.path if choice is not None else None
    if choice is not None and not choice.exact:
        choice, revalidation = _revalidated(choice, config, workspace, model, calibration, sample)
    budget = declared_budget(config)
    origin = "tuned"
    wants_tuning = budget is not None and (choice is None or choice.budget != budget.as_dict())
    if revalidation is not None and not revalidation.ok:
        instead = "tuning for [budget] now" if wants_tuning and tune_budget else "using ezkl's default calibration"
        log.warning("%s does not fit the changed weights: %s; %s (run zkml tune again)", stale, revalidation.reason, instead)
    if wants_tuning and _pins_tuned_settings(config):
        log.warning("[circuit] pins %s itself: not tuning for [budget]", _pins_tuned_settings(config))
    elif wants_tuning and tune_budget and budget is not None:
        from zkml.tune.search import tune

        log.info("tuning %s once for its [budget] (%s); cached in %s", config.name, budget.describe(), workspace.tuned)
        tune(config, workspace, budget, prove_baseline=True, prepared=prepared)
        choice, origin = find_tuned(config, workspace.root, model.path), "tuned-now"
    if choice is None:
        return SettingsChoice(config.circuit, "default", config, workspace, prepared, revalidation=revalidation)
    return SettingsChoice(config.with_circuit(**choice.pinned).circuit, origin, config, workspace, prepared, choice, revalidation)


def _revalidated(
    choice: TunedChoice, config: CircuitConfig, workspace: Workspace, model: OnnxModel, calibration: Path | None, sample: Path
) -> tuple[TunedChoice | None, Revalidation]:
    """``choice`` when its settings still meet their budget on ``model``'s changed weights, else None (with a one-line warning)."""
    from zkml.tune.revalidate import revalidate

    if calibration is None:
        verdict = Revalidation(False, "no calibration data to re-validate with")
    else:
        log.info("%s was tuned for other weights of this graph: re-validating its settings on held-out data", choice.path)
        verdict = revalidate(choice, config, workspace, model, calibration, sample)
    if verdict.ok:
        log.info("tuned settings re-validated for changed weights: %s", verdict.reason)
        return choice, verdict
    return None, verdict


__all__ = ["SettingsChoice", "choose_settings", "declared_budget"]
