"""What the tuner tries and finds: knobs, candidates, progress events, the result.

All of it round-trips through ``tune_candidates.json``, from which
:mod:`zkml.tune.report` draws the cost/accuracy plot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zkml.artifacts import Fidelity, Settings
from zkml.errors import ConfigError
from zkml.tune.budget import Budget

# ezkl 23's defaults, written out so candidates can say what they changed.
DEFAULT_DECOMP = (16384, 2)
DEFAULT_INNER_COLS = 2


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
    fidelity: Fidelity | None = None
    meets_budget: bool = False
    budget_note: str = ""
    error: str = ""
    setup_seconds: float | None = None
    prove_seconds: float | None = None
    verify_seconds: float | None = None
    prove_peak_rss_bytes: int | None = None
    setup_peak_rss_bytes: int | None = None
    pk_bytes: int | None = None
    # On-chain cost of the finalists (plain verifier on a local anvil).
    verify_gas: int | None = None
    verifier_runtime_bytes: int | None = None
    over_eip170: bool | None = None
    verified: bool | None = None
    mock_ok: bool | None = None
    chosen: bool = False

    @property
    def label(self) -> str:
        """The knobs' label, with the baseline marked."""
        return ("default " if self.role == "baseline" else "") + self.knobs.label()

    def take_settings(self, settings: Settings) -> None:
        """Record what calibration made of the knobs."""
        self.settings_sha256 = settings.sha256
        self.settings_path = str(settings.path)
        self.logrows = settings.logrows
        self.num_rows = settings.num_rows
        self.input_scale = settings.input_scales[0] if settings.input_scales else None
        self.param_scale = settings.param_scale
        self.num_inner_cols = settings.num_inner_cols
        self.decomp_base = settings.decomp_base
        self.decomp_legs = settings.decomp_legs
        self.lookup_range = settings.lookup_range

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
        """Inverse of :meth:`as_dict`; also reads files written before ``agreement`` became ``argmax_agreement``."""
        data = dict(data)
        data.pop("label", None)
        knobs = Knobs(**data.pop("knobs"))
        lookup = data.pop("lookup_range", None)
        return cls(
            knobs=knobs,
            fidelity=_fidelity_from_dict(data.pop("fidelity", None)),
            lookup_range=(int(lookup[0]), int(lookup[1])) if lookup else None,
            **data,
        )


def _fidelity_from_dict(data: dict[str, Any] | None) -> Fidelity | None:
    if not data:
        return None
    data = dict(data)
    # The tuner's own FidelityMetrics called it `agreement`; workspaces tuned before keep such files.
    if "agreement" in data:
        data.setdefault("argmax_agreement", data.pop("agreement"))
    return Fidelity(**data)


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
    holdout: str = ""
    holdout_generated: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``tune_candidates.json``)."""
        return {
            "version": 1,
            "budget": self.budget.as_dict(),
            "reachable": self.reachable,
            "message": self.message,
            "seconds": round(self.seconds, 2),
            "holdout": self.holdout,
            "holdout_generated": self.holdout_generated,
            "chosen": self._index(self.chosen),
            "best": self._index(self.best),
            "baseline": self._index(self.baseline),
            "candidates": [c.as_dict() for c in self.candidates],
        }

    def _index(self, cand: Candidate | None) -> int | None:
        return self.candidates.index(cand) if cand in self.candidates else None


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


__all__ = ["DEFAULT_DECOMP", "DEFAULT_INNER_COLS", "Candidate", "Knobs", "TuneEvent", "TuneProgress", "TuneResult", "read_candidates"]
