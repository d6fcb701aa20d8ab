"""Tuned settings for a graph whose weights changed: measured again before they are used.

A ``tuned.json`` is bound to a model's graph (:func:`zkml.tune.pinned.graph_fingerprint`).
When the weights differ from those it was tuned on (the model was retrained,
or trained on another CPU whose float kernels round differently), its settings
are re-validated: calibrated with exactly the pinned values, compiled, and
measured on the held-out data against the budget the file records. That costs
one calibration, one compile and the fidelity check; no keys, no proof. The
verdict is cached in the workspace (:attr:`zkml.workspace.Layout.revalidated`)
while the file, the model, the data and ezkl are unchanged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import CalibrationError, CircuitError, InputDataError

if TYPE_CHECKING:
    from zkml.artifacts import Fidelity, OnnxModel
    from zkml.config import CircuitConfig
    from zkml.tune.pinned import TunedChoice
    from zkml.workspace import Workspace

log = logging.getLogger(__name__)

# Held-out samples measured when the tuned file does not say how many it used.
DEFAULT_SAMPLES = 64


@dataclass(frozen=True)
class Revalidation:
    """The verdict on tuned settings for changed weights.

    Attributes:
        ok: they still meet the recorded budget.
        reason: what was measured against what (one line, for the summary and the warning).
        fidelity: the measured fidelity (None when calibration or compilation failed).
    """

    ok: bool
    reason: str
    fidelity: Fidelity | None = None


def revalidate(
    choice: TunedChoice, config: CircuitConfig, workspace: Workspace, model: OnnxModel, calibration: Path, sample: Path
) -> Revalidation:
    """Whether ``choice``'s settings still meet their budget on ``model`` (cached in the workspace).

    Args:
        choice: tuned settings that match the model's graph but not its weights.
        config: the circuit (held-out data, task).
        workspace: where the scratch circuit and the cached verdict go.
        model: the exported model.
        calibration: the calibration samples the pipeline calibrates with.
        sample: the sample input (generated held-out data is made around it when the circuit has none).
    """
    from zkml import _ezkl
    from zkml.artifacts import sha256_file
    from zkml.workspace import fingerprint

    if not choice.budget:
        return Revalidation(False, f"{choice.path} records no budget to re-validate its settings against")
    holdout = config.holdout if config.holdout is not None and Path(config.holdout).is_file() else None
    key = fingerprint(
        {
            "tuned": sha256_file(choice.path),
            "model": model.sha256,
            "calibration": sha256_file(calibration),
            "holdout": sha256_file(holdout) if holdout else f"generated around {sha256_file(sample)}",
            "ezkl": _ezkl.version(),
        }
    )
    cached = _cached(workspace.revalidated, key)
    if cached is not None:
        return cached
    verdict = _measure(choice, config, workspace, model, calibration, holdout or sample, generated=holdout is None)
    _store(workspace.revalidated, key, verdict)
    return verdict


def _measure(
    choice: TunedChoice, config: CircuitConfig, workspace: Workspace, model: OnnxModel, calibration: Path, data: Path, *, generated: bool
) -> Revalidation:
    """Calibrate with the pinned settings, compile, measure fidelity, check the budget."""
    from zkml.calibrate import calibrate
    from zkml.circuit import compile_circuit
    from zkml.data import generate_around, read_samples
    from zkml.fidelity import measure_fidelity
    from zkml.tune.budget import Budget
    from zkml.tune.workbench import GENERATED_HOLDOUT, GENERATED_SEED

    budget = Budget.from_mapping(dict(choice.budget or {}), source=str(choice.path))
    scratch = workspace.tune_dir / "revalidate"
    circuit = config.with_circuit(**choice.pinned).circuit
    samples = read_samples(data, model.inputs)
    if generated:
        samples = generate_around(samples, GENERATED_HOLDOUT, seed=GENERATED_SEED)
    recorded = (choice.data.get("fidelity") or {}).get("samples")
    limit = int(recorded) if recorded else DEFAULT_SAMPLES
    try:
        settings = calibrate(model, calibration, scratch / "settings.json", circuit)
        compiled = compile_circuit(model, settings, scratch / "model.compiled")
        fidelity, _, _ = measure_fidelity(model, compiled, samples, classifier=config.task == "classification", limit=limit)
    except (CalibrationError, CircuitError, InputDataError) as exc:
        return Revalidation(False, f"its settings no longer fit the changed weights: {exc.message}")
    ok, failures = budget.check(fidelity)
    measured = f"max abs error {fidelity.max_abs_error:.6g} against the budget's {budget.describe()}"
    if fidelity.argmax_agreement is not None:
        measured += f" (agreement {fidelity.argmax_agreement:.2%})"
    return Revalidation(ok, measured if ok else f"{failures} on {fidelity.samples} held-out samples", fidelity)


def _cached(path: Path, key: str) -> Revalidation | None:
    """The verdict stored under ``key``, if any (an unreadable file counts as none)."""
    from zkml.artifacts import Fidelity

    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != key:
        return None
    fidelity = Fidelity(**data["fidelity"]) if data.get("fidelity") else None
    return Revalidation(bool(data.get("ok")), str(data.get("reason", "")), fidelity)


def _store(path: Path, key: str, verdict: Revalidation) -> None:
    from zkml.workspace import write_json_atomic

    fidelity = verdict.fidelity.as_dict() if verdict.fidelity is not None else None
    write_json_atomic(path, {"key": key, "ok": verdict.ok, "reason": verdict.reason, "fidelity": fidelity})


__all__ = ["Revalidation", "revalidate"]
