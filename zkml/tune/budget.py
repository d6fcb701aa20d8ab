"""The accuracy budget a tuned circuit must keep, and where a circuit folder declares it."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from zkml.artifacts import Fidelity
from zkml.errors import ConfigError

# Circuit-folder files that may hold a [budget] table; later ones win.
BUDGET_FILES = ("zkml.toml", "tune.toml")
# Error budgets are compared with this many float32 ulps of the largest float output to spare.
# The float reference comes from onnxruntime, whose kernels (and so their last bits) differ
# between CPUs; a choice measured on one machine must not be dropped on another for that.
# The circuit's own outputs are integers and do not move.
FLOAT_SLACK_ULPS = 64
_FLOAT32_EPS = 2.0**-23


def float_slack(metrics: Fidelity) -> tuple[float, float]:
    """(absolute, relative) slack for comparing ``metrics`` with a budget: :data:`FLOAT_SLACK_ULPS` of the output scale."""
    relative = FLOAT_SLACK_ULPS * _FLOAT32_EPS
    # max_rel_error = max_abs_error / (largest |float output|), so their ratio gives that output scale back.
    scale = metrics.max_abs_error / metrics.max_rel_error if metrics.max_rel_error > 0 else 1.0
    return relative * max(scale, 1.0), relative


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

    def check(self, metrics: Fidelity) -> tuple[bool, str]:
        """Whether ``metrics`` meet this budget, and if not, which criterion fails.

        Errors get :func:`float_slack` to spare (float differences between CPUs).
        Agreement counts samples and is compared exactly: float differences move
        it only where two float outputs tie to within a few ulps.
        """
        failures = []
        slack_abs, slack_rel = float_slack(metrics)
        if self.max_abs_error is not None and not metrics.max_abs_error <= self.max_abs_error + slack_abs:
            failures.append(f"max abs error {metrics.max_abs_error:.6g} > {self.max_abs_error:.6g}")
        if self.max_rel_error is not None and not metrics.max_rel_error <= self.max_rel_error + slack_rel:
            failures.append(f"max rel error {metrics.max_rel_error:.6g} > {self.max_rel_error:.6g}")
        if self.min_agreement is not None:
            if metrics.argmax_agreement is None:
                failures.append("agreement is not measured (task is not classification)")
            elif not metrics.argmax_agreement >= self.min_agreement:
                failures.append(f"agreement {metrics.argmax_agreement:.2%} < {self.min_agreement:.2%}")
        return not failures, "; ".join(failures)

    def shortfall(self, metrics: Fidelity) -> float:
        """How far ``metrics`` are from the budget (0 when met; larger is worse), to rank misses."""
        worst = 0.0
        if self.max_abs_error is not None:
            worst = max(worst, metrics.max_abs_error / self.max_abs_error - 1)
        if self.max_rel_error is not None:
            worst = max(worst, metrics.max_rel_error / self.max_rel_error - 1)
        if self.min_agreement is not None:
            worst = max(worst, (self.min_agreement - (metrics.argmax_agreement or 0.0)) * 100)
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
    def no_worse_than(cls, metrics: Fidelity, *, slack: float = 1e-9) -> Budget:
        """A budget that ``metrics`` meet exactly: at most their max abs error, at least their agreement."""
        return cls(max_abs_error=max(metrics.max_abs_error * (1 + slack), 1e-12), min_agreement=metrics.argmax_agreement)

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

    Read from ``zkml.toml`` or from a ``tune.toml`` beside it; ``tune.toml``
    wins when both have one.

    Raises:
        ConfigError: a TOML syntax error or an invalid budget.
    """
    found: Budget | None = None
    for name in BUDGET_FILES:
        path = Path(circuit_root) / name
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        if "budget" in data:
            found = Budget.from_mapping(dict(data["budget"]), source=str(path))
    return found


__all__ = ["BUDGET_FILES", "Budget", "load_budget"]
