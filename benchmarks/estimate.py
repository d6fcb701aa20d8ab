"""Estimated against measured cost, on every example circuit and every proved corpus model (default and tuned settings).

``measure`` gets each variant's settings and compiled circuit (examples:
calibrated and compiled here; corpus models: copied from the corpus run's
workspace ``build/corpus/<name>`` and its ``zkml tune`` candidates, or made
again with the same pipeline when missing), sets up keys and proves in child
processes (:func:`zkml.tune.measure.measure_proving`: seconds, the child's own
peak RSS, proving-key bytes), then deploys the plain verifier to a local anvil
without the EIP-170 size limit and sends the proof (verify gas), merging the
rows into ``results/estimate_measurements.json`` (a model's rows are replaced,
not duplicated). ``python -m benchmarks.estimate_fit`` fits
``zkml/estimate_model.json`` to those rows; ``report`` compares the committed
model's estimates with the measurements (in-sample) and, more honestly, the
estimates of a model refitted without the model being estimated (leave one
model out), and writes ``results/estimate.md``/``.json``.

    .venv/bin/python -m benchmarks.estimate measure                   # every example and proved corpus model
    .venv/bin/python -m benchmarks.estimate measure --examples        # the examples only
    .venv/bin/python -m benchmarks.estimate measure --corpus          # the corpus models zkml proves
    .venv/bin/python -m benchmarks.estimate measure hb_gbdt mlp_regressor   # these (example or corpus names)
    .venv/bin/python -m benchmarks.estimate_fit
    .venv/bin/python -m benchmarks.estimate report
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import CIRCUITS, RESULTS, machine, write_results
from benchmarks.estimate_fit import MEASUREMENTS, QUANTITIES, compare, counts

BUILD = Path("build/estimate")
CORPUS_BUILD = Path("build/corpus")  # benchmarks.corpus's workspaces (and models/ with the generated ONNX)
# Extra points for the fit: the tuned mlp_regressor with logrows pinned higher (same columns, more rows).
EXTRA_LOGROWS = {"mlp_regressor": (12, 14, 16)}
# Settings keys not worth keeping in the measurement rows.
DROPPED_SETTINGS = ("timestamp", "version", "input_types", "output_types")


@dataclass(frozen=True)
class Variant:
    """One circuit to measure: a model under one choice of settings, ready to set up and prove."""

    circuit: str
    source: str  # example | corpus
    label: str  # default | tuned | tuned, logrows N
    work: Path
    settings: Path
    compiled: Path
    input: Path
    origin: str  # where its settings came from


def settings_record(path: Path) -> dict[str, Any]:
    """The settings file as JSON, without what does not bear on cost (einsum equations, timestamps)."""
    data: dict[str, Any] = json.loads(Path(path).read_text())
    for key in DROPPED_SETTINGS:
        data.pop(key, None)
    einsum = data.get("einsum_params")
    if isinstance(einsum, dict):
        data["einsum_params"] = {k: v for k, v in einsum.items() if k != "equations"} | {"equations": len(einsum.get("equations", []))}
    return data


# -- examples --------------------------------------------------------------------------------


def _example_settings(config: Any) -> list[tuple[str, Any]]:
    """(label, circuit settings) to measure for one example circuit."""
    from zkml.tune.pinned import find_tuned

    variants = [("default", config.circuit)]
    tuned = find_tuned(config, Path("/nonexistent"), BUILD / config.name / "model.onnx")
    if tuned is not None:
        variants.append(("tuned", config.with_circuit(**tuned.pinned).circuit))
        for logrows in EXTRA_LOGROWS.get(config.name, ()):
            if logrows != tuned.logrows:
                variants.append((f"tuned, logrows {logrows}", config.with_circuit(**{**tuned.pinned, "logrows": logrows}).circuit))
    return variants


def example_variants(name: str) -> Iterator[Variant]:
    """Each variant of an example circuit, calibrated and compiled (lazily: one at a time)."""
    from zkml.calibrate import calibrate
    from zkml.circuit import compile_circuit
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = load_config(CIRCUITS / name)
    model = Pipeline(config, Workspace(BUILD / name)).export()
    assert config.calibration is not None and config.input is not None
    for label, circuit in _example_settings(config):
        work = BUILD / name / _folder(label)
        work.mkdir(parents=True, exist_ok=True)
        settings = calibrate(model, config.calibration, work / "settings.json", circuit)
        compiled = compile_circuit(model, settings, work / "model.compiled")
        yield Variant(name, "example", label, work, settings.path, compiled.path, config.input, "calibrated here")


# -- corpus ----------------------------------------------------------------------------------


def corpus_proved() -> list[str]:
    """The corpus models zkml proved in the last corpus run (``results/corpus.json``), in corpus order."""
    path = RESULTS / "corpus.json"
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []
    return [row["model"] for row in rows if row.get("zkml_ok")]


def _corpus_row(name: str) -> dict[str, Any]:
    path = RESULTS / "corpus.json"
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []
    return next((row for row in rows if row["model"] == name), {})


def _corpus_model(name: str) -> tuple[Path, Path]:
    """The corpus model's ``network.onnx`` and ``input.json`` (built again with its builder when missing)."""
    from tests.corpus.models import by_name

    folder = CORPUS_BUILD / "models" / name
    if not (folder / "network.onnx").is_file() or not (folder / "input.json").is_file():
        by_name(name).write(folder)
    return (folder / "network.onnx").resolve(), (folder / "input.json").resolve()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copied(name: str, label: str, settings: Path, origin: str, input_path: Path) -> Variant:
    """A variant made of a settings file and the compiled circuit beside it, copied (the corpus may be re-run meanwhile)."""
    work = BUILD / "corpus" / name / _folder(label)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings, work / "settings.json")
    shutil.copyfile(settings.parent / "model.compiled", work / "model.compiled")
    return Variant(name, "corpus", label, work, work / "settings.json", work / "model.compiled", input_path, origin)


def _built(name: str, label: str, onnx_path: Path, input_path: Path, pinned: dict[str, Any]) -> Variant:
    """A variant calibrated and compiled by zkml's pipeline, as ``zkml run`` does (``pinned``: the tuned knobs)."""
    from dataclasses import replace

    from zkml.config import config_for_onnx
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = replace(config_for_onnx(onnx_path, input_path=input_path), name=name)
    if pinned:
        config = config.with_circuit(**pinned)
    work = BUILD / "corpus" / name / _folder(label)
    compiled = Pipeline(config, Workspace(work)).compile()
    return Variant(name, "corpus", label, work, compiled.settings.path, compiled.path, input_path, "pipeline here")


def _tuned_record(name: str, onnx_path: Path, input_path: Path) -> dict[str, Any] | None:
    """The corpus run's ``tuned.json`` for a model; ``zkml tune`` is run as the corpus does when there is none."""
    path = CORPUS_BUILD / name / "tuned.json"
    if not path.is_file():
        fidelity = _corpus_row(name).get("fidelity")
        if not fidelity:
            return None
        from benchmarks.corpus import run_tuned

        print(f"{name}: no tuned.json, running zkml tune as benchmarks.corpus does", flush=True)
        print(f"{name}: zkml tune: {run_tuned(onnx_path, input_path, float(fidelity))}", flush=True)
        if path.is_file():
            return {**json.loads(path.read_text()), "tuned_here": True}
    return json.loads(path.read_text()) if path.is_file() else None


def corpus_variants(name: str) -> Iterator[Variant]:
    """A corpus model under its default settings and under the settings ``zkml tune`` chose for it."""
    onnx_path, input_path = _corpus_model(name)
    workspace = CORPUS_BUILD / name
    tuned = _tuned_record(name, onnx_path, input_path)
    tuned_sha = (tuned or {}).get("settings_sha256")
    default = workspace / "settings.json"
    if default.is_file() and (workspace / "model.compiled").is_file() and _sha256(default) != tuned_sha:
        yield _copied(name, "default", default, "corpus run", input_path)
    else:
        yield _built(name, "default", onnx_path, input_path, {})
    if tuned is None:
        print(f"{name}: no tuned settings (zkml tune chose none); default only", flush=True)
        return
    candidates = [p for p in sorted(workspace.glob("tune/*/settings.json")) if (p.parent / "model.compiled").is_file()]
    match = next((p for p in candidates if _sha256(p) == tuned_sha), None)
    if match is not None:
        origin = "zkml tune run by this benchmark" if tuned.get("tuned_here") else "zkml tune candidate of the corpus run"
        yield _copied(name, "tuned", match, origin, input_path)
    else:
        pinned = {k: v for k, v in tuned["circuit"].items() if v is not None}
        yield _built(name, "tuned", onnx_path, input_path, pinned)


# -- measuring -------------------------------------------------------------------------------


def wait_for_quiet(max_load: float, timeout: float) -> None:
    """Wait (at most ``timeout`` seconds) until the 1-minute load average is under ``max_load``: other jobs inflate timings."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)


def measure_variant(variant: Variant, conn: Any) -> dict[str, Any]:
    """Set up, prove (fastest of 2) and verify on chain one variant; its measurement row."""
    from zkml.estimate import available_memory
    from zkml.settings import read_cost_shape
    from zkml.srs import resolve_srs
    from zkml.tune.measure import discard_proving_files, measure_proving
    from zkml.tune.onchain import measure_onchain

    load_before = os.getloadavg()[0]
    srs = resolve_srs(read_cost_shape(variant.settings).logrows)
    measured = measure_proving(variant.compiled, variant.settings, srs.path, variant.input, variant.work, repeats=2)
    cost = measure_onchain(variant.work, variant.settings, srs.path, conn)
    discard_proving_files(variant.work)
    row = {
        "circuit": variant.circuit,
        "source": variant.source,
        "variant": variant.label,
        "origin": variant.origin,
        "shape": asdict(read_cost_shape(variant.settings)),
        "settings": settings_record(variant.settings),
        **{k: measured[k] for k in ("setup_seconds", "prove_seconds", "setup_peak_rss_bytes", "prove_peak_rss_bytes", "pk_bytes")},
        "verify_gas": cost.verify_gas,
        "verifier_runtime_bytes": cost.runtime_bytes,
        "over_eip170": cost.over_eip170,
        "available_bytes": available_memory(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if variant.source == "corpus" and variant.label == "default":
        corpus = _corpus_row(variant.circuit)
        row["corpus_verify_gas"] = corpus.get("verify_gas")
        row["corpus_verifier"] = "reusable + VKA" if "reusable" in str(corpus.get("zkml", "")) else "plain"
    return row


def _folder(label: str) -> str:
    return label.replace(", ", "-").replace(" ", "")


def _load_rows() -> list[dict[str, Any]]:
    return list(json.loads(MEASUREMENTS.read_text())["rows"]) if MEASUREMENTS.is_file() else []


def merge_rows(old: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with every circuit in ``fresh`` replaced by its fresh rows (in place of the first old one, else at the end)."""
    names = {row["circuit"] for row in fresh}
    out: list[dict[str, Any]] = []
    placed: set[str] = set()
    for row in old:
        name = row["circuit"]
        if name not in names:
            out.append(row)
        elif name not in placed:
            out.extend(r for r in fresh if r["circuit"] == name)
            placed.add(name)
    out.extend(r for r in fresh if r["circuit"] not in placed)
    return out


def measure(examples: list[str], corpus: list[str], *, max_load: float | None = None, wait: float = 300) -> None:
    """Measure each model's variants; each model's rows are merged into the measurements file as soon as it is done.

    ``max_load``: before each variant, wait up to ``wait`` seconds for the load average to drop under it.
    """
    from zkml.tune.onchain import measuring_chain

    jobs = [(name, example_variants) for name in examples] + [(name, corpus_variants) for name in corpus]
    failed = []
    with measuring_chain() as conn:
        for name, variants in jobs:
            rows = []
            try:
                for variant in variants(name):
                    if max_load is not None:
                        wait_for_quiet(max_load, wait)
                    rows.append(measure_variant(variant, conn))
                    print(f"{name} {variant.label}: {_brief(rows[-1])}", flush=True)
            except Exception as exc:  # one model failing must not lose the others' rows
                failed.append(name)
                print(f"{name}: FAILED {type(exc).__name__}: {exc}", flush=True)
            if rows:
                MEASUREMENTS.write_text(json.dumps({"machine": machine(), "rows": merge_rows(_load_rows(), rows)}, indent=2) + "\n")
    if failed:
        print(f"failed: {' '.join(failed)}", flush=True)


def _brief(row: dict[str, Any]) -> str:
    mb = 2**20
    return (
        f"logrows {row['shape']['logrows']}, setup {row['setup_peak_rss_bytes'] / mb:.0f} MB, prove {row['prove_peak_rss_bytes'] / mb:.0f} MB, "
        f"{row['prove_seconds']:.2f} s, pk {row['pk_bytes'] / mb:.0f} MB, gas {row['verify_gas']}, load {row['load_average']}"
    )


# -- report ----------------------------------------------------------------------------------

COLUMNS = [
    ("circuit", "model"),
    ("source", "source"),
    ("variant", "settings"),
    ("logrows", "logrows"),
    ("setup_peak", "setup peak MB"),
    ("prove_peak", "prove peak MB"),
    ("prove_s", "prove s"),
    ("pk", "pk MB"),
    ("gas", "verify gas"),
    ("ok_loo", "within target (LOO)"),
]
NOTES = (
    "Each cell: measured / estimated by the committed model (fitted on all these rows: in-sample) / estimated by a "
    "model refitted without that model's rows (leave one model out, opset twins such as torch_mlp_op11 and "
    "torch_mlp_op17 left out together: the honest out-of-sample figure). Memory in MB is the child process's own "
    "peak RSS (VmHWM, includes Python and ezkl); pk is the proving-key file. Corpus models are measured on the "
    "settings `zkml run` calibrated (default) and the ones `zkml tune` chose (tuned), copied from the corpus run. "
    "Verify gas is that of the plain verifier on a local anvil without the EIP-170 limit, also for the recurrent and "
    "attention models whose plain verifier is over 24,576 bytes (mainnet needs the reusable verifier + VKA there, "
    "which the corpus run used: its gas is in estimate_measurements.json as corpus_verify_gas). Timings are the "
    "fastest of 2 runs on 2 cores shared with other jobs; the 1-minute load average when each row was measured is "
    "in estimate.json."
)

# What the model leaves out, in words (the numbers above are computed).
LIMITS = (
    "What the model does not see. (1) Selector columns: halo2 compresses the circuit's simple selectors into fixed "
    "columns, merging those never on in the same row, so how many columns they take depends on where the layout uses "
    "each gate, which the settings do not record. The einsum (Freivalds) chip adds many selectors; in the recurrent "
    "models they merge into a column or two, in the attention models (einsum chip and shuffles together) into many "
    "more (their proving keys hold about 19 more columns than the features predict), so the attention models are the "
    "most underestimated rows (their ratios are in the table), in-sample as well as left out. The fit "
    "is least squares on relative error, then scaled by the one factor that centres the worst under- and "
    "over-estimate (benchmarks/estimate_fit.py), since the contract is a bound on the ratio. (2) The extended-domain factor E comes from ezkl 23's constraint degree (zkml/estimate.py) "
    "and is borne out by the key sizes: a proving key is 32 bytes x n x ((2 + E) x (fixed + permutation columns) + 3E), "
    "which gives a whole number of columns for every measured row only with these E. No measured row has degree 10 "
    "or more (E = 16: eight or more inner columns, or a table split over six or more columns), so there the model "
    "extrapolates. (3) Prove seconds move with the machine's load (the 1-minute load average during each row is in "
    "estimate.json): the corpus rows were measured with `measure --max-load`, and those during which other jobs ran "
    "were measured again."
)


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value / 2**20:.0f}"


def _cell(c: dict[str, Any], key: str) -> str:
    fmt = {"prove_s": lambda v: "" if v is None else f"{v:.2f}", "gas": lambda v: "n/a" if v is None else str(v)}.get(key, _mb)
    return " / ".join(fmt(c[f"{key}_{kind}"]) for kind in ("measured", "fit", "loo"))


def summary_table(compared: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: per quantity, rows within target (in-sample and LOO) for examples, corpus and all."""
    groups = [("examples", [c for c in compared if c["source"] == "example"]), ("corpus", [c for c in compared if c["source"] == "corpus"])]
    groups.append(("all", compared))
    header = ["quantity", "target"] + [f"{name} {kind}" for name, _ in groups for kind in ("in-sample", "LOO")] + ["worst LOO ratio"]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for key, (_, _, factor, label) in QUANTITIES.items():
        cells = [label, f"within {factor}x"]
        for _, rows in groups:
            for kind in ("fit", "loo"):
                ok, total, _ = counts(rows, key, kind)
                cells.append(f"{ok}/{total}")
        cells.append(str(counts(compared, key, "loo")[2]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def misses(compared: list[dict[str, Any]]) -> list[str]:
    """Markdown bullets: every memory or time estimate outside its target when the model is left out."""
    out = []
    for c in compared:
        for key in ("setup_peak", "prove_peak", "prove_s"):
            if c[f"{key}_loo_ok"] is False:
                label = QUANTITIES[key][3]
                load = c["load_average"]
                out.append(
                    f"- {c['circuit']} ({c['variant']}): {label} estimated {c[f'{key}_loo_ratio']}x the measurement"
                    + (f" (1-minute load average {load[0]} to {load[1]} while measured)" if load else "")
                )
    return out or ["- none"]


def provenance(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: corpus models measured without tuned settings, and tuned settings chosen by this benchmark's own tune run."""
    corpus = [r for r in rows if r.get("source") == "corpus"]
    default_only = sorted({r["circuit"] for r in corpus} - {r["circuit"] for r in corpus if r["variant"] == "tuned"})
    tuned_here = sorted(r["circuit"] for r in corpus if r["variant"] == "tuned" and "this benchmark" in str(r.get("origin")))
    return [
        f"Corpus models: {len({r['circuit'] for r in corpus})}. Default settings only (`zkml tune` gave no settings: "
        f"its error is in corpus.md): {', '.join(default_only) or 'none'}. Tuned settings from a `zkml tune` run by this "
        f"benchmark (the corpus run's tune gave none): {', '.join(tuned_here) or 'none'}."
    ]


def report() -> None:
    """Write ``results/estimate.md``/``.json``: every measured row against its estimates, and the counts within target."""
    from zkml.estimate import load_model

    data = json.loads(MEASUREMENTS.read_text())
    compared = compare(data["rows"], load_model())
    table = [
        {
            **{k: c[k] for k in ("circuit", "source", "variant", "logrows")},
            **{key: _cell(c, key) for key in QUANTITIES},
            "ok_loo": " ".join(k for k in ("setup_peak", "prove_peak", "prove_s") if c[f"{k}_loo_ok"]) or "none",
        }
        for c in compared
    ]
    summary = summary_table(compared)
    lines = [NOTES, "", *summary, "", "Memory and time outside target, leave one model out:", "", *misses(compared), ""]
    notes = "\n".join([*lines, *provenance(data["rows"]), "", LIMITS])
    write_results("estimate", table, COLUMNS, "Estimated vs measured cost (zkml estimate)", notes)
    payload = json.loads((RESULTS / "estimate.json").read_text())
    payload.update({"compared": compared, "summary": summary, "measured_on": data.get("machine")})
    (RESULTS / "estimate.json").write_text(json.dumps(payload, indent=2) + "\n")
    print("\n".join(summary))
    print("\n".join(misses(compared)))


def _examples() -> list[str]:
    return sorted(p.parent.name for p in CIRCUITS.glob("*/zkml.toml"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("measure", "report"))
    parser.add_argument("names", nargs="*", help="example circuits (circuits/) or corpus models to measure (default: all)")
    parser.add_argument("--examples", action="store_true", help="every example circuit")
    parser.add_argument("--corpus", action="store_true", help="every corpus model zkml proves (results/corpus.json)")
    parser.add_argument("--max-load", type=float, help="before each variant, wait for the 1-minute load average to drop under this")
    parser.add_argument("--wait", type=float, default=300, help="longest wait for --max-load, seconds (then measure anyway)")
    args = parser.parse_args()
    if args.action == "report":
        report()
        return
    every = not (args.names or args.examples or args.corpus)
    examples = [n for n in _examples() if n in args.names or args.examples or every]
    corpus = [n for n in corpus_proved() if args.corpus or every]
    corpus += [n for n in args.names if n not in examples and n not in corpus]
    measure(examples, corpus, max_load=args.max_load, wait=args.wait)


if __name__ == "__main__":
    main()
