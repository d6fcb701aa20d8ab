"""Tune: the cheapest circuit settings that still meet an accuracy budget.

``zkml tune`` searches the settings that change proving cost or accuracy
(scales, range-check decomposition, inner columns, lookup margin), measures
each candidate's fidelity on held-out data and proves the cheapest few for
real, then pins the fastest one that keeps the budget in ``tuned.json``.

Modules: :mod:`~zkml.tune.budget` (the accuracy budget),
:mod:`~zkml.tune.candidates` (knobs, candidates, results and their JSON),
:mod:`~zkml.tune.search` (the search strategy), :mod:`~zkml.tune.run`
(:func:`tune`: the circuit's pipeline, passed in, exports the model; then the search),
:mod:`~zkml.tune.auto` (tuned settings by default, ``[budget]``),
:mod:`~zkml.tune.fallback` (calibration where ezkl's fails),
:mod:`~zkml.tune.onchain` (finalists' verifier size and verify gas),
:mod:`~zkml.tune.workbench` (measuring one candidate),
:mod:`~zkml.tune.measure` (proving in child processes),
:mod:`~zkml.tune.pinned` (reading ``tuned.json`` back; the pipeline's only
import from here) and :mod:`~zkml.tune.report` (the fidelity report).

The names below are resolved on first access (PEP 562): importing
``zkml.tune`` (as the pipeline does, for :mod:`~zkml.tune.pinned`) loads none
of the search, nor numpy, nor ezkl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zkml._lazy import lazy_exports

if TYPE_CHECKING:  # the real types for mypy; at run time __getattr__ resolves them
    from zkml.errors import BudgetUnreachableError as BudgetUnreachableError
    from zkml.tune.budget import Budget as Budget
    from zkml.tune.budget import load_budget as load_budget
    from zkml.tune.candidates import Candidate as Candidate
    from zkml.tune.candidates import Knobs as Knobs
    from zkml.tune.candidates import TuneEvent as TuneEvent
    from zkml.tune.candidates import TuneResult as TuneResult
    from zkml.tune.candidates import read_candidates as read_candidates
    from zkml.tune.measure import measure_proving as measure_proving
    from zkml.tune.pinned import apply_tuned as apply_tuned
    from zkml.tune.pinned import read_tuned as read_tuned
    from zkml.tune.run import TunableCircuit as TunableCircuit
    from zkml.tune.run import measure_baseline as measure_baseline
    from zkml.tune.run import tune as tune

# name -> module that defines it.
_EXPORTS = {
    "Budget": "zkml.tune.budget",
    "load_budget": "zkml.tune.budget",
    "Candidate": "zkml.tune.candidates",
    "Knobs": "zkml.tune.candidates",
    "TuneEvent": "zkml.tune.candidates",
    "TuneResult": "zkml.tune.candidates",
    "read_candidates": "zkml.tune.candidates",
    "measure_proving": "zkml.tune.measure",
    "apply_tuned": "zkml.tune.pinned",
    "read_tuned": "zkml.tune.pinned",
    "TunableCircuit": "zkml.tune.run",
    "measure_baseline": "zkml.tune.run",
    "tune": "zkml.tune.run",
    "BudgetUnreachableError": "zkml.errors",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
