"""The halo2 (ezkl) rows of :mod:`benchmarks.backends`: measured through zkml's pipeline in the same run.

Per model, in a fresh workspace (nothing reused from an earlier run): ``zkml run``'s stages
(:func:`zkml.flow.run_pipeline`: export, calibrate with the circom rows' settings, compile, keys on
the development SRS, a proof of the example input, local verification, the EVM verifier compiled with
zkml's solc, plain or reusable + VKA over EIP-170 as zkml chooses, deployed on the run's anvil and sent
the proof), then the fidelity on the very samples the circom rows use (:func:`zkml.fidelity.measure_fidelity`
over all of them). A declared ``[consumer]`` is dropped (its oracle demo proves again and is no backend cost), and so
is ``[circuit] backend`` (``auto`` would measure the circom systems inside the halo2 run).

When a measurement fails, the row falls back to the committed results (:func:`cited_example`,
:func:`cited_corpus`) and its 'measured' cell says so, with the failure.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS

REASON_CHARS = 160


def short(exc: BaseException, limit: int = REASON_CHARS) -> str:
    """One line of an exception, table-safe."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return (text[: limit - 1] + "…" if len(text) > limit else text).replace("|", "/")


def jittered(inputs: list[list[float]], count: int) -> list[list[list[float]]]:
    """The input plus ``count`` samples jittered around it (seed 0), per sample a list per model input.

    The jitter runs over all inputs' values concatenated, so a one-input model's samples are exactly
    the rows the circom path evaluates (its input first).
    """
    import numpy as np

    sizes = [len(values) for values in inputs]
    rng = np.random.default_rng(0)
    base = np.asarray([v for values in inputs for v in values], dtype=np.float64)
    noise = rng.normal(size=(count, base.size)) * np.maximum(np.abs(base), 1.0) * 0.1
    rows = [base.tolist(), *(base + noise).tolist()]
    offsets = np.cumsum([0, *sizes]).tolist()
    return [[row[offsets[i] : offsets[i + 1]] for i in range(len(sizes))] for row in rows]


def write_samples_file(path: Path, samples: list[list[list[float]]]) -> Path:
    """Samples (each a list per model input) in ezkl's ``input_data`` format: per input, all samples' values flat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    per_input = [[v for sample in samples for v in sample[i]] for i in range(len(samples[0]))]
    path.write_text(json.dumps({"input_data": per_input}))
    return path


def _verifier_cell(onchain: Any) -> int | str:
    """The deployed verifier's runtime bytes (reusable: with the plain one's, as corpus.md shows them)."""
    if onchain.verifier_kind == "plain":
        return int(onchain.verifier_runtime_bytes)
    return f"{onchain.reusable_verifier_runtime_bytes:,} reusable (plain {onchain.verifier_runtime_bytes:,})"


def _settings_cell(settings: Any, note: str) -> str:
    """The settings a halo2 row was measured with, short: scales, logrows, and how zkml chose them (tuned, default, searched)."""
    scales = "/".join(str(v) for v in settings.input_scales)
    scale = scales if [settings.param_scale] == list(settings.input_scales) else f"{scales or '-'}, params {settings.param_scale}"
    return f"scale {scale}, logrows {settings.logrows}, {note.split(' (')[0] or 'zkml'} settings"


def measure(config: Any, root: Path, samples_path: Path, conn: Any, *, circom: bool = False) -> dict[str, Any]:
    """zkml's halo2 path on one model, from scratch in ``root``: the row's measured cells.

    ``circom``: the circom path takes the model, so halo2 is calibrated as ``zkml run`` does for
    ``backend = "auto"`` (a rebase after every product): both backends then prove the same integers.

    Raises:
        ZkmlError (or any failure of ezkl, solc or the chain): the caller cites the committed figures instead.
    """
    from dataclasses import replace

    from zkml.data import read_samples
    from zkml.fidelity import measure_fidelity
    from zkml.flow import run_pipeline
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    shutil.rmtree(root, ignore_errors=True)  # measured from scratch: nothing reused from an earlier run
    # halo2 alone: no oracle demo (it proves again) and no `backend = "auto"` frontier (this benchmark measures circom itself).
    pipeline = Pipeline(replace(config, consumer=None, backend="auto" if circom else "halo2"), Workspace(root))
    summary = run_pipeline(pipeline, chain=True, rpc_url=conn.url, choose_backend=False)
    if not summary.verified or summary.onchain is None:
        raise RuntimeError(f"the halo2 proof was not verified: {summary.verify_reason}")
    seconds = {t.stage: t.seconds for t in summary.timings if not t.reused}
    model, circuit = pipeline.export(), pipeline.compile()
    samples = read_samples(samples_path, model.inputs)
    started = time.perf_counter()
    fidelity, _, _ = measure_fidelity(model, circuit, samples, classifier=config.task == "classification", limit=samples.count)
    seconds["fidelity_all_samples"] = time.perf_counter() - started
    onchain, settings = summary.onchain, circuit.settings
    return {
        "proved_by_zkml": True,
        "fidelity": float(f"{fidelity.max_abs_error:.3g}"),
        "samples": fidelity.samples,
        "prove_s": round(seconds["prove"], 2),
        "setup_s": round(seconds.get("keys", 0.0), 2),
        "stage_s": {stage: round(value, 2) for stage, value in seconds.items()},
        "key_bytes": pipeline.keys().pk_path.stat().st_size,
        "verifier_bytes": _verifier_cell(onchain),
        "verify_gas": onchain.verify_gas if onchain.accepted else f"refused on-chain: {summary.verify_reason}",
        "verifier_kind": onchain.verifier_kind,
        "logrows": settings.logrows,
        "input_scales": list(settings.input_scales),
        "param_scale": settings.param_scale,
        "settings_note": pipeline.settings_note.get("settings", ""),
        "measured": f"this run ({_settings_cell(settings, pipeline.settings_note.get('settings', ''))})",
    }


def measured_or_cited(
    config: Any, root: Path, samples_path: Path, conn: Any, cited: dict[str, Any], *, circom: bool = False
) -> dict[str, Any]:
    """:func:`measure`, or on failure the committed figures with the failure in the 'measured' cell; its wall time in ``wall_s``.

    ``proved_by_zkml`` says whether zkml proved the model (measured now, or per the committed results).
    """
    started = time.perf_counter()
    try:
        row = measure(config, root, samples_path, conn, circom=circom)
    except Exception as exc:  # noqa: BLE001  (the row says what failed; the run goes on)
        row = {**cited, "measured": f"{cited.get('measured', 'cited')}; halo2 measurement failed: {short(exc)}"}
    return {**row, "wall_s": round(time.perf_counter() - started, 1)}


def cited_tables() -> dict[str, dict[str, dict[str, Any]]]:
    """The committed halo2 figures: evm_gas (plain verifier), tune_all (tuned prove s) and corpus rows, by model."""
    evm = {r["circuit"]: r for r in json.loads((RESULTS / "evm_gas.json").read_text())["rows"] if r.get("verifier") == "plain"}
    tune = {r["circuit"]: r for r in json.loads((RESULTS / "tune_all.json").read_text())["rows"]}
    corpus = {r["model"]: r for r in json.loads((RESULTS / "corpus.json").read_text())["rows"]}
    return {"evm": evm, "tune": tune, "corpus": corpus}


def cited_example(circuit: str, tuned: dict[str, Any], cited: dict[str, Any]) -> dict[str, Any]:
    """An example circuit's committed halo2 figures: tuned.json (held-out fidelity), tune_all, evm_gas."""
    evm, tune = cited["evm"].get(circuit, {}), cited["tune"].get(circuit, {})
    return {
        "fidelity": float(f"{tuned['fidelity']['max_abs_error']:.3g}"),
        "samples": tuned["fidelity"].get("samples", ""),
        "prove_s": tune.get("tuned_prove_seconds", ""),
        "verifier_bytes": evm.get("runtime_bytes", ""),
        "verify_gas": evm.get("verify_gas", ""),
        "measured": "cited: tuned.json, tune_all, evm_gas",
    }


def cited_corpus(name: str, cited: dict[str, Any]) -> dict[str, Any]:
    """A corpus model's committed halo2 figures (corpus.json: zkml's default settings, not scale 13)."""
    row = cited["corpus"].get(name, {})
    return {
        "proved_by_zkml": bool(row.get("zkml_ok")),
        "fidelity": row.get("fidelity", ""),
        "samples": "generated (corpus.md)",
        "prove_s": row.get("prove_s_tuned") or row.get("prove_s", ""),
        "verifier_bytes": row.get("verifier_bytes", ""),
        "verify_gas": row.get("verify_gas", ""),
        "measured": f"cited: corpus.json ({row.get('measured_on', '')})",
    }
