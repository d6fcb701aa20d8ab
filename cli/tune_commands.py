"""Tuning commands: ``tune`` (cheapest settings within an accuracy budget) and ``report``.

Thin wrappers: parse options, call :func:`zkml.tune.tune` or
:func:`zkml.tune.report.write_report`, print. An unreachable budget is a
``BudgetUnreachableError`` (a ZkmlError): the root group prints it as one line
and exits non-zero, after this command has printed the best candidate found
and written the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from zkml_cli.options import Target, circuit_target, json_file, json_flag, write_json_output

if TYPE_CHECKING:
    from zkml.config import CircuitConfig
    from zkml.tune.budget import Budget
    from zkml.tune.candidates import TuneEvent


class _TuneProgress:
    """One line per tuning step on stderr (steps take seconds, so a line each is readable)."""

    def __call__(self, event: TuneEvent) -> None:
        counter = f"[{event.step}/{event.total}] " if event.total else (f"[{event.step}] " if event.step else "")
        click.echo(f"tune {event.phase:8} {counter}{event.message}", err=True)


def _budget(config: CircuitConfig, max_abs: float | None, max_rel: float | None, min_agreement: float | None) -> Budget | None:
    """The budget from the flags, else the circuit's [budget], else None (no worse than ezkl's calibration)."""
    from zkml.tune import Budget
    from zkml.tune.auto import declared_budget

    if max_abs is not None or max_rel is not None or min_agreement is not None:
        return Budget(max_abs_error=max_abs, max_rel_error=max_rel, min_agreement=min_agreement)
    return declared_budget(config)


@click.command("tune")
@circuit_target
@click.option("--max-abs-error", type=float, default=None, help="Budget: largest |circuit - float| on the held-out set.")
@click.option("--max-rel-error", type=float, default=None, help="Budget: largest |circuit - float| / max |float output|.")
@click.option("--min-agreement", type=float, default=None, help="Budget: smallest class agreement with the float model (0..1).")
@click.option("--finalists", type=int, default=2, show_default=True, help="How many candidates to prove for real.")
@click.option("--samples", type=int, default=128, show_default=True, help="Held-out samples to measure fidelity on (at most).")
@click.option(
    "--max-seconds", type=float, default=240.0, show_default=True, help="Stop searching after this long (finalists are still proved)."
)
@click.option("--prove-baseline", is_flag=True, help="Also prove ezkl's default calibration, to report the speed-up.")
@click.option(
    "--onchain/--no-onchain",
    default=True,
    show_default=True,
    help="Measure each proved candidate's verifier size and verify gas on a local anvil.",
)
@json_file
def tune_cmd(
    target: Target,
    max_abs_error: float | None,
    max_rel_error: float | None,
    min_agreement: float | None,
    finalists: int,
    samples: int,
    max_seconds: float,
    prove_baseline: bool,
    onchain: bool,
    json_path: Path | None,
) -> None:
    """Find the cheapest circuit settings that keep the accuracy budget on held-out data.

    Writes BUILD_DIR/<circuit>/tuned.json (the pinned settings), tune_candidates.json
    (every candidate) and the fidelity report (fidelity_report.png/.json).
    """
    from zkml.errors import BudgetUnreachableError
    from zkml.tune import tune
    from zkml.tune.report import write_report

    config = target.config
    budget = _budget(config, max_abs_error, max_rel_error, min_agreement)
    pipeline = target.pipeline()
    workspace = pipeline.ws
    wanted = budget.describe() if budget is not None else "no worse than ezkl's default calibration (no budget given)"
    click.echo(f"tuning {config.name} for {wanted}", err=True)
    try:
        result = tune(
            pipeline,
            budget,
            progress=_TuneProgress(),
            finalists=finalists,
            samples=samples,
            max_seconds=max_seconds,
            prove_baseline=prove_baseline,
            onchain=onchain,
        )
    except BudgetUnreachableError as exc:
        if exc.result is not None and exc.result.best is not None:
            click.echo(write_report(workspace.root, prefer=workspace.tune_fidelity.name).summary)
        raise
    report = write_report(workspace.root, prefer=workspace.tune_fidelity.name)
    chosen = result.chosen
    assert chosen is not None
    click.echo(result.message)
    click.echo(report.summary)
    click.echo("")
    click.echo(f"pinned settings  {json.dumps(chosen.pinned())}")
    if result.holdout_generated:
        click.echo(f"held-out data    GENERATED ({result.holdout}); add [data] holdout for a budget on real data")
    click.echo(f"written          {workspace.tuned}, {report.png_path.name}, {report.json_path.name}")
    write_json_output(result.as_dict(), json_path)


@click.command("report")
@circuit_target
@click.option(
    "-o",
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the report here (default: the workspace).",
)
@json_flag
def report_cmd(target: Target, out_dir: Path | None, as_json: bool) -> None:
    """Regenerate the fidelity report (JSON + PNG + summary) of TARGET's workspace (or a workspace folder, e.g. build/mlp_regressor)."""
    from zkml.tune.report import write_report

    report = write_report(target.workspace, out_dir=out_dir)
    if as_json:
        click.echo(report.json_path.read_text())
    else:
        click.echo(report.summary)
        click.echo(f"written: {report.json_path}, {report.png_path}")


@click.command("tune-all")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("circuits"))
@click.option("--build-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("build"), show_default=True)
@click.option("--write", is_flag=True, help="Commit each circuit's choice to FOLDER/<circuit>/tuned.json (what zkml run uses).")
@click.option("--repeats", type=int, default=2, show_default=True, help="Prove each finalist this many times, keep the fastest.")
@click.option("--max-seconds", type=float, default=240.0, show_default=True, help="Search time per circuit.")
@json_file
def tune_all_cmd(folder: Path, build_dir: Path, write: bool, repeats: int, max_seconds: float, json_path: Path | None) -> None:
    """Tune every circuit folder in FOLDER (default: circuits), for its [budget] or no worse than ezkl's calibration.

    With --write, each choice is committed beside the circuit's zkml.toml as
    tuned.json; `zkml run` and the Pipeline use it while it matches the model.
    The default calibration is proved too, and never beaten by a slower choice.
    """
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.tune import tune
    from zkml.tune.auto import declared_budget
    from zkml.tune.pinned import commit_tuned
    from zkml.workspace import Workspace

    rows: list[dict[str, Any]] = []
    for toml in sorted(folder.glob("*/zkml.toml")):
        config = load_config(toml)
        workspace = Workspace(build_dir / config.name)
        click.echo(f"tuning {config.name}", err=True)
        result = tune(
            Pipeline(config, workspace),
            declared_budget(config),
            progress=_TuneProgress(),
            prove_baseline=True,
            repeats=repeats,
            max_seconds=max_seconds,
        )
        chosen, base = result.chosen, result.baseline
        assert chosen is not None
        committed = str(commit_tuned(workspace.root, config.root)) if write else None
        rows.append(
            {
                "circuit": config.name,
                "budget": result.budget.describe(),
                "default_logrows": base.logrows,
                "default_prove_seconds": base.prove_seconds,
                "tuned": chosen.label,
                "tuned_logrows": chosen.logrows,
                "tuned_prove_seconds": chosen.prove_seconds,
                "committed": committed,
            }
        )
        click.echo(result.message)
    click.echo(f"\n  {'circuit':<18}{'default':>16}{'tuned':>16}  settings")
    for row in rows:
        default = f"{row['default_logrows']} / {_seconds(row['default_prove_seconds'])}"
        tuned = f"{row['tuned_logrows']} / {_seconds(row['tuned_prove_seconds'])}"
        click.echo(f"  {row['circuit']:<18}{default:>16}{tuned:>16}  {row['tuned']}")
    click.echo("  (logrows / prove seconds)" + ("; committed to <circuit>/tuned.json" if write else "; not committed (--write)"))
    write_json_output({"circuits": rows}, json_path)


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}s"
