"""Pipeline configuration: one ``zkml.toml`` per circuit, validated on load.

A circuit folder holds the model source, sample and calibration inputs and a
``zkml.toml``; a bare ``.onnx`` file gets a default config. Every value is
checked in ``__post_init__`` so a typo fails before any slow work starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from zkml.errors import ConfigError

VISIBILITIES = ("public", "private", "hashed", "fixed")
CALIBRATION_TARGETS = ("resources", "accuracy")
# The proof backend: halo2 (ezkl), circom + snarkjs (groth16, fflonk, plonk), or auto (chosen by measured
# cost: zkml.circom.choose). Parsed and validated here; `zkml run` acts on it on chain (zkml.circom.auto).
BACKENDS = ("auto", "halo2", "groth16", "fflonk", "plonk")
TASKS = ("regression", "classification")

Task = Literal["regression", "classification"]


@dataclass(frozen=True)
class CircuitSettings:
    """How the model becomes a circuit: visibility, calibration, optional overrides."""

    input_visibility: str = "public"
    output_visibility: str = "public"
    param_visibility: str = "fixed"
    calibration_target: str = "resources"
    # None lets calibration choose; set to pin a value (the tuner will).
    logrows: int | None = None
    input_scale: int | None = None
    param_scale: int | None = None
    max_logrows: int | None = None
    lookup_safety_margin: float = 2.0
    # How far outside the calibration data's per-feature range an input may lie,
    # as a fraction of that range, before prove refuses it.
    input_range_margin: float = 0.25
    calibration_samples: int = 32
    # Range-check decomposition and layout; None keeps ezkl's defaults
    # (base 16384, 2 legs, 2 inner columns). `zkml tune` pins these.
    num_inner_cols: int | None = None
    decomp_base: int | None = None
    decomp_legs: int | None = None

    def __post_init__(self) -> None:
        for name in ("input_visibility", "output_visibility", "param_visibility"):
            value = getattr(self, name)
            if value not in VISIBILITIES:
                raise ConfigError(f"{name} = {value!r} is not a visibility", hint=f"use one of {', '.join(VISIBILITIES)}")
        if self.calibration_target not in CALIBRATION_TARGETS:
            raise ConfigError(
                f"calibration_target = {self.calibration_target!r} is unknown",
                hint=f"use one of {', '.join(CALIBRATION_TARGETS)}",
            )
        for name in ("logrows", "max_logrows"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 26:
                raise ConfigError(f"{name} = {value} is out of range", hint="use 1..26")
        if self.lookup_safety_margin < 1:
            raise ConfigError("lookup_safety_margin must be >= 1")
        if self.input_range_margin < 0:
            raise ConfigError("input_range_margin must be >= 0")
        if self.calibration_samples < 1:
            raise ConfigError("calibration_samples must be >= 1")
        for name in ("num_inner_cols", "decomp_base", "decomp_legs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} = {value} must be >= 1")
        if self.decomp_base is not None and self.decomp_base < 2:
            raise ConfigError("decomp_base must be >= 2", hint="use a power of two such as 256 or 16384")


CONSUMERS = ("ForecastVault",)
# The consumer policy's bounds; ForecastVault's constructor refuses the same values.
MAX_BPS = 10_000
# 1e6 bps per output unit: a model whose output is a fraction (0.01 = 1 %) still spans the range.
MAX_BPS_PER_OUTPUT_UNIT = 1_000_000
MAX_COOLDOWN = 30 * 86_400
# A prediction fresh for more than a year is no forecast (the oracle itself accepts up to 2**40 - 1).
MAX_CONSUMER_MAX_AGE = 365 * 86_400


@dataclass(frozen=True)
class ConsumerConfig:
    """The DeFi consumer a circuit declares (``[consumer]`` in zkml.toml): ``zkml run`` then
    publishes its attested proof to the oracle and lets this consumer act on the verified prediction.

    Attributes:
        contract: the example consumer contract (``ForecastVault``).
        neutral_bps: the vault's risky allocation when the forecast is 0, in basis points.
        bps_per_output_unit: allocation change (bps) per 1.0 of the model's output, in the
            model's own units (mlp_regressor forecasts percent: 1.0 is a 1 % return).
        max_step_bps: the largest allocation change one rebalance may make.
        cooldown: seconds between two rebalances.
        max_age: seconds a published prediction stays fresh, from its data's timestamp
            (set at registration; fixed per prediction when it is stored).
    """

    contract: str = "ForecastVault"
    neutral_bps: int = 5_000
    bps_per_output_unit: int = 2_000
    max_step_bps: int = 1_000
    cooldown: int = 300
    max_age: int = 3600

    def __post_init__(self) -> None:
        if self.contract not in CONSUMERS:
            raise ConfigError(f"[consumer] contract = {self.contract!r} is unknown", hint=f"use one of {', '.join(CONSUMERS)}")
        bounds = (
            ("neutral_bps", 0, MAX_BPS),
            ("bps_per_output_unit", 1, MAX_BPS_PER_OUTPUT_UNIT),
            ("max_step_bps", 1, MAX_BPS),
            ("cooldown", 0, MAX_COOLDOWN),
            ("max_age", 1, MAX_CONSUMER_MAX_AGE),
        )
        for name, low, high in bounds:
            value = getattr(self, name)
            # bool is an int and a float is no ABI integer: both refused, as out-of-range values are.
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(f"[consumer] {name} = {value!r} must be an integer within {low}..{high}")


@dataclass(frozen=True)
class FeedConfig:
    """Where an attested model's input comes from (``[feed]`` in zkml.toml).

    The model's input at epoch E is the last ``window`` returns of a price feed (an
    AggregatorV3 feed) at round E, ``window`` being the model's input size; the oracle
    accepts a proof only on exactly those inputs.

    Attributes:
        multiplier: returns are ``multiplier * (p_i - p_{i-1}) / p_{i-1}`` (100: percent).
        max_epoch_lag: the oracle refuses an epoch more than this many rounds behind the feed.
        max_change_bps: the feature source's circuit breaker: an epoch whose window holds a change between
            consecutive rounds above this many basis points of the earlier price is refused (no prediction on it);
            0 (the default) turns it off.
        decimals: decimals of the local feed the demo deploys.
        demo_series: ``file.py:function`` returning the example price series the demo pushes.
        demo_rounds: how many of its last prices the demo pushes.
    """

    multiplier: int = 100
    max_epoch_lag: int = 4
    max_change_bps: int = 0
    decimals: int = 8
    demo_series: str | None = None
    demo_rounds: int = 48

    def __post_init__(self) -> None:
        if not 1 <= self.multiplier <= 10**6:
            raise ConfigError(f"[feed] multiplier = {self.multiplier} must be within 1..1000000")
        if not 0 <= self.max_epoch_lag < 2**32:
            raise ConfigError(f"[feed] max_epoch_lag = {self.max_epoch_lag} must be within 0..2^32-1")
        # ReturnsFeatureSource.MAX_CHANGE_BPS_LIMIT; bool is an int, and the ABI would not take True for a uint.
        if isinstance(self.max_change_bps, bool) or not isinstance(self.max_change_bps, int) or not 0 <= self.max_change_bps <= 10**6:
            raise ConfigError(
                f"[feed] max_change_bps = {self.max_change_bps!r} must be an integer within 0..1000000 (basis points; 0: off)"
            )
        if not 0 <= self.decimals <= 36:
            raise ConfigError(f"[feed] decimals = {self.decimals} must be within 0..36")
        if self.demo_rounds < 2:
            raise ConfigError(f"[feed] demo_rounds = {self.demo_rounds} must be >= 2")


@dataclass(frozen=True)
class CircuitConfig:
    """Everything ``zkml run`` needs to take one model to a verified proof.

    Attributes:
        name: workspace name (``build/<name>``).
        root: folder that relative paths are resolved against.
        factory: ``file.py:function`` returning a torch module or ONNX model.
        example_input: ``file.py:function`` returning the tracing input, if any.
        input_shape: shape of a seeded random tracing input, when there is no
            ``example_input`` (batch axis first).
        onnx: path to an existing ONNX model (instead of ``factory``).
        input: sample input JSON to prove.
        calibration: calibration input JSON; generated around ``input`` if absent.
        holdout: held-out JSON with ``targets``, for fidelity reports.
        consumer: the DeFi consumer ``zkml run`` drives after on-chain verification, if any.
        feed: the price feed an attested model's input comes from (``[feed]``), if any.
    """

    name: str
    root: Path
    task: Task = "regression"
    description: str = ""
    factory: str | None = None
    example_input: str | None = None
    onnx: Path | None = None
    input_shape: tuple[int, ...] | None = None
    input: Path | None = None
    calibration: Path | None = None
    holdout: Path | None = None
    circuit: CircuitSettings = field(default_factory=CircuitSettings)
    # The accuracy budget for `zkml tune` ([budget] table), kept as the raw
    # table so config does not import the tuner; zkml.tune.Budget validates it.
    budget: dict[str, float] | None = None
    consumer: ConsumerConfig | None = None
    feed: FeedConfig | None = None
    # The zkml.toml this config was loaded from (None for a bare ONNX or factory).
    source: Path | None = None
    # [circuit] backend: kept out of CircuitSettings, whose fields fingerprint calibration. Its one
    # effect on ezkl's settings: anything but halo2 calibrates with a rebase after every product (the
    # arithmetic the circom path mirrors), keyed in the calibrate stage only then (zkml.pipeline).
    backend: str = "halo2"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend = {self.backend!r} is unknown", hint=f"use one of {', '.join(BACKENDS)}")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ConfigError(f"circuit name {self.name!r} is not a valid folder name")
        if self.task not in TASKS:
            raise ConfigError(f"task = {self.task!r} is unknown", hint=f"use one of {', '.join(TASKS)}")
        if (self.factory is None) == (self.onnx is None):
            raise ConfigError(f"circuit {self.name!r} needs exactly one of [model] factory or onnx")
        if self.input_shape is not None and (not self.input_shape or any(int(d) < 1 for d in self.input_shape)):
            raise ConfigError(f"input_shape {list(self.input_shape)} must be positive integers, batch first")
        for label, spec in (("factory", self.factory), ("example_input", self.example_input)):
            if spec is not None and ":" not in spec:
                raise ConfigError(f"[model] {label} = {spec!r} must look like 'file.py:function'")

    def with_circuit(self, **changes: Any) -> CircuitConfig:
        """A copy with some circuit settings changed (validated again)."""
        return replace(self, circuit=replace(self.circuit, **changes))


def _path(root: Path, value: object, key: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a path string")
    return (root / value).resolve()


def load_config(path: Path) -> CircuitConfig:
    """Load a circuit folder's ``zkml.toml`` (or the file itself).

    Raises:
        ConfigError: missing file, TOML syntax error, unknown key or bad value.
    """
    path = Path(path)
    toml_path = path / "zkml.toml" if path.is_dir() else path
    if not toml_path.is_file():
        raise ConfigError(f"no zkml.toml at {toml_path}", hint="give a circuit folder with a zkml.toml, or an .onnx file")
    try:
        data = tomllib.loads(toml_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{toml_path}: {exc}") from exc
    root = toml_path.parent.resolve()
    allowed_top = {"name", "description", "task", "model", "data", "circuit", "budget", "consumer", "feed"}
    unknown = set(data) - allowed_top
    if unknown:
        raise ConfigError(f"{toml_path}: unknown keys {sorted(unknown)}", hint=f"allowed: {sorted(allowed_top)}")
    model = data.get("model", {})
    dataset = data.get("data", {})
    circuit_keys = {f.name for f in fields(CircuitSettings)} | {"backend"}
    circuit = dict(data.get("circuit", {}))
    backend = circuit.pop("backend", "halo2")
    bad = set(circuit) - circuit_keys
    if bad:
        raise ConfigError(f"{toml_path}: unknown [circuit] keys {sorted(bad)}", hint=f"allowed: {sorted(circuit_keys)}")
    for section, allowed in (("model", {"factory", "example_input", "onnx", "input_shape"}), ("data", {"input", "calibration", "holdout"})):
        extra = set(data.get(section, {})) - allowed
        if extra:
            raise ConfigError(f"{toml_path}: unknown [{section}] keys {sorted(extra)}", hint=f"allowed: {sorted(allowed)}")
    try:
        settings = CircuitSettings(**circuit)
    except TypeError as exc:
        raise ConfigError(f"{toml_path}: {exc}") from exc
    return CircuitConfig(
        name=str(data.get("name", root.name)),
        root=root,
        task=data.get("task", "regression"),
        description=str(data.get("description", "")),
        factory=model.get("factory"),
        example_input=model.get("example_input"),
        onnx=_path(root, model.get("onnx"), "[model] onnx"),
        input_shape=tuple(int(d) for d in model["input_shape"]) if "input_shape" in model else None,
        input=_path(root, dataset.get("input"), "[data] input"),
        calibration=_path(root, dataset.get("calibration"), "[data] calibration"),
        holdout=_path(root, dataset.get("holdout"), "[data] holdout"),
        circuit=settings,
        budget=_budget_table(data.get("budget"), toml_path),
        consumer=_table(ConsumerConfig, "consumer", data.get("consumer"), toml_path),
        feed=_table(FeedConfig, "feed", data.get("feed"), toml_path),
        source=toml_path.resolve(),
        backend=backend,
    )


_RENAMED = {
    "bps_per_unit_return": "bps_per_output_unit is in the model's output units (percent for mlp_regressor); "
    "bps_per_unit_return was per 1.0 = 100 % and its default was 100x too strong",
}


def _table(kind: type[Any], section: str, value: object, toml_path: Path) -> Any:
    """A [consumer] or [feed] table as its dataclass, or None when absent."""
    if value is None:
        return None
    allowed = {f.name for f in fields(kind)}
    if isinstance(value, dict):
        for key in set(value) & set(_RENAMED):
            raise ConfigError(f"{toml_path}: [{section}] {key} is no longer supported", hint=_RENAMED[key])
    if not isinstance(value, dict) or set(value) - allowed:
        raise ConfigError(f"{toml_path}: bad [{section}] table {value!r}", hint=f"allowed keys: {sorted(allowed)}")
    try:
        return kind(**value)
    except TypeError as exc:
        raise ConfigError(f"{toml_path}: [{section}]: {exc}") from exc


def _budget_table(value: object, toml_path: Path) -> dict[str, float] | None:
    """Check the [budget] table's keys and types (zkml.tune.Budget checks the values)."""
    if value is None:
        return None
    allowed = {"max_abs_error", "max_rel_error", "min_agreement"}
    if not isinstance(value, dict) or set(value) - allowed:
        raise ConfigError(f"{toml_path}: bad [budget] table {value!r}", hint=f"allowed keys: {sorted(allowed)}")
    try:
        return {k: float(v) for k, v in value.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{toml_path}: [budget] values must be numbers: {exc}") from exc


def config_for_onnx(onnx_path: Path, *, input_path: Path | None = None, task: Task = "regression") -> CircuitConfig:
    """A default config for a bare ``.onnx`` file, named as the CLI names its workspace
    (:func:`zkml.workspace.workspace_name`: the stem, or the folder's name for ``network.onnx``)."""
    from zkml.workspace import workspace_name

    onnx_path = Path(onnx_path).resolve()
    return CircuitConfig(name=workspace_name(onnx_path), root=onnx_path.parent, task=task, onnx=onnx_path, input=input_path)
