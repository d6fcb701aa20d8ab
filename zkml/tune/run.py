"""``zkml.tune.tune``: export and check the model through the pipeline, then search.

The search and the workbench never import the pipeline, because the pipeline
imports them (to use tuned settings by default, to tune for a ``[budget]`` and
to search when ezkl's calibration fails). This module is the one place that
goes the other way: it prepares the model with the pipeline's manifest-cached
export and preflight, so a second tune, or a later ``zkml run``, reuses the
same ONNX file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zkml.tune.search import measure_baseline as _measure_baseline
from zkml.tune.search import tune as _tune
from zkml.tune.workbench import Prepared

if TYPE_CHECKING:
    from zkml.config import CircuitConfig
    from zkml.tune.budget import Budget
    from zkml.tune.candidates import Candidate, TuneResult
    from zkml.workspace import Workspace


def prepare(config: CircuitConfig, workspace: Workspace) -> Prepared:
    """Export ``config``'s model into ``workspace`` (reused when current), preflight it, find its sample input.

    Raises:
        ZkmlError: export or preflight failed.
    """
    from zkml.pipeline import Pipeline

    pipeline = Pipeline(config, workspace)
    pipeline.preflight()
    model = pipeline.export()
    return Prepared(model, pipeline.sample_input(model))


def tune(config: CircuitConfig, workspace: Workspace, budget: Budget | None, **options: Any) -> TuneResult:
    """:func:`zkml.tune.search.tune` on the model exported by :func:`prepare` (same arguments and errors)."""
    return _tune(config, workspace, budget, prepared=prepare(config, workspace), **options)


def measure_baseline(config: CircuitConfig, workspace: Workspace, *, samples: int = 128) -> Candidate:
    """:func:`zkml.tune.search.measure_baseline` on the model exported by :func:`prepare`."""
    return _measure_baseline(config, workspace, samples=samples, prepared=prepare(config, workspace))


__all__ = ["measure_baseline", "prepare", "tune"]
