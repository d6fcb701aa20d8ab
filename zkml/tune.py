"""Tune: the cheapest circuit settings that still meet an accuracy budget.

ezkl's own calibration (target ``resources``) picks fixed-point scales and a
circuit size, but it knows nothing about how accurate the result must be, and
it leaves the decomposition of range checks at its default (base 2**14, two
legs), whose 16,384-row lookup table alone forces ``logrows >= 15`` on a small
model. Measured here on ``mlp_regressor``: the same scale with base 2**8 and
four legs needs ``logrows`` 11, and proves several times faster with identical
outputs.

The tuner therefore searches the settings that change cost or accuracy
(input/param scale, decomposition base and legs, inner columns, lookup safety
margin; ``logrows`` and the lookup range follow from those through
calibration) and for each candidate measures:

* fidelity on the held-out set, with witnesses only (milliseconds a sample);
* cost from the settings (``logrows``, rows, columns);
* for a few finalists only, real key setup and proving on one sample, each in
  a child process so its peak memory can be measured and a crash in ezkl
  cannot take the caller down.

Work is shared across candidates: the ONNX model is exported once (through the
pipeline's manifest), candidates that end up with identical settings share one
compiled circuit and one fidelity run, and there is one SRS per ``logrows``
(``zkml.srs.resolve_srs``'s cache).

Measured and therefore *not* searched: forcing ``logrows`` below what
calibration picks (ezkl then spreads rows over more columns) is slower, e.g.
``gru_forecaster`` at scale 11 proves in 11 s at logrows 15, 27 s at 13 and
58 s at 12. Fewer inner columns, on the other hand, pay off when the lookup
table rather than the rows fixes ``logrows`` (gru: 1 column 5.2 s vs 2
columns 8.7 s at logrows 15).

The chosen settings go to ``<workspace>/tuned.json`` (pinned values, budget,
measured numbers), all candidates to ``tune_candidates.json`` and the chosen
candidate's per-sample outputs to ``tune_fidelity.json`` (same schema as the
pipeline's ``fidelity.json``), from which :mod:`zkml.report` draws its plots.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from zkml import _ezkl
from zkml.config import CircuitConfig
from zkml.errors import CalibrationError, CircuitError, ConfigError, InputDataError, KeysError, ProofError, SrsError, ZkmlError

log = logging.getLogger(__name__)

TUNE_DIR = "tune"
TUNED_FILE = "tuned.json"
CANDIDATES_FILE = "tune_candidates.json"
TUNE_FIDELITY_FILE = "tune_fidelity.json"
BUDGET_FILE = "tune.toml"

# ezkl 23's defaults, written out so candidates can say what they changed.
DEFAULT_DECOMP = (16384, 2)
DEFAULT_INNER_COLS = 2
# (base, legs) pairs tried besides the default. The decomposition must cover the
# largest rescaled value (base**legs); 2**28 is what the default covers, and a
# pair that covers less shows up as wrong witnesses, which the fidelity check
# rejects. A smaller base shrinks the range-check table (and so logrows) at the
# price of more rows per check.
DECOMP_CHOICES = ((256, 4), (1024, 3), (4096, 3))
INNER_COL_CHOICES = (1, 4)
MAX_SCALE = 18


class BudgetUnreachableError(CalibrationError):
    """No configuration the tuner tried meets the accuracy budget.

    Attributes:
        result: the full tuning result, with the best candidate found.
    """

    def __init__(self, message: str, *, hint: str | None = None, result: TuneResult | None = None) -> None:
        self.result = result
        super().__init__(message, hint=hint)


# -- budget --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How accurate the circuit must stay against the float model, on held-out data.

    Every criterion that is set must hold.

    Attributes:
        max_abs_error: largest allowed |circuit - float| over all outputs and samples.
        max_rel_error: largest allowed |circuit - float| divided by the largest
            |float output| on the held-out set (relative to the output's scale,
            so outputs near zero do not make it meaningless).
        min_agreement: smallest allowed fraction of samples where circuit and
            float model pick the same class (argmax; threshold for one output).
    """

    max_abs_error: float | None = None
    max_rel_error: float | None = None
    min_agreement: float | None = None

    def __post_init__(self) -> None:
        if self.max_abs_error is None and self.max_rel_error is None and self.min_agreement is None:
            raise ConfigError(
                "an accuracy budget needs at least one criterion",
                hint="set max_abs_error, max_rel_error or min_agreement (CLI: --max-abs-error/--max-rel-error/--min-agreement)",
            )
        for name in ("max_abs_error", "max_rel_error"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0 and value == value):
                raise ConfigError(f"budget {name} = {value!r} must be a positive number")
        if self.min_agreement is not None and not (isinstance(self.min_agreement, (int, float)) and 0 < self.min_agreement <= 1):
            raise ConfigError(f"budget min_agreement = {self.min_agreement!r} must be in (0, 1]", hint="e.g. 0.98 for 98 %")

    def check(self, metrics: FidelityMetrics) -> tuple[bool, str]:
        """Whether ``metrics`` meet this budget, and if not, which criterion fails."""
        failures = []
        if self.max_abs_error is not None and not metrics.max_abs_error <= self.max_abs_error:
            failures.append(f"max abs error {metrics.max_abs_error:.3g} > {self.max_abs_error:.3g}")
        if self.max_rel_error is not None and not metrics.max_rel_error <= self.max_rel_error:
            failures.append(f"max rel error {metrics.max_rel_error:.3g} > {self.max_rel_error:.3g}")
        if self.min_agreement is not None:
            if metrics.agreement is None:
                failures.append("agreement is not measured (task is not classification)")
            elif not metrics.agreement >= self.min_agreement:
                failures.append(f"agreement {metrics.agreement:.2%} < {self.min_agreement:.2%}")
        return not failures, "; ".join(failures)

    def shortfall(self, metrics: FidelityMetrics) -> float:
        """How far ``metrics`` are from the budget (0 when met; larger is worse), to rank misses."""
        worst = 0.0
        if self.max_abs_error is not None:
            worst = max(worst, metrics.max_abs_error / self.max_abs_error - 1)
        if self.max_rel_error is not None:
            worst = max(worst, metrics.max_rel_error / self.max_rel_error - 1)
        if self.min_agreement is not None:
            worst = max(worst, (self.min_agreement - (metrics.agreement or 0.0)) * 100)
        return max(worst, 0.0)

    def describe(self) -> str:
        """One line, e.g. ``max abs error <= 0.001, agreement >= 99%``."""
        parts = []
        if self.max_abs_error is not None:
            parts.append(f"max abs error <= {self.max_abs_error:g}")
        if self.max_rel_error is not None:
            parts.append(f"max rel error <= {self.max_rel_error:g}")
        if self.min_agreement is not None:
            parts.append(f"agreement >= {self.min_agreement:.2%}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, float]:
        """The criteria that are set (TOML/JSON form)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def no_worse_than(cls, metrics: FidelityMetrics, *, slack: float = 1e-9) -> Budget:
        """A budget that ``metrics`` meet exactly: at most their max abs error, at least their agreement."""
        return cls(max_abs_error=max(metrics.max_abs_error * (1 + slack), 1e-12), min_agreement=metrics.agreement)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "budget") -> Budget:
        """Build a budget from a ``[budget]`` table.

        Raises:
            ConfigError: unknown keys or bad values.
        """
        allowed = {f.name for f in fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigError(f"{source}: unknown [budget] keys {sorted(unknown)}", hint=f"allowed: {sorted(allowed)}")
        try:
            return cls(**{k: float(v) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: [budget] values must be numbers: {exc}") from exc


def load_budget(circuit_root: Path) -> Budget | None:
    """The ``[budget]`` table of a circuit folder, if it has one.

    Read from ``zkml.toml`` (once the config loader accepts a ``[budget]``
    table) or from a ``tune.toml`` beside it; ``tune.toml`` wins when both
    have one.

    Raises:
        ConfigError: a TOML syntax error or an invalid budget.
    """
    root = Path(circuit_root)
    found: Budget | None = None
    for name in ("zkml.toml", BUDGET_FILE):
        path = root / name
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        if "budget" in data:
            found = Budget.from_mapping(dict(data["budget"]), source=str(path))
    return found


# -- candidates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FidelityMetrics:
    """Fidelity of one circuit on the held-out set."""

    samples: int
    max_abs_error: float
    mean_abs_error: float
    max_rel_error: float
    agreement: float | None = None


@dataclass(frozen=True)
class Knobs:
    """The settings a candidate pins; ``None`` leaves the choice to ezkl's calibration."""

    input_scale: int | None = None
    param_scale: int | None = None
    decomp_base: int | None = None
    decomp_legs: int | None = None
    num_inner_cols: int | None = None
    lookup_safety_margin: float = 2.0

    def label(self) -> str:
        """Short human-readable form, e.g. ``s13 b256x4 c2 m2``."""
        scale = "auto" if self.input_scale is None else str(self.input_scale)
        if self.param_scale is not None and self.param_scale != self.input_scale:
            scale += f"/{self.param_scale}"
        base, legs = self.decomp_base or DEFAULT_DECOMP[0], self.decomp_legs or DEFAULT_DECOMP[1]
        return f"s{scale} b{base}x{legs} c{self.num_inner_cols or DEFAULT_INNER_COLS} m{self.lookup_safety_margin:g}"


@dataclass
class Candidate:
    """One configuration tried: what was pinned, what calibration made of it, what it measured."""

    knobs: Knobs
    role: str = "search"  # "baseline" (ezkl default calibration) or "search"
    settings_sha256: str = ""
    settings_path: str = ""
    compiled_path: str = ""
    logrows: int | None = None
    num_rows: int | None = None
    input_scale: int | None = None
    param_scale: int | None = None
    num_inner_cols: int | None = None
    decomp_base: int | None = None
    decomp_legs: int | None = None
    lookup_range: tuple[int, int] | None = None
    fidelity: FidelityMetrics | None = None
    meets_budget: bool = False
    budget_note: str = ""
    error: str = ""
    setup_seconds: float | None = None
    prove_seconds: float | None = None
    verify_seconds: float | None = None
    prove_peak_rss_bytes: int | None = None
    verified: bool | None = None
    mock_ok: bool | None = None
    chosen: bool = False

    @property
    def label(self) -> str:
        """The knobs' label, with the baseline marked."""
        return ("default " if self.role == "baseline" else "") + self.knobs.label()

    def cost_key(self) -> tuple[float, ...]:
        """Estimated proving cost, for ranking before anything is proved.

        Proving time grows with 2**logrows times the number of advice columns,
        so logrows ranks first, then columns, then rows.
        """
        return (self.logrows or 99, self.num_inner_cols or DEFAULT_INNER_COLS, self.num_rows or 0)

    def pinned(self) -> dict[str, Any]:
        """The circuit settings that reproduce this candidate (for ``tuned.json``/``zkml.toml``)."""
        return {
            "input_scale": self.input_scale,
            "param_scale": self.param_scale,
            "logrows": self.logrows,
            "lookup_safety_margin": self.knobs.lookup_safety_margin,
            "num_inner_cols": self.num_inner_cols,
            "decomp_base": self.decomp_base,
            "decomp_legs": self.decomp_legs,
        }

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``tune_candidates.json``)."""
        data = asdict(self)
        data["label"] = self.label
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        """Inverse of :meth:`as_dict`."""
        data = dict(data)
        data.pop("label", None)
        knobs = Knobs(**data.pop("knobs"))
        fid = data.pop("fidelity", None)
        lookup = data.pop("lookup_range", None)
        return cls(
            knobs=knobs,
            fidelity=FidelityMetrics(**fid) if fid else None,
            lookup_range=tuple(lookup) if lookup else None,  # type: ignore[arg-type]
            **data,
        )


@dataclass(frozen=True)
class TuneEvent:
    """Progress of a tuning run, for a display.

    Attributes:
        phase: ``prepare``, ``baseline``, ``search``, ``prove`` or ``done``.
        message: what happens now (a candidate label or a result line).
        step, total: counters within the phase (``total`` 0 when open-ended).
        candidate: the candidate just measured, if any.
    """

    phase: str
    message: str
    step: int = 0
    total: int = 0
    candidate: Candidate | None = None


TuneProgress = Callable[[TuneEvent], None]


@dataclass
class TuneResult:
    """What a tuning run found.

    Attributes:
        chosen: the cheapest candidate that meets the budget and proved, or None.
        baseline: ezkl's default calibration, measured the same way.
        candidates: every candidate tried, in order.
        reachable: whether any candidate met the budget.
        best: the chosen candidate, or the one closest to the budget when unreachable.
    """

    budget: Budget
    baseline: Candidate
    candidates: list[Candidate]
    chosen: Candidate | None
    best: Candidate | None
    reachable: bool
    seconds: float
    workspace: Path
    message: str = ""
    files: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``tune_candidates.json``)."""
        return {
            "version": 1,
            "budget": self.budget.as_dict(),
            "reachable": self.reachable,
            "message": self.message,
            "seconds": round(self.seconds, 2),
            "chosen": self.candidates.index(self.chosen) if self.chosen in self.candidates else None,
            "best": self.candidates.index(self.best) if self.best in self.candidates else None,
            "baseline": self.candidates.index(self.baseline) if self.baseline in self.candidates else None,
            "candidates": [c.as_dict() for c in self.candidates],
        }


def read_candidates(path: Path) -> dict[str, Any]:
    """Read ``tune_candidates.json``: the JSON with ``candidates`` turned into :class:`Candidate` objects.

    Raises:
        ConfigError: the file is missing or not a tuner result.
    """
    try:
        data = json.loads(Path(path).read_text())
        data["candidates"] = [Candidate.from_dict(c) for c in data["candidates"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a tuner result: {exc}", hint="run zkml tune first") from exc
    return data


# -- measuring -----------------------------------------------------------------------------


def _metrics(float_rows: list[list[float]], circuit_rows: list[list[float]], classifier: bool) -> FidelityMetrics:
    import numpy as np

    floats = np.asarray(float_rows, dtype=np.float64)
    circuit = np.asarray(circuit_rows, dtype=np.float64)
    errors = np.abs(circuit - floats)
    scale = float(np.max(np.abs(floats))) if floats.size else 0.0
    agreement = None
    if classifier and floats.shape[1] > 1:
        agreement = float(np.mean(np.argmax(floats, axis=1) == np.argmax(circuit, axis=1)))
    elif classifier:
        # Same rule as zkml.fidelity: a probability is cut at 0.5, a logit at 0.
        threshold = 0.5 if floats.min() >= 0 and floats.max() <= 1 else 0.0
        agreement = float(np.mean((floats[:, 0] > threshold) == (circuit[:, 0] > threshold)))
    max_abs = float(errors.max()) if errors.size else 0.0
    return FidelityMetrics(
        samples=int(floats.shape[0]),
        max_abs_error=max_abs,
        mean_abs_error=float(errors.mean()) if errors.size else 0.0,
        max_rel_error=max_abs / scale if scale > 0 else max_abs,
        agreement=agreement,
    )


class _Tuner:
    """State shared across candidates of one run (model, data, compiled circuits, SRS)."""

    def __init__(
        self,
        config: CircuitConfig,
        workspace: Any,
        budget: Budget,
        progress: TuneProgress,
        samples: int,
    ) -> None:
        self.config = config
        self.ws = workspace
        self.budget = budget
        self.progress = progress
        self.samples_limit = samples
        self.dir = workspace.path(TUNE_DIR)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.candidates: list[Candidate] = []
        self._by_knobs: dict[Knobs, Candidate] = {}
        # settings sha256 -> (candidate that compiled it, float rows, circuit rows)
        self._by_settings: dict[str, tuple[Candidate, list[list[float]], list[list[float]]]] = {}
        self.rows: dict[int, tuple[list[list[float]], list[list[float]]]] = {}

    def prepare(self) -> None:
        from zkml.data import generate_around, read_samples, write_samples
        from zkml.pipeline import Pipeline

        cfg = self.config
        if cfg.holdout is None or not cfg.holdout.is_file():
            raise ConfigError(
                f"circuit {cfg.name!r} has no held-out data to measure the budget on",
                hint="add [data] holdout = 'holdout.json' (input_data + targets, not the calibration set) to zkml.toml",
            )
        # The pipeline's export stage is manifest-cached: a second tune (or a
        # later `zkml run`) reuses the same ONNX file.
        self.pipeline = Pipeline(cfg, self.ws)
        self.pipeline.preflight()
        self.model = self.pipeline.export()
        self.input_path = self.pipeline.sample_input(self.model)
        if cfg.calibration is not None:
            self.calibration_path = cfg.calibration
        else:
            base = read_samples(self.input_path, self.model.inputs)
            self.calibration_path = self.dir / "calibration.json"
            write_samples(self.calibration_path, generate_around(base, cfg.circuit.calibration_samples))
        self.holdout = read_samples(cfg.holdout, self.model.inputs)

    # One candidate: settings, calibration, compile, witness-only fidelity.
    def evaluate(self, knobs: Knobs, role: str = "search") -> Candidate:
        if knobs in self._by_knobs:
            return self._by_knobs[knobs]
        from zkml.calibrate import read_settings
        from zkml.workspace import fingerprint

        cand = Candidate(knobs=knobs, role=role)
        self._by_knobs[knobs] = cand
        self.candidates.append(cand)
        work = self.dir / fingerprint({"knobs": asdict(knobs), "model": self.model.sha256})[:16]
        work.mkdir(parents=True, exist_ok=True)
        settings_path = work / "settings.json"
        try:
            self._calibrate(knobs, settings_path)
            settings = read_settings(settings_path)
            raw = json.loads(settings_path.read_text())
            run_args = raw["run_args"]
            cand.settings_sha256 = settings.sha256
            cand.settings_path = str(settings_path)
            cand.logrows = settings.logrows
            cand.num_rows = int(raw.get("num_rows", 0))
            cand.input_scale = settings.input_scales[0] if settings.input_scales else None
            cand.param_scale = settings.param_scale
            cand.num_inner_cols = int(run_args["num_inner_cols"])
            cand.decomp_base = int(run_args["decomp_base"])
            cand.decomp_legs = int(run_args["decomp_legs"])
            cand.lookup_range = (int(run_args["lookup_range"][0]), int(run_args["lookup_range"][1]))
            shared = self._by_settings.get(settings.sha256)
            if shared is not None:
                # Different knobs, same settings (calibration moved them): same circuit.
                first, floats, circuit_rows = shared
                cand.compiled_path = first.compiled_path
            else:
                floats, circuit_rows = self._compile_and_measure(settings, work, cand)
                self._by_settings[settings.sha256] = (cand, floats, circuit_rows)
            self.rows[id(cand)] = (floats, circuit_rows)
            cand.fidelity = _metrics(floats, circuit_rows, self.config.task == "classification")
            cand.meets_budget, cand.budget_note = self.budget.check(cand.fidelity)
        except (CalibrationError, CircuitError, InputDataError) as exc:
            cand.error = exc.message
            cand.budget_note = "failed: " + exc.message
            log.info("candidate %s failed: %s", knobs.label(), exc)
        return cand

    def _calibrate(self, knobs: Knobs, settings_path: Path) -> None:
        circuit = self.config.circuit
        args = _ezkl.run_args(
            input_visibility=circuit.input_visibility,
            output_visibility=circuit.output_visibility,
            param_visibility=circuit.param_visibility,
            input_scale=knobs.input_scale,
            param_scale=knobs.param_scale,
            decomp_base=knobs.decomp_base,
            decomp_legs=knobs.decomp_legs,
            num_inner_cols=knobs.num_inner_cols,
        )
        try:
            _ezkl.call("gen_settings", str(self.model.path), str(settings_path), py_run_args=args)
            ok = _ezkl.call(
                "calibrate_settings",
                str(self.calibration_path),
                str(self.model.path),
                str(settings_path),
                "resources",
                lookup_safety_margin=knobs.lookup_safety_margin,
                scales=[knobs.input_scale] if knobs.input_scale is not None else None,
                max_logrows=circuit.max_logrows,
            )
        except _ezkl.EzklFailure as exc:
            raise CalibrationError(f"calibration failed: {exc}") from exc
        if ok is False:
            raise CalibrationError("calibration found no settings that fit")

    def _compile_and_measure(self, settings: Any, work: Path, cand: Candidate) -> tuple[list[list[float]], list[list[float]]]:
        from zkml.circuit import compile_circuit
        from zkml.fidelity import measure_fidelity

        compiled = compile_circuit(self.model, settings, work / "model.compiled")
        cand.compiled_path = str(compiled.path)
        _, floats, circuit_rows = measure_fidelity(
            self.model, compiled, self.holdout, classifier=self.config.task == "classification", limit=self.samples_limit
        )
        return floats, circuit_rows

    def mock(self, cand: Candidate, count: int = 8) -> bool:
        """Check every constraint (ezkl ``mock``) on the sample input and the most extreme held-out samples.

        Witnesses are computed without checking constraints, so a decomposition
        that does not cover a value can still give plausible outputs; ``mock``
        catches that in milliseconds, before any key is made.
        """
        import numpy as np

        from zkml.data import write_samples

        if cand.mock_ok is not None:
            return cand.mock_ok
        work = Path(cand.compiled_path).parent
        flat = np.concatenate([a.reshape(a.shape[0], -1) for a in self.holdout.arrays], axis=1)
        extremes = list(np.argsort(-np.abs(flat).max(axis=1))[:count])
        paths = [self.input_path]
        for index in extremes:
            path = work / f"mock_in{int(index)}.json"
            write_samples(path, self.holdout.sample(int(index)))
            paths.append(path)
        cand.mock_ok = True
        for path in paths:
            witness = work / "mock_witness.json"
            try:
                _ezkl.call("gen_witness", str(path), str(cand.compiled_path), str(witness))
                ok = _ezkl.call("mock", str(witness), str(cand.compiled_path))
            except _ezkl.EzklFailure as exc:
                ok, reason = False, str(exc)
            else:
                reason = "mock returned false"
            if ok is False:
                cand.mock_ok = False
                cand.error = f"constraints not satisfied on {path.name}: {reason}"
                log.info("candidate %s fails mock: %s", cand.label, reason)
                break
        return cand.mock_ok

    # Real setup + prove + verify on one sample, each step in a child process.
    def prove(self, cand: Candidate) -> None:
        from zkml.srs import resolve_srs

        assert cand.logrows is not None
        try:
            srs = resolve_srs(cand.logrows)
        except SrsError as exc:
            cand.error = exc.message
            return
        work = Path(cand.compiled_path).parent
        try:
            measured = measure_proving(Path(cand.compiled_path), Path(cand.settings_path), srs.path, self.input_path, work)
        except ZkmlError as exc:
            cand.error = f"proving failed: {exc.message}"
            cand.verified = False
            log.warning("candidate %s did not prove: %s", cand.label, exc)
            return
        cand.setup_seconds = measured["setup_seconds"]
        cand.prove_seconds = measured["prove_seconds"]
        cand.verify_seconds = measured["verify_seconds"]
        cand.prove_peak_rss_bytes = measured["prove_peak_rss_bytes"]
        cand.verified = measured["verified"]
        if not cand.verified:
            cand.error = "the proof did not verify (the decomposition may not cover the values)"
        # Keys are 100+ MB each; a tuning run must not leave one per candidate behind.
        for name in ("pk.key", "vk.key", "keys.json", "proof.json", "witness.json"):
            (work / name).unlink(missing_ok=True)


# -- the child process that proves ---------------------------------------------------------


def measure_proving(compiled: Path, settings: Path, srs: Path, input_path: Path, work: Path, *, repeats: int = 1) -> dict[str, Any]:
    """Set up keys, then prove and verify one sample, in child processes; measure them.

    Setup and proving run in separate children so the peak resident memory
    reported is that of proving alone (it includes the interpreter and ezkl,
    about the same for every candidate).

    Args:
        compiled, settings, srs: the circuit and an SRS of at least its logrows.
        input_path: one sample in ezkl's ``input_data`` format.
        work: folder for keys, witness and proof.
        repeats: prove this many times and keep the fastest (timing noise).

    Returns:
        ``setup_seconds``, ``prove_seconds``, ``verify_seconds``,
        ``prove_peak_rss_bytes``, ``verified``.

    Raises:
        KeysError, ProofError: the child failed (its last error line is in the message).
    """
    job = {"compiled": str(compiled), "settings": str(settings), "srs": str(srs), "input": str(input_path), "work": str(work)}
    setup = _run_child("setup", job, KeysError)
    best: dict[str, Any] | None = None
    for _ in range(max(1, repeats)):
        proved = _run_child("prove", job, ProofError)
        if best is None or proved["prove_seconds"] < best["prove_seconds"]:
            best = proved
    assert best is not None
    return {
        "setup_seconds": setup["setup_seconds"],
        "prove_seconds": best["prove_seconds"],
        "verify_seconds": best["verify_seconds"],
        "prove_peak_rss_bytes": best["peak_rss_bytes"],
        "verified": best["verified"],
    }


def _run_child(mode: str, job: dict[str, str], error: type[ZkmlError]) -> dict[str, Any]:
    out = Path(job["work"]) / f"{mode}.result.json"
    out.unlink(missing_ok=True)
    spec = json.dumps({**job, "mode": mode, "out": str(out)})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-c", "from zkml.tune import _child_main; _child_main()", spec],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise error(f"{mode} in a child process failed: {tail[0]}", hint="run zkml setup/prove on these settings with --debug")
    result: dict[str, Any] = json.loads(out.read_text())
    # RUSAGE_CHILDREN keeps the max over all children so far (and inherits the
    # parent's peak); the child's own VmHWM is per-child, so that is the
    # number used. Log both for checking.
    log.debug(
        "%s child: self-reported peak %d bytes, children max %d KiB (before %d)",
        mode,
        result["peak_rss_bytes"],
        after.ru_maxrss,
        before.ru_maxrss,
    )
    return result


def _peak_rss_bytes() -> int:
    """This process's peak resident memory.

    /proc's VmHWM belongs to the address space, which exec replaces, so it is
    the child's own peak. ru_maxrss is not: Linux carries it across fork and
    exec, so a child of a 500 MB parent reports at least 500 MB (measured).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _child_main() -> None:
    """Entry point of the measuring child process (not public API)."""
    from zkml.artifacts import CompiledCircuit, Srs, sha256_file
    from zkml.calibrate import read_settings
    from zkml.circuit import generate_witness
    from zkml.keys import load_keys, setup_keys
    from zkml.prove import prove
    from zkml.srs import read_logrows
    from zkml.verify import verify

    job = json.loads(sys.argv[1])
    work = Path(job["work"])
    settings = read_settings(Path(job["settings"]))
    circuit = CompiledCircuit(Path(job["compiled"]), sha256_file(Path(job["compiled"])), settings)
    srs_path = Path(job["srs"])
    srs = Srs(srs_path, sha256_file(srs_path), read_logrows(srs_path), "dev-unsafe")
    result: dict[str, Any] = {}
    if job["mode"] == "setup":
        start = time.perf_counter()
        setup_keys(circuit, srs, work)
        result["setup_seconds"] = time.perf_counter() - start
    else:
        keys = load_keys(work, verify_hashes=False)
        witness = generate_witness(circuit, Path(job["input"]), work / "witness.json")
        start = time.perf_counter()
        proof = prove(witness, circuit, keys, srs, work / "proof.json")
        result["prove_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        verdict = verify(proof, settings, keys, srs)
        result["verify_seconds"] = time.perf_counter() - start
        result["verified"] = bool(verdict.verified)
    result["peak_rss_bytes"] = _peak_rss_bytes()
    Path(job["out"]).write_text(json.dumps(result))


# -- the search ----------------------------------------------------------------------------


def tune(
    config: CircuitConfig,
    workspace: Any,
    budget: Budget,
    *,
    progress: TuneProgress | None = None,
    finalists: int = 2,
    samples: int = 128,
    max_seconds: float = 240.0,
    prove_baseline: bool = False,
    raise_unreachable: bool = True,
) -> TuneResult:
    """Find the cheapest settings for ``config`` that meet ``budget`` on its held-out data.

    Search order (each step measured, not assumed):

    1. ezkl's default calibration (the baseline; its scale ``s0`` anchors the rest);
    2. smaller range-check decompositions at ``s0`` (usually the biggest saving);
    3. a scale ladder down from ``s0`` (and up, when ``s0`` misses the budget)
       with the decompositions that worked, stopping at the first scale where
       nothing meets the budget;
    4. inner columns and a tighter lookup safety margin on the cheapest few;
    5. real setup + prove + verify for the ``finalists`` cheapest that meet the
       budget (in child processes), keeping the fastest prover that verified.

    Args:
        config: the circuit (needs ``[data] holdout``).
        workspace: a :class:`zkml.workspace.Workspace` (e.g. ``build/<name>``).
        budget: the accuracy to keep.
        progress: called with a :class:`TuneEvent` at every step.
        finalists: how many candidates to prove for real.
        samples: held-out samples to measure fidelity on (at most).
        max_seconds: stop searching (not proving) after this long.
        prove_baseline: also prove the baseline, to report the speed-up.
        raise_unreachable: raise :class:`BudgetUnreachableError` when nothing
            meets the budget (after writing the candidates file); otherwise
            return a result with ``reachable`` False.

    Returns:
        The result; ``tuned.json``, ``tune_candidates.json`` and
        ``tune_fidelity.json`` are written in the workspace.

    Raises:
        BudgetUnreachableError: nothing met the budget (message names the best found).
        ConfigError: no held-out data.
        ZkmlError: export/preflight of the model failed.
    """
    report: TuneProgress = progress or (lambda event: None)
    start = time.perf_counter()
    tuner = _Tuner(config, workspace, budget, report, samples)
    report(TuneEvent("prepare", f"exporting and checking {config.name}"))
    tuner.prepare()
    margin = config.circuit.lookup_safety_margin

    def step(knobs: Knobs, role: str = "search") -> Candidate:
        cand = tuner.evaluate(knobs, role)
        fid = cand.fidelity
        note = cand.error or (
            f"logrows {cand.logrows}, max abs err {fid.max_abs_error:.3g}"
            + (f", agreement {fid.agreement:.1%}" if fid and fid.agreement is not None else "")
            if fid
            else ""
        )
        report(
            TuneEvent(
                "search" if role == "search" else "baseline",
                f"{cand.label}: {note}{' ok' if cand.meets_budget else ''}",
                len(tuner.candidates),
                0,
                cand,
            )
        )
        return cand

    def out_of_time() -> bool:
        return time.perf_counter() - start > max_seconds

    baseline = step(
        Knobs(input_scale=config.circuit.input_scale, param_scale=config.circuit.param_scale, lookup_safety_margin=margin), "baseline"
    )
    if baseline.error:
        raise CalibrationError(
            f"ezkl's default calibration failed: {baseline.error}", hint="fix the model or calibration data first (zkml calibrate)"
        )
    s0 = baseline.input_scale or 7

    # 2. decompositions at the baseline scale
    decomps: list[tuple[int, int]] = []
    for base, legs in DECOMP_CHOICES:
        cand = step(Knobs(s0, s0, base, legs, None, margin))
        if cand.fidelity is not None and not cand.error:
            decomps.append((base, legs))
    working = [d for d in decomps if tuner._by_knobs[Knobs(s0, s0, d[0], d[1], None, margin)].meets_budget]
    ladder_decomps = sorted(
        working or decomps or [DEFAULT_DECOMP],
        key=lambda d: tuner._by_knobs.get(Knobs(s0, s0, d[0], d[1], None, margin), baseline).cost_key(),
    )[:2]

    # 3. scale ladder
    def ladder(scales: list[int]) -> None:
        for scale in scales:
            if out_of_time():
                return
            met = [step(Knobs(scale, scale, base, legs, None, margin)).meets_budget for base, legs in ladder_decomps]
            if not any(met):
                return

    ladder([s for s in range(s0 - 2, 0, -2)])
    if not any(c.meets_budget for c in tuner.candidates):
        ladder([s for s in range(s0 + 2, MAX_SCALE + 1, 2)])

    # 4. columns and lookup margin on the cheapest few that meet the budget
    def cheapest(count: int) -> list[Candidate]:
        return sorted((c for c in tuner.candidates if c.meets_budget and not c.error), key=Candidate.cost_key)[:count]

    for cand in cheapest(2):
        for cols in INNER_COL_CHOICES:
            if out_of_time():
                break
            step(replace(cand.knobs, input_scale=cand.input_scale, param_scale=cand.param_scale, num_inner_cols=cols))
    for cand in cheapest(2):
        if cand.lookup_range and cand.lookup_range != (0, 0) and cand.knobs.lookup_safety_margin > 1 and not out_of_time():
            step(replace(cand.knobs, lookup_safety_margin=1.0))

    # 5. finalists: real proving
    ranked = cheapest(len(tuner.candidates))
    # Distinct settings only: two knob sets that calibrate to the same settings prove alike.
    seen: set[str] = set()
    queue = [c for c in ranked if not (c.settings_sha256 in seen or seen.add(c.settings_sha256))]  # type: ignore[func-returns-value]
    proved: list[Candidate] = []
    total = min(finalists, len(queue)) + (1 if prove_baseline else 0)
    for cand in queue:
        if len(proved) >= finalists:
            break
        if not tuner.mock(cand):
            report(TuneEvent("prove", f"{cand.label}: rejected, {cand.error}", len(proved), total, cand))
            continue
        report(TuneEvent("prove", f"setup + prove {cand.label} (logrows {cand.logrows})", len(proved) + 1, total, cand))
        tuner.prove(cand)
        if cand.verified:
            proved.append(cand)
            report(
                TuneEvent(
                    "prove",
                    f"{cand.label}: prove {cand.prove_seconds:.2f}s, peak {_mb(cand.prove_peak_rss_bytes)}",
                    len(proved),
                    total,
                    cand,
                )
            )
    if prove_baseline and baseline.prove_seconds is None:
        report(TuneEvent("prove", f"setup + prove {baseline.label} (logrows {baseline.logrows})", total, total, baseline))
        tuner.prove(baseline)

    chosen = _pick(proved)
    reachable = chosen is not None
    if chosen is not None:
        chosen.chosen = True
        best: Candidate | None = chosen
        message = (
            f"chose {chosen.label}: logrows {chosen.logrows} (default {baseline.logrows}), prove {chosen.prove_seconds:.2f}s, "
            f"{_fid_text(chosen)}; budget {budget.describe()}"
        )
    else:
        measured = [c for c in tuner.candidates if c.fidelity is not None]
        best = min(measured, key=lambda c: (budget.shortfall(c.fidelity), c.cost_key())) if measured else None  # type: ignore[arg-type]
        if any(c.meets_budget for c in tuner.candidates):
            message = "candidates met the budget but none of them proved and verified"
        else:
            message = f"no configuration met the budget ({budget.describe()}) after {len(tuner.candidates)} candidates"
        if best is not None:
            message += f"; best found {best.label}: {_fid_text(best)} (logrows {best.logrows})"
    result = TuneResult(budget, baseline, tuner.candidates, chosen, best, reachable, time.perf_counter() - start, workspace.root, message)
    _write_outputs(tuner, result)
    report(TuneEvent("done", message, candidate=chosen or best))
    log.info("tune %s: %s", config.name, message)
    if not reachable and raise_unreachable:
        raise BudgetUnreachableError(
            message,
            hint="loosen the budget, add calibration data that covers the held-out range, or raise max_logrows; "
            f"all candidates are in {workspace.path(CANDIDATES_FILE)}",
            result=result,
        )
    return result


def measure_baseline(config: CircuitConfig, workspace: Any, *, samples: int = 128) -> Candidate:
    """ezkl's default calibration of ``config``, measured like a tuner candidate (no proving).

    Useful to set a budget relative to the default ("no worse than ezkl's
    calibration"), as the benchmark does: see :meth:`Budget.no_worse_than`.

    Raises:
        ConfigError: no held-out data.
        CalibrationError: the default calibration fails.
    """
    # Any budget will do: only the measurements are used.
    tuner = _Tuner(config, workspace, Budget(max_abs_error=float("inf")), lambda event: None, samples)
    tuner.prepare()
    circuit = config.circuit
    cand = tuner.evaluate(Knobs(circuit.input_scale, circuit.param_scale, lookup_safety_margin=circuit.lookup_safety_margin), "baseline")
    if cand.error:
        raise CalibrationError(f"ezkl's default calibration failed: {cand.error}", hint="run zkml calibrate TARGET --debug")
    cand.meets_budget, cand.budget_note = False, ""
    return cand


def _pick(proved: list[Candidate]) -> Candidate | None:
    """Fastest measured prover; within 10 % (timing noise on shared cores) prefer the smaller circuit, then better fidelity."""
    if not proved:
        return None
    fastest = min(c.prove_seconds or float("inf") for c in proved)
    close = [c for c in proved if (c.prove_seconds or float("inf")) <= fastest * 1.10]
    return min(close, key=lambda c: (c.cost_key()[:2], c.fidelity.max_abs_error if c.fidelity else float("inf")))


def _fid_text(cand: Candidate) -> str:
    fid = cand.fidelity
    if fid is None:
        return "not measured"
    text = f"max abs err {fid.max_abs_error:.3g}, rel {fid.max_rel_error:.3g}"
    if fid.agreement is not None:
        text += f", agreement {fid.agreement:.1%}"
    return text


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**20:.0f} MB"


def _write_outputs(tuner: _Tuner, result: TuneResult) -> None:
    from zkml.workspace import write_json_atomic

    ws = tuner.ws
    candidates_path = ws.path(CANDIDATES_FILE)
    write_json_atomic(candidates_path, result.as_dict())
    result.files["candidates"] = str(candidates_path)
    shown = result.chosen or result.best
    if shown is not None and id(shown) in tuner.rows:
        floats, circuit_rows = tuner.rows[id(shown)]
        fid = shown.fidelity
        assert fid is not None
        fidelity_path = ws.path(TUNE_FIDELITY_FILE)
        write_json_atomic(
            fidelity_path,
            {
                "samples": fid.samples,
                "max_abs_error": fid.max_abs_error,
                "mean_abs_error": fid.mean_abs_error,
                "argmax_agreement": fid.agreement,
                "max_rel_error": fid.max_rel_error,
                "data": str(tuner.config.holdout),
                "label": shown.label,
                "float_outputs": floats,
                "circuit_outputs": circuit_rows,
                "targets": list(tuner.holdout.targets[: fid.samples]) if tuner.holdout.targets else None,
            },
        )
        result.files["fidelity"] = str(fidelity_path)
    if result.chosen is not None:
        tuned_path = ws.path(TUNED_FILE)
        chosen = result.chosen
        write_json_atomic(
            tuned_path,
            {
                "version": 1,
                "circuit": chosen.pinned(),
                "budget": result.budget.as_dict(),
                "fidelity": asdict(chosen.fidelity) if chosen.fidelity else None,
                "prove_seconds": chosen.prove_seconds,
                "prove_peak_rss_bytes": chosen.prove_peak_rss_bytes,
                "settings_sha256": chosen.settings_sha256,
                "model_sha256": tuner.model.sha256,
                "baseline": {
                    "logrows": result.baseline.logrows,
                    "input_scale": result.baseline.input_scale,
                    "prove_seconds": result.baseline.prove_seconds,
                },
                "ezkl": _ezkl.version(),
            },
        )
        result.files["tuned"] = str(tuned_path)


def read_tuned(workspace_root: Path) -> dict[str, Any] | None:
    """The pinned circuit settings ``zkml tune`` chose for a workspace, if any.

    Returns:
        The ``circuit`` table of ``tuned.json`` (keys as in ``[circuit]``), or None.

    Raises:
        ConfigError: ``tuned.json`` exists but is unreadable.
    """
    path = Path(workspace_root) / TUNED_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {k: v for k, v in dict(data["circuit"]).items() if v is not None}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is unreadable: {exc}", hint="run zkml tune again, or delete it") from exc


def apply_tuned(config: CircuitConfig, workspace_root: Path) -> CircuitConfig:
    """``config`` with the settings ``zkml tune`` chose for this workspace pinned.

    All or nothing: the tuner measured one combination, so when ``[circuit]``
    already pins any of those settings itself, ``tuned.json`` is ignored (with
    a warning) rather than mixed into an unmeasured combination. It is also
    ignored when the workspace's model is no longer the one it was tuned for.
    It is ignored as a whole, too, when :class:`zkml.config.CircuitSettings`
    lacks one of its settings (``num_inner_cols``, ``decomp_base``,
    ``decomp_legs`` before the config change that adds them).

    Raises:
        ConfigError: ``tuned.json`` exists but is unreadable.
    """
    from zkml.artifacts import sha256_file
    from zkml.config import CircuitSettings

    pinned = read_tuned(workspace_root)
    if not pinned:
        return config
    tuned_path = Path(workspace_root) / TUNED_FILE
    expected_model = json.loads(tuned_path.read_text()).get("model_sha256")
    model_path = Path(workspace_root) / "model.onnx"
    if expected_model and model_path.is_file() and sha256_file(model_path) != expected_model:
        log.warning("%s was tuned for another model; ignoring it (run zkml tune again)", tuned_path)
        return config
    defaults = CircuitSettings()
    known = {f.name for f in fields(CircuitSettings)}
    overridden = sorted(k for k in pinned if k in known and getattr(config.circuit, k) != getattr(defaults, k))
    if overridden:
        log.warning("[circuit] pins %s itself; ignoring %s (run zkml tune again to tune around them)", overridden, tuned_path)
        return config
    unknown = sorted(set(pinned) - known)
    if unknown:
        # Pinning only some of them would build a combination nobody measured.
        log.warning("this zkml cannot pin tuned settings %s; ignoring %s", unknown, tuned_path)
        return config
    return config.with_circuit(**pinned)


__all__ = [
    "apply_tuned",
    "Budget",
    "BudgetUnreachableError",
    "Candidate",
    "FidelityMetrics",
    "Knobs",
    "TuneEvent",
    "TuneResult",
    "load_budget",
    "measure_baseline",
    "measure_proving",
    "read_candidates",
    "read_tuned",
    "tune",
]
