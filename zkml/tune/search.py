"""The search: the cheapest circuit settings that still meet an accuracy budget.

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
calibration) and for each candidate measures (:mod:`zkml.tune.workbench`):

* fidelity on the held-out set, with witnesses only (milliseconds a sample);
* cost from the settings (``logrows``, rows, columns);
* for a few finalists only, real key setup and proving on one sample, each in
  a child process (:mod:`zkml.tune.measure`).

Measured and therefore *not* searched: forcing ``logrows`` below what
calibration picks (ezkl then spreads rows over more columns) is slower, e.g.
``gru_forecaster`` at scale 11 proves in 11 s at logrows 15, 27 s at 13 and
58 s at 12. Fewer inner columns, on the other hand, pay off when the lookup
table rather than the rows fixes ``logrows`` (gru: 1 column 5.2 s vs 2
columns 8.7 s at logrows 15).

The chosen settings go to the workspace's ``tuned.json`` (pinned values,
budget, measured numbers; read back by :mod:`zkml.tune.pinned`), all
candidates to ``tune_candidates.json`` and the chosen candidate's per-sample
outputs to ``tune_fidelity.json`` (same schema as the pipeline's
``fidelity.json``), from which :mod:`zkml.tune.report` draws its plots.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from zkml.errors import BudgetUnreachableError, CalibrationError
from zkml.tune.budget import Budget
from zkml.tune.candidates import DEFAULT_DECOMP, Candidate, Knobs, TuneEvent, TuneProgress, TuneResult
from zkml.tune.workbench import Prepared, Workbench

if TYPE_CHECKING:
    from zkml.config import CircuitConfig
    from zkml.workspace import Workspace

log = logging.getLogger(__name__)

# (base, legs) pairs tried besides the default. The decomposition must cover the
# largest rescaled value (base**legs); 2**28 is what the default covers, and a
# pair that covers less shows up as wrong witnesses, which the fidelity check
# rejects. A smaller base shrinks the range-check table (and so logrows) at the
# price of more rows per check.
DECOMP_CHOICES = ((256, 4), (1024, 3), (4096, 3))
INNER_COL_CHOICES = (1, 4)
MAX_SCALE = 18


def tune(
    config: CircuitConfig,
    workspace: Workspace,
    budget: Budget | None,
    *,
    progress: TuneProgress | None = None,
    finalists: int = 2,
    samples: int = 128,
    max_seconds: float = 240.0,
    prove_baseline: bool = False,
    raise_unreachable: bool = True,
    repeats: int = 1,
    onchain: bool = False,
    prepared: Prepared | None = None,
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
        workspace: the circuit's workspace (e.g. ``build/<name>``).
        budget: the accuracy to keep; None keeps the baseline's own held-out
            fidelity (:meth:`Budget.no_worse_than`): no less accurate than ezkl's calibration.
        progress: called with a :class:`TuneEvent` at every step.
        finalists: how many candidates to prove for real.
        samples: held-out samples to measure fidelity on (at most).
        max_seconds: stop searching (not proving) after this long.
        prove_baseline: also prove the baseline, to report the speed-up.
        raise_unreachable: raise :class:`BudgetUnreachableError` when nothing
            meets the budget (after writing the candidates file); otherwise
            return a result with ``reachable`` False.
        repeats: prove each finalist this many times and keep its fastest (timing noise).
        onchain: also measure each proved candidate's plain verifier (runtime
            bytes, over EIP-170 or not) and verify gas on a local anvil.
        prepared: the exported model and sample input (:func:`zkml.tune.run.tune`
            has the circuit's pipeline export them; this module cannot import the pipeline, which imports it).

    Returns:
        The result; ``tuned.json``, ``tune_candidates.json`` and
        ``tune_fidelity.json`` are written in the workspace.

    Raises:
        BudgetUnreachableError: nothing met the budget (message names the best found).
        ConfigError: no held-out data.
        ZkmlError: export/preflight of the model failed.
    """
    report: TuneProgress = progress or _ignore
    start = time.perf_counter()
    bench = Workbench(config, workspace, budget or Budget(max_abs_error=float("inf")), samples, repeats=repeats, prepared=prepared)
    report(TuneEvent("prepare", f"exporting and checking {config.name}"))
    bench.prepare()
    search = _Search(bench, report, deadline=start + max_seconds, relative=budget is None)
    baseline = search.run()
    queue = _distinct_settings(search.cheapest(len(bench.candidates)))
    with _chain(bench, onchain):
        proved = _prove_finalists(bench, report, queue, finalists, baseline if prove_baseline else None)
    result = _conclude(bench, baseline, proved, time.perf_counter() - start)
    bench.write_outputs(result)
    report(TuneEvent("done", result.message, candidate=result.chosen or result.best))
    log.info("tune %s: %s", config.name, result.message)
    if not result.reachable and raise_unreachable:
        raise BudgetUnreachableError(
            result.message,
            hint="loosen the budget, add calibration data that covers the held-out range, or raise max_logrows; "
            f"all candidates are in {workspace.tune_candidates}",
            result=result,
        )
    return result


def measure_baseline(config: CircuitConfig, workspace: Workspace, *, samples: int = 128, prepared: Prepared | None = None) -> Candidate:
    """ezkl's default calibration of ``config``, measured like a tuner candidate (no proving).

    Useful to set a budget relative to the default ("no worse than ezkl's
    calibration"), as the benchmark does: see :meth:`Budget.no_worse_than`.

    Raises:
        ConfigError: no held-out data.
        CalibrationError: the default calibration fails.
    """
    # Any budget will do: only the measurements are used.
    bench = Workbench(config, workspace, Budget(max_abs_error=float("inf")), samples, prepared=prepared)
    bench.prepare()
    cand = _Search(bench, _ignore, deadline=float("inf")).baseline(report=False)
    cand.meets_budget, cand.budget_note = False, ""
    return cand


@contextlib.contextmanager
def _chain(bench: Workbench, onchain: bool) -> Iterator[None]:
    """With ``onchain``, a local anvil for the finalists' verifiers (``bench.conn``) while the block runs."""
    if not onchain:
        yield
        return
    from zkml.tune.onchain import measuring_chain

    with measuring_chain() as conn:
        bench.conn = conn
        try:
            yield
        finally:
            bench.conn = None


def _ignore(event: TuneEvent) -> None:
    """The progress callback when nobody listens."""


class _Search:
    """Steps 1-4 of :func:`tune`: which knobs to try, in what order, until when."""

    def __init__(self, bench: Workbench, report: TuneProgress, *, deadline: float, relative: bool = False) -> None:
        self.bench = bench
        self.relative = relative
        self.report = report
        self.deadline = deadline
        self.margin = bench.config.circuit.lookup_safety_margin

    def run(self) -> Candidate:
        """Try the baseline, decompositions, scales, columns and margins; return the baseline."""
        baseline = self.baseline()
        if self.relative and baseline.fidelity is not None:
            # No budget given: no less accurate than ezkl's own calibration, measured the same way.
            self.bench.budget = Budget.no_worse_than(baseline.fidelity)
            baseline.meets_budget, baseline.budget_note = self.bench.budget.check(baseline.fidelity)
        s0 = baseline.input_scale or 7
        decomps = self.decompositions(s0, baseline)
        self.ladder(range(s0 - 2, 0, -2), decomps)
        if not any(c.meets_budget for c in self.bench.candidates):
            self.ladder(range(s0 + 2, MAX_SCALE + 1, 2), decomps)
        self.refine()
        return baseline

    def out_of_time(self) -> bool:
        """Past the deadline: stop adding candidates (finalists are still proved)."""
        return time.perf_counter() > self.deadline

    def step(self, knobs: Knobs, role: str = "search") -> Candidate:
        """Evaluate ``knobs`` (once) and report the outcome."""
        cand = self.bench.evaluate(knobs, role)
        message = f"{cand.label}: {_step_note(cand)}{' ok' if cand.meets_budget else ''}"
        self.report(TuneEvent("search" if role == "search" else "baseline", message, len(self.bench.candidates), 0, cand))
        return cand

    def knobs(self, scale: int, base: int, legs: int) -> Knobs:
        """Both scales at ``scale``, decomposition ``base``x``legs``, the configured margin."""
        return Knobs(scale, scale, base, legs, None, self.margin)

    def baseline(self, *, report: bool = True) -> Candidate:
        """Step 1: ezkl's default calibration of the configured circuit.

        Raises:
            CalibrationError: the default calibration fails (nothing else would do better).
        """
        circuit = self.bench.config.circuit
        knobs = Knobs(input_scale=circuit.input_scale, param_scale=circuit.param_scale, lookup_safety_margin=self.margin)
        cand = self.step(knobs, "baseline") if report else self.bench.evaluate(knobs, "baseline")
        if cand.error:
            raise CalibrationError(
                f"ezkl's default calibration failed: {cand.error}", hint="fix the model or calibration data first (zkml calibrate)"
            )
        return cand

    def decompositions(self, s0: int, baseline: Candidate) -> list[tuple[int, int]]:
        """Step 2: each decomposition at ``s0``; the two cheapest that work go on to the ladder."""
        tried = {(base, legs): self.step(self.knobs(s0, base, legs)) for base, legs in DECOMP_CHOICES}
        measured = {d: c for d, c in tried.items() if c.fidelity is not None and not c.error}
        working = [d for d, c in measured.items() if c.meets_budget]
        ranked = sorted(working or list(measured) or [DEFAULT_DECOMP], key=lambda d: measured.get(d, baseline).cost_key())
        return ranked[:2]

    def ladder(self, scales: range, decomps: list[tuple[int, int]]) -> None:
        """Step 3: walk ``scales`` until one where no decomposition meets the budget."""
        for scale in scales:
            if self.out_of_time():
                return
            # Every decomposition is measured (no short cut): the finalists are chosen among them.
            met = [self.step(self.knobs(scale, base, legs)).meets_budget for base, legs in decomps]
            if not any(met):
                return

    def refine(self) -> None:
        """Step 4: inner columns, then a tighter lookup margin, on the two cheapest that meet the budget."""
        for cand in self.cheapest(2):
            for cols in INNER_COL_CHOICES:
                if self.out_of_time():
                    break
                self.step(replace(cand.knobs, input_scale=cand.input_scale, param_scale=cand.param_scale, num_inner_cols=cols))
        for cand in self.cheapest(2):
            if cand.lookup_range and cand.lookup_range != (0, 0) and cand.knobs.lookup_safety_margin > 1 and not self.out_of_time():
                self.step(replace(cand.knobs, lookup_safety_margin=1.0))

    def cheapest(self, count: int) -> list[Candidate]:
        """The ``count`` cheapest candidates (estimated cost) that meet the budget."""
        return sorted((c for c in self.bench.candidates if c.meets_budget and not c.error), key=Candidate.cost_key)[:count]


def _distinct_settings(ranked: list[Candidate]) -> list[Candidate]:
    """The first candidate of each settings file: two knob sets that calibrate alike prove alike."""
    seen: set[str] = set()
    queue = []
    for cand in ranked:
        if cand.settings_sha256 not in seen:
            seen.add(cand.settings_sha256)
            queue.append(cand)
    return queue


def _prove_finalists(
    bench: Workbench, report: TuneProgress, queue: list[Candidate], finalists: int, baseline: Candidate | None
) -> list[Candidate]:
    """Step 5: mock-check, then set up, prove and verify the cheapest until ``finalists`` verified.

    ``baseline``, when given, is proved too (for the speed-up), but never chosen.
    """
    proved: list[Candidate] = []
    total = min(finalists, len(queue)) + (1 if baseline is not None else 0)
    for cand in queue:
        if len(proved) >= finalists:
            break
        if not bench.mock(cand):
            report(TuneEvent("prove", f"{cand.label}: rejected, {cand.error}", len(proved), total, cand))
            continue
        report(TuneEvent("prove", f"setup + prove {cand.label} (logrows {cand.logrows})", len(proved) + 1, total, cand))
        bench.prove(cand, bench.conn)
        if cand.verified:
            proved.append(cand)
            message = f"{cand.label}: prove {cand.prove_seconds:.2f}s, peak {_mb(cand.prove_peak_rss_bytes)}{_chain_note(cand)}"
            report(TuneEvent("prove", message, len(proved), total, cand))
    if baseline is not None and baseline.prove_seconds is None:
        report(TuneEvent("prove", f"setup + prove {baseline.label} (logrows {baseline.logrows})", total, total, baseline))
        bench.prove(baseline, bench.conn)
        if baseline.prove_seconds is not None:
            message = (
                f"{baseline.label}: prove {baseline.prove_seconds:.2f}s, peak {_mb(baseline.prove_peak_rss_bytes)}{_chain_note(baseline)}"
            )
            report(TuneEvent("prove", message, total, total, baseline))
    return proved


def _conclude(bench: Workbench, baseline: Candidate, proved: list[Candidate], seconds: float) -> TuneResult:
    """Choose among the proved candidates; when none, find the one closest to the budget."""
    budget, candidates = bench.budget, bench.candidates
    chosen = _pick(proved, baseline)
    best: Candidate | None = chosen
    if chosen is not None:
        chosen.chosen = True
        message = (
            f"chose {chosen.label}: logrows {chosen.logrows} (default {baseline.logrows}), prove {chosen.prove_seconds:.2f}s, "
            f"{_fid_text(chosen)}; budget {budget.describe()}"
        )
    else:
        measured = [c for c in candidates if c.fidelity is not None]
        best = min(measured, key=lambda c: (budget.shortfall(c.fidelity), c.cost_key())) if measured else None  # type: ignore[arg-type]
        if any(c.meets_budget for c in candidates):
            message = "candidates met the budget but none of them proved and verified"
        else:
            message = f"no configuration met the budget ({budget.describe()}) after {len(candidates)} candidates"
        if best is not None:
            message += f"; best found {best.label}: {_fid_text(best)} (logrows {best.logrows})"
    generated = bench.config.holdout is None
    if generated:
        message += " (held-out data GENERATED around the sample input: add [data] holdout for real numbers)"
    return TuneResult(
        budget,
        baseline,
        candidates,
        chosen,
        best,
        chosen is not None,
        seconds,
        bench.ws.root,
        message,
        holdout=getattr(bench, "holdout_source", ""),
        holdout_generated=generated,
    )


def _pick(proved: list[Candidate], baseline: Candidate | None = None) -> Candidate | None:
    """The fastest measured prover among those that meet the budget and verified.

    Never a candidate slower than another one measured that also meets the
    budget and verified, the baseline included (a tuned circuit with fewer
    logrows can still prove slower, e.g. when ezkl spreads it over more
    columns). Exact ties go to the smaller circuit, then to better fidelity.
    """
    eligible = [c for c in proved if c.verified and c.meets_budget and c.prove_seconds is not None]
    if baseline is not None and baseline.verified and baseline.meets_budget and baseline.prove_seconds is not None:
        eligible.append(baseline)
    if not eligible:
        return None
    return min(eligible, key=lambda c: (c.prove_seconds, c.cost_key()[:2], c.fidelity.max_abs_error if c.fidelity else float("inf")))


def _step_note(cand: Candidate) -> str:
    fid = cand.fidelity
    if cand.error or fid is None:
        return cand.error
    note = f"logrows {cand.logrows}, max abs err {fid.max_abs_error:.3g}"
    return note + (f", agreement {fid.argmax_agreement:.1%}" if fid.argmax_agreement is not None else "")


def _fid_text(cand: Candidate) -> str:
    fid = cand.fidelity
    if fid is None:
        return "not measured"
    text = f"max abs err {fid.max_abs_error:.3g}, rel {fid.max_rel_error:.3g}"
    if fid.argmax_agreement is not None:
        text += f", agreement {fid.argmax_agreement:.1%}"
    return text


def _chain_note(cand: Candidate) -> str:
    if cand.verifier_runtime_bytes is None:
        return ""
    over = " OVER EIP-170 (use the reusable verifier + VKA)" if cand.over_eip170 else ""
    gas = f"{cand.verify_gas:,}" if cand.verify_gas is not None else "?"
    return f", verifier {cand.verifier_runtime_bytes:,} bytes{over}, verify gas {gas}"


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**20:.0f} MB"


__all__ = ["DECOMP_CHOICES", "INNER_COL_CHOICES", "MAX_SCALE", "measure_baseline", "tune"]
