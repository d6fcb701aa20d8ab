"""``[circuit] backend = "auto"`` (or a pinned circom system) for ``zkml run``: the frontier, the choice, one line why.

After the halo2 run's own on-chain verification, every backend that takes the model is on
the frontier (:class:`zkml.artifacts.BackendRow`):

- halo2, from the run itself: fidelity is the compile stage's max abs error on the held-out
  samples (``fidelity.json``, the circuit's ``holdout`` data, else its calibration data); prove
  seconds are the prove stage's as recorded when the proof was made (the workspace manifest: a
  reused proof keeps its first timing); verify gas is the run's mined verify transaction.
- groth16, plonk, fflonk: :func:`zkml.circom.measure.measure_circom` (same samples, same metric,
  same chain), when :func:`zkml.circom.support.groth16_verdict` takes the model.

The choice is :func:`zkml.circom.choose.choose_backend`'s objective (cheapest verify gas within the
fidelity budget, prove time capped at 10x the fastest) over the measured rows. The fidelity budget:
``[budget] max_abs_error`` of zkml.toml, else the ``budget`` recorded in ``tuned.json`` (the
workspace's, else the circuit folder's), else halo2's own held-out error (no backend may be worse
than halo2); :attr:`zkml.artifacts.BackendReport.budget_source` says which.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from zkml.artifacts import BackendReport, BackendRow, RunSummary

log = logging.getLogger(__name__)


def fidelity_budget(config: Any, workspace: Path, halo2_error: float) -> tuple[float, str]:
    """(max abs error budget, where it comes from) for ``config``'s circuit in ``workspace``."""
    from zkml.workspace import Layout

    if config.budget and isinstance(config.budget.get("max_abs_error"), int | float):
        return float(config.budget["max_abs_error"]), "[budget] max_abs_error of zkml.toml"
    for path in (Layout(workspace).tuned, Path(config.root) / "tuned.json" if config.root else None):
        if path is not None and path.is_file():
            value = json.loads(path.read_text()).get("budget", {}).get("max_abs_error")
            if isinstance(value, int | float):
                return float(value), f"the budget zkml tune recorded in {path.name} ({path.parent.name})"
    return halo2_error, "none declared: halo2's own held-out max abs error"


def halo2_row(pipeline: Any, summary: RunSummary, verify_gas: int, verifier: str) -> BackendRow:
    """halo2's row of the frontier, from the run itself (see the module docstring)."""
    ws = pipeline.ws
    recorded = ws.stage("prove") or {}
    timing = summary.timing("prove")
    prove_s = float(recorded.get("seconds") or (timing.seconds if timing is not None else 0.0))
    fidelity = summary.fidelity.max_abs_error if summary.fidelity is not None else None
    key_bytes = Path(ws.pk).stat().st_size if Path(ws.pk).is_file() else None
    trust = f"universal: KZG SRS 2^{summary.logrows} ({summary.srs_provenance})"
    note = f"this run: held-out fidelity, prove s as recorded at proving, mined verify tx at {verifier}"
    return BackendRow("halo2", fidelity, round(max(prove_s, 1e-3), 3), verify_gas, key_bytes, trust, note)


def choose_for_run(
    pipeline: Any, summary: RunSummary, conn: Any, *, verify_gas: int, verifier: str, allow_unsafe_srs: bool
) -> BackendReport:
    """The frontier of this run's model, the backend ``[circuit] backend`` asks for or the objective picks, and why.

    Args:
        pipeline: the run's :class:`zkml.pipeline.Pipeline` (its workspace and config).
        summary: the run so far (halo2's fidelity, SRS, logrows).
        conn: the run's chain.
        verify_gas, verifier: the halo2 proof's mined verify gas and verifier address on ``conn``.

    Raises:
        ConfigError: nothing meets the fidelity budget, or a pinned backend could not be measured.
    """
    from zkml.circom.choose import choose_backend
    from zkml.circom.graph import ScaleSettings
    from zkml.circom.measure import circuit_source, measure_circom
    from zkml.circom.support import groth16_verdict

    ws, config = pipeline.ws, pipeline.config
    onnx_path, batch = circuit_source(Path(ws.root))
    rows = [halo2_row(pipeline, summary, verify_gas, verifier)]
    if batch > 1:  # no held-out fidelity in a batch workspace: each backend must give the halo2 batch circuit's outputs exactly
        rows[0] = replace(rows[0], max_abs_error=0.0, note=rows[0].note.replace("held-out fidelity", "error 0: its own outputs"))
    verdict = groth16_verdict(onnx_path, ScaleSettings.read(Path(ws.settings)))
    cached = False
    if verdict.ok:
        circom = measure_circom(
            ws.root, onnx_path, Path(ws.settings), Path(ws.input), Path(ws.fidelity) if batch == 1 else None, conn,
            allow_unsafe_srs=allow_unsafe_srs, batch_size=batch, halo2_proof=Path(ws.proof),
        )  # fmt: skip
        rows += circom.rows
        cached = circom.cached
    else:
        rows += [BackendRow(name, None, None, None, None, "", f"not measured: {verdict.reason}") for name in ("groth16", "plonk", "fflonk")]
    if batch > 1:
        budget, source = 0.0, f"batch-{batch}: the halo2 batch circuit's outputs, exactly (fidelity is the batch-1 circuit's)"
    else:
        budget, source = fidelity_budget(config, Path(ws.root), rows[0].max_abs_error or 0.0)
    pinned = next((r for r in rows if r.backend == config.backend and not r.measured), None)
    if pinned is not None:  # say why, not only that it was not measured
        from zkml.errors import ConfigError

        ptau = "powers of tau" in pinned.note
        raise ConfigError(
            f"backend = {config.backend!r}: {pinned.note or 'not measured'}",
            hint=("import a powers of tau (`zkml srs import-ptau`), or " if ptau else "")
            + 'set backend = "auto" to choose among the measured ones',
        )
    measured = [m for m in (row_measurement(r) for r in rows) if m is not None]
    choice = choose_backend(measured, max_abs_error=budget, requested=config.backend)
    reason = choice.reason + _left_out(rows)
    reason += " [circom measurements cached]" if cached else ""
    log.info("backend: %s", reason)
    # A circom system's verifier address is the one its demo deploys on this chain (zkml.circom.demo).
    address = verifier if choice.backend == "halo2" else ""
    return BackendReport(config.backend, choice.backend, reason, budget, source, tuple(rows), address, cached)


def _left_out(rows: list[BackendRow]) -> str:
    """``; not measured: plonk (why); fflonk (why)`` for the rows without numbers (one reason said once)."""
    why: dict[str, list[str]] = {}
    for row in rows:
        if not row.measured:
            why.setdefault(row.note.removeprefix("not measured: "), []).append(row.backend)
    parts = [f"{', '.join(names)} ({note})" for note, names in why.items()]
    return f"; not measured: {'; '.join(parts)}" if parts else ""


def row_measurement(row: BackendRow) -> Any:
    """The :class:`zkml.circom.choose.BackendMeasurement` of a measured row (None otherwise)."""
    from zkml.circom.choose import BackendMeasurement

    if row.max_abs_error is None or row.prove_s is None or row.verify_gas is None:
        return None
    return BackendMeasurement(row.backend, row.max_abs_error, row.prove_s, row.verify_gas)
