"""``zkml.tune.tune``: tune a circuit whose model its pipeline exports and checks.

The tuner sits below the pipeline (which imports it to use tuned settings by
default, to tune for a ``[budget]`` and to search when ezkl's calibration
fails), so it never imports the pipeline. What it needs of the circuit, the
pipeline's manifest-cached export and preflight and its sample input, it
receives as a :class:`TunableCircuit`: pass a :class:`zkml.pipeline.Pipeline`,
and a second tune, or a later ``zkml run``, reuses the same ONNX file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from zkml.tune.search import measure_baseline as _measure_baseline
from zkml.tune.search import tune as _tune
from zkml.tune.workbench import Prepared

if TYPE_CHECKING:
    from pathlib import Path

    from zkml.artifacts import OnnxModel, OpReport
    from zkml.config import CircuitConfig
    from zkml.tune.budget import Budget
    from zkml.tune.candidates import Candidate, TuneResult
    from zkml.workspace import Workspace


class TunableCircuit(Protocol):
    """What tuning needs of a circuit: :class:`zkml.pipeline.Pipeline` is one."""

    @property
    def config(self) -> CircuitConfig: ...

    @property
    def ws(self) -> Workspace: ...

    def preflight(self) -> OpReport: ...

    def export(self) -> OnnxModel: ...

    def sample_input(self, model: OnnxModel) -> Path: ...


def prepare(circuit: TunableCircuit) -> Prepared:
    """Export ``circuit``'s model (reused when current), preflight it, find its sample input.

    Raises:
        ZkmlError: export or preflight failed.
    """
    circuit.preflight()
    model = circuit.export()
    return Prepared(model, circuit.sample_input(model))


def tune(circuit: TunableCircuit, budget: Budget | None, **options: Any) -> TuneResult:
    """:func:`zkml.tune.search.tune` on ``circuit``'s config and workspace, with the model :func:`prepare` exports.

    Example: ``tune(Pipeline(config, Workspace("build/mlp")), Budget(max_abs_error=1e-3))``.
    ``options`` and errors: those of :func:`zkml.tune.search.tune` (its defaults, not repeated here).
    """
    return _tune(circuit.config, circuit.ws, budget, prepared=prepare(circuit), **options)


def measure_baseline(circuit: TunableCircuit, *, samples: int = 128) -> Candidate:
    """:func:`zkml.tune.search.measure_baseline` on the model exported by :func:`prepare`."""
    return _measure_baseline(circuit.config, circuit.ws, samples=samples, prepared=prepare(circuit))


__all__ = ["TunableCircuit", "measure_baseline", "prepare", "tune"]
