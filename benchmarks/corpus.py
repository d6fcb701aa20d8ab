"""The corpus benchmark: every model of tests/corpus through zkml (to on-chain verification) and through bare ezkl.

For each model of :func:`tests.corpus.models.corpus` this writes one row of
``benchmarks/results/corpus.md`` (+ ``.json``): its ops, the float reference's
evaluator, logrows, prove seconds, verify gas, verifier bytes and fidelity
under ``zkml run`` (local anvil), or the refusal and its reason; and whether
bare ezkl (gen_settings, calibrate_settings on the one input, compile, setup,
prove, verify: what a new user runs) proves it, and how far its output is from
the float model's.

Run: ``.venv/bin/python -m benchmarks.corpus [--only NAME ...]`` from the repo root.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks.common import write_results

BUILD = Path("build") / "corpus"
TUNED_NOTE = "not run"
TUNE_TIMEOUT_S = 600

COLUMNS = [
    ("model", "model"),
    ("family", "family"),
    ("ops", "ops"),
    ("evaluator", "reference evaluator"),
    ("logrows", "logrows default"),
    ("logrows_tuned", "logrows tuned"),
    ("prove_s", "prove s"),
    ("prove_s_tuned", "prove s tuned"),
    ("verify_gas", "verify gas"),
    ("verifier_bytes", "verifier bytes"),
    ("fidelity", "fidelity (max abs err)"),
    ("zkml", "zkml"),
    ("ezkl", "bare ezkl"),
    ("ezkl_error", "bare ezkl max abs err"),
]


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return (text[: limit - 1] + "…" if len(text) > limit else text).replace("|", "/")


def _ops(onnx_path: Path) -> str:
    import onnx

    proto = onnx.load(str(onnx_path))
    names = sorted({n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in proto.graph.node})
    return ", ".join(names)


def run_zkml(onnx_path: Path, input_path: Path, rpc_url: str) -> dict[str, Any]:
    """``zkml run`` on one model (chain included); the row's zkml cells."""
    from dataclasses import replace

    from zkml.config import config_for_onnx
    from zkml.errors import ZkmlError
    from zkml.flow import run_pipeline
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace, workspace_name

    config = replace(config_for_onnx(onnx_path, input_path=input_path), name=workspace_name(onnx_path))
    root = BUILD / config.name
    shutil.rmtree(root, ignore_errors=True)  # measured from scratch: nothing reused
    pipeline = Pipeline(config, Workspace(root))
    row: dict[str, Any] = {}
    try:
        summary = run_pipeline(pipeline, chain=True, rpc_url=rpc_url)
    except ZkmlError as exc:
        row["evaluator"] = _evaluator(root)
        row["zkml"] = f"refused: {_short(exc)}"
        return row
    extra = {**summary.extra, **(summary.onchain.as_dict() if summary.onchain else {})}
    prove = [t.seconds for t in summary.timings if t.stage == "prove" and not t.reused]
    row.update(
        {
            "evaluator": extra.get("reference_evaluator", ""),
            "logrows": summary.logrows,
            "prove_s": round(prove[-1], 2) if prove else "",
            "verify_gas": extra.get("verify_gas", ""),
            "verifier_bytes": _verifier_bytes(extra),
            "fidelity": f"{summary.fidelity.max_abs_error:.3g}" if summary.fidelity else "",
        }
    )
    local = "verified" if summary.verified else f"not verified ({summary.verify_reason})"
    chain = "accepted on-chain" if extra.get("onchain_accepted") else "not on-chain"
    kind = " (reusable verifier + VKA)" if extra.get("verifier_kind") else ""
    row["zkml"] = f"proved, {local}, {chain}{kind}" + _export_notes(extra.get("rewrites") or ())
    row["zkml_ok"] = bool(summary.verified and extra.get("onchain_accepted"))
    return row


def _export_notes(notes: Any) -> str:
    """What the export folded and rewrote, for the zkml cell (empty when it took the graph as given)."""
    from zkml.rewrite.fold import NOTE_PREFIX

    folded = [note for note in notes if note.startswith(NOTE_PREFIX)]
    rewrote = sorted({note.split(": ", 1)[-1].split(" ->")[0] for note in notes if not note.startswith(NOTE_PREFIX)})
    parts = [f"export {note}" for note in folded] + ([f"export rewrote {', '.join(rewrote)}"] if rewrote else [])
    return "".join(f"; {part}" for part in parts)


def _verifier_bytes(extra: dict[str, Any]) -> str:
    """The deployed verifier's runtime bytes; for a fallback, the plain verifier's too."""
    plain = extra.get("verifier_runtime_bytes")
    reusable = extra.get("reusable_verifier_runtime_bytes")
    if reusable:
        return f"{reusable:,} reusable (plain {plain:,})"
    return f"{plain:,}" if isinstance(plain, int) else ""


def run_tuned(onnx_path: Path, input_path: Path, budget: float) -> dict[str, Any]:
    """``zkml tune`` on one model with the default calibration's own error as the budget; the tuned cells.

    Runs the CLI (a subprocess), as a user would, into the model's workspace;
    its held-out data is generated around the one input (the tuner says so).
    """
    import subprocess
    import sys

    from zkml.workspace import workspace_name

    command = [sys.executable, "-m", "zkml_cli.main", "tune", str(onnx_path), "--input", str(input_path), "--build-dir", str(BUILD)]
    tuned = BUILD / workspace_name(onnx_path) / "tuned.json"
    note = ""
    for attempt in ([*command, "--max-abs-error", f"{budget:.6g}"], command):
        tuned.unlink(missing_ok=True)
        try:
            done = subprocess.run(attempt, capture_output=True, text=True, timeout=TUNE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return {"logrows_tuned": f"tune timed out ({TUNE_TIMEOUT_S} s)"}
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        # E comes from zkml run's fidelity samples; the tuner measures on its own generated ones, where
        # even ezkl's default may miss E. Then the budget is the tuner's own: no worse than that default.
        if done.returncode == 0 or "no configuration met the budget" not in last or attempt is command:
            break
        note = "E missed by every candidate, ezkl's default included, on the tuner's generated data"
    if done.returncode != 0 or not tuned.is_file():
        return {"logrows_tuned": f"tune: {_short(RuntimeError(last), 120)}"}
    record = json.loads(tuned.read_text())
    row = {"logrows_tuned": int(record["circuit"]["logrows"]), "prove_s_tuned": round(float(record["prove_seconds"]), 2)}
    return {**row, "tuned_budget": note} if note else row


def _evaluator(root: Path) -> str:
    reference = root / "reference.json"
    if reference.is_file():
        return str(json.loads(reference.read_text()).get("evaluator", ""))
    return ""


def run_bare_ezkl(onnx_path: Path, input_path: Path) -> dict[str, Any]:
    """Bare ezkl with its defaults on one model; whether it proves and verifies, and its output error."""
    from zkml import _ezkl
    from zkml.srs import resolve_srs

    with tempfile.TemporaryDirectory(prefix="corpus-ezkl-") as scratch:
        work = Path(scratch)
        paths = {name: str(work / name) for name in ("settings.json", "model.compiled", "witness.json", "pk.key", "vk.key", "proof.json")}
        try:
            _ezkl.call("gen_settings", str(onnx_path), paths["settings.json"])
            _ezkl.call("calibrate_settings", str(input_path), str(onnx_path), paths["settings.json"], "resources")
            _ezkl.call("compile_circuit", str(onnx_path), paths["model.compiled"], paths["settings.json"])
            witness = _ezkl.call("gen_witness", str(input_path), paths["model.compiled"], paths["witness.json"])
            settings = json.loads(Path(paths["settings.json"]).read_text())
            srs = resolve_srs(int(settings["run_args"]["logrows"])).path
            _ezkl.call("setup", paths["model.compiled"], paths["vk.key"], paths["pk.key"], str(srs))
            start = time.perf_counter()
            _ezkl.call("prove", paths["witness.json"], paths["model.compiled"], paths["pk.key"], paths["proof.json"], str(srs))
            seconds = time.perf_counter() - start
            verified = _ezkl.call("verify", paths["proof.json"], paths["settings.json"], paths["vk.key"], str(srs))
        except Exception as exc:
            return {"ezkl": f"fails: {_short(exc)}", "ezkl_ok": False}
        outputs = _decode(witness, settings)
    return {
        "ezkl": f"proves ({'verified' if verified else 'NOT verified'}), logrows {settings['run_args']['logrows']}, {seconds:.2f} s",
        "ezkl_ok": bool(verified),
        "ezkl_outputs": outputs,
    }


def _decode(witness: dict[str, Any], settings: dict[str, Any]) -> list[float]:
    from zkml import _ezkl

    scales = settings["model_output_scales"]
    return [_ezkl.felt_to_float(felt, scales[min(i, len(scales) - 1)]) for i, felts in enumerate(witness["outputs"]) for felt in felts]


def _float_outputs(onnx_path: Path, input_path: Path) -> list[float]:
    from zkml.data import read_samples
    from zkml.export import evaluate_float, inspect_onnx

    with tempfile.TemporaryDirectory(prefix="corpus-float-") as scratch:
        from zkml.export import export_model

        model = export_model(onnx_path, Path(scratch) / "m.onnx")
        model = inspect_onnx(model.path)
        result = evaluate_float(model, read_samples(input_path, model.inputs))
    return [float(v) for array in result.arrays for v in array.reshape(-1)]


def bench_model(entry: Any, folder: Path, rpc_url: str) -> dict[str, Any]:
    """One row: build the model, run zkml and bare ezkl on it."""
    from benchmarks.common import machine

    row: dict[str, Any] = {"model": entry.name, "family": entry.family, "expect": entry.expect, "logrows_tuned": TUNED_NOTE}
    row["measured_on"] = _measured_on(machine())
    try:
        onnx_path, input_path = entry.write(folder / entry.name)
    except Exception as exc:
        row["zkml"] = f"not built: {_short(exc)}"
        return row
    row["ops"] = _ops(onnx_path)
    row.update(run_zkml(onnx_path.resolve(), input_path.resolve(), rpc_url))
    if row.get("zkml_ok") and row.get("fidelity"):
        row.update(run_tuned(onnx_path.resolve(), input_path.resolve(), float(row["fidelity"])))
    bare = run_bare_ezkl(onnx_path.resolve(), input_path.resolve())
    outputs = bare.pop("ezkl_outputs", None)
    row.update(bare)
    if outputs is not None:
        try:
            floats = _float_outputs(onnx_path, input_path)
            row["ezkl_error"] = f"{max(abs(a - b) for a, b in zip(outputs, floats, strict=True)):.3g}"
        except Exception as exc:
            row["ezkl_error"] = f"n/a ({_short(exc, 60)})"
    return row


def summarize(rows: list[dict[str, Any]]) -> str:
    """The must-show line: every model bare ezkl proves, zkml proves, verifies and gets accepted on-chain."""
    bare = [r["model"] for r in rows if r.get("ezkl_ok")]
    zk = [r["model"] for r in rows if r.get("zkml_ok")]
    missing = [m for m in bare if m not in zk]
    refused = [r for r in rows if str(r.get("zkml", "")).startswith("refused")]
    # A proof of a wrong output is no success: show bare ezkl's error where zkml refuses what bare ezkl proves.
    missing = [f"{m} (bare ezkl's output is off by {by['ezkl_error']})" if (by := _row(rows, m)).get("ezkl_error") else m for m in missing]
    tuned = [r for r in rows if isinstance(r.get("logrows_tuned"), int)]
    lines = [
        f"{len(rows)} models. Bare ezkl proves and verifies {len(bare)}; zkml proves, verifies locally and is accepted on-chain for {len(zk)}; "
        f"zkml refuses {len(refused)} (reasons in the table).",
        "Bare ezkl proves but zkml does not: " + (", ".join(missing) if missing else "none") + ".",
        "zkml proves but bare ezkl does not: " + (", ".join(m for m in zk if m not in bare) or "none") + ".",
        f"`zkml tune` chose settings for {len(tuned)} of the {len(zk)} proved models; 'not run' marks models it was not run on.",
    ]
    folded = [r["model"] for r in rows if "; export folded " in str(r.get("zkml", ""))]
    if folded:
        accepted = [m for m in folded if _row(rows, m).get("zkml_ok")]
        lines.append(
            f"Export folded what the graph computes from shapes and constants in {len(folded)} models ({', '.join(folded)}); "
            f"{len(accepted)} of them proved, verified locally and accepted on-chain."
        )
    relaxed = [f"{r['model']} ({r['tuned_budget']})" for r in tuned if r.get("tuned_budget")]
    if relaxed:
        lines.append("Tuned to `zkml tune`'s own budget (no worse than ezkl's default) instead of E: " + ", ".join(relaxed) + ".")
    machines = _machines_line(rows)
    return "\n\n".join([*lines, machines] if machines else lines)


def _merged(name: str, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The existing results' rows with ``fresh`` ones replacing those of the same model (corpus order kept)."""
    from benchmarks.common import RESULTS

    path = RESULTS / f"{name}.json"
    previous = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    old = previous["rows"]
    for row in old:  # rows kept from an earlier run say where they were measured
        row.setdefault("measured_on", _measured_on(previous.get("machine") or {}))
    by_model = {row["model"]: row for row in old} | {row["model"]: row for row in fresh}
    order = [row["model"] for row in old] + [row["model"] for row in fresh if row["model"] not in {r["model"] for r in old}]
    return [by_model[model] for model in order]


def _measured_on(info: dict[str, Any]) -> str:
    return f"{info.get('cpu', '?')}, {info.get('date', '?')}"


def _machines_line(rows: list[dict[str, Any]]) -> str | None:
    """Where the rows were measured, when a merge mixed runs on several machines or days (else None)."""
    by_machine: dict[str, list[str]] = {}
    for row in rows:
        by_machine.setdefault(str(row.get("measured_on", "?")), []).append(row["model"])
    if len(by_machine) < 2:
        return None
    most = max(by_machine, key=lambda machine: len(by_machine[machine]))
    rest = "; ".join(f"{machine}: {', '.join(models)}" for machine, models in by_machine.items() if machine != most)
    return f"Rows measured on {most} ({len(by_machine[most])} rows), except {rest}."


def _row(rows: list[dict[str, Any]], model: str) -> dict[str, Any]:
    return next(r for r in rows if r["model"] == model)


def main(argv: list[str] | None = None) -> None:
    from tests.corpus.models import corpus
    from zkml.evm.anvil import local_anvil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="model names to run (default: all)")
    parser.add_argument("--out", default="corpus", help="results name (benchmarks/results/NAME.md/.json)")
    parser.add_argument("--merge", action="store_true", help="replace only the --only models' rows in the existing results")
    parser.add_argument("--tune-pass", action="store_true", help="only run `zkml tune` on the proved models of the existing results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore")
    entries = [m for m in corpus() if not args.only or m.name in args.only]
    if args.tune_pass:
        _write(args.out, _tune_pass(args.out, {m.name for m in entries}))
        return
    rows = []
    folder = BUILD / "models"
    with local_anvil() as node:
        for entry in entries:
            if not entry.available():
                rows.append({"model": entry.name, "family": entry.family, "zkml": f"skipped: {entry.needs} is not installed"})
                continue
            start = time.perf_counter()
            rows.append(bench_model(entry, folder, node.url))
            logging.warning("%s: %s | %s (%.0f s)", entry.name, rows[-1].get("zkml"), rows[-1].get("ezkl"), time.perf_counter() - start)
    _write(args.out, _merged(args.out, rows) if args.merge else rows)


def _tune_pass(name: str, models: set[str]) -> list[dict[str, Any]]:
    """The existing rows, with the tuned cells measured now for each proved model in ``models``."""
    rows = _merged(name, [])
    for row in rows:
        if row["model"] in models and row.get("zkml_ok") and row.get("fidelity"):
            folder = BUILD / "models" / row["model"]
            row.update(run_tuned((folder / "network.onnx").resolve(), (folder / "input.json").resolve(), float(row["fidelity"])))
            logging.warning("%s: tuned %s, %s s", row["model"], row.get("logrows_tuned"), row.get("prove_s_tuned"))
    return rows


def _write(name: str, rows: list[dict[str, Any]]) -> None:
    notes = (
        "Each model: `zkml run network.onnx --input input.json` (defaults, local anvil, development SRS) and bare ezkl 23 "
        "(gen_settings, calibrate_settings on the one input with target 'resources', compile, setup, prove, verify). "
        "'bare ezkl max abs err' compares bare ezkl's witness outputs with the float model's on that input. "
        "Tuned: `zkml tune network.onnx --input input.json --max-abs-error E` with E = the default circuit's own max abs error "
        "(held-out data generated around the input); its logrows and the prove seconds the tuner measured for its choice. "
        "Prove seconds are wall time on 2 cores shared with other work, default and tuned measured in separate passes: "
        "compare them as orders of magnitude.\n\n" + summarize(rows)
    )
    write_results(name, rows, COLUMNS, "Corpus: zkml and bare ezkl on generated ONNX models", notes)


if __name__ == "__main__":
    main()
