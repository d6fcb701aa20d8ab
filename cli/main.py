"""``zkml``: a thin click front end over the library.

Each command parses its options (shared ones in :mod:`zkml_cli.options` hand it
domain objects), calls one stage or composition of the library and prints the
result. Subcommands are loaded only when invoked, so ``zkml --help`` imports no
command module and nothing heavy. Every ZkmlError becomes one line on stderr and
its exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from zkml.errors import ZkmlError

# name -> (module, attribute, one-line help shown by `zkml --help` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("stages", "run_cmd", "Run the whole flow on TARGET, ending with on-chain verification."),
    "export": ("stages", "export_cmd", "Export TARGET to a checked ONNX model."),
    "preflight": ("stages", "preflight_cmd", "Name the nodes the circuit compiler cannot handle."),
    "backends": ("circom_commands", "backends_cmd", "Say which proof backends (halo2, groth16) can take an ONNX model, and why not."),
    "calibrate": ("stages", "calibrate_cmd", "Generate and calibrate circuit settings."),
    "compile": ("stages", "compile_cmd", "Compile the circuit and report its fidelity."),
    "setup": ("stages", "setup_cmd", "Make (or reuse) the proving and verifying keys."),
    "prove": ("stages", "prove_cmd", "Prove one input, or many with --inputs."),
    "verify": ("stages", "verify_cmd", "Verify a proof locally."),
    "srs": ("srs_commands", "srs_group", "Manage structured reference strings."),
    "verifier": ("evm_commands", "verifier_cmd", "Generate and compile the Solidity verifier."),
    "deploy": ("evm_commands", "deploy_cmd", "Deploy a compiled verifier and record it."),
    "verify-onchain": ("evm_commands", "verify_onchain_cmd", "Check a proof against a deployed verifier."),
    "chain": ("evm_commands", "chain_group", "Run a local anvil chain."),
    "oracle": ("oracle_commands", "oracle_group", "Publish and read verified predictions."),
    "feed": ("feed_commands", "feed_group", "Deploy a local price feed, push prices, read rounds."),
    "provenance": ("provenance_commands", "provenance_cmd", "Check every link from an on-chain prediction back to its files."),
    "estimate": ("estimate_commands", "estimate_cmd", "Predict rows, key size, memory, prove time and gas before any key is made."),
    "tune": ("tune_commands", "tune_cmd", "Find the cheapest settings that meet an accuracy budget."),
    "tune-all": ("tune_commands", "tune_all_cmd", "Tune every example circuit; --write commits their tuned.json."),
    "report": ("tune_commands", "report_cmd", "Fidelity report (and tuner frontier) of a workspace."),
    "prove-many": ("perf_commands", "prove_many_cmd", "Prove many inputs with keys loaded once."),
    "serve": ("serve_commands", "serve_group", "A proving service: HTTP API, durable jobs, workers, keeper, live page."),
}


class ZkmlGroup(click.Group):
    """Loads subcommands on first use, and turns ZkmlError into a one-line message and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command: click.Command = getattr(importlib.import_module(f"zkml_cli.{module}"), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The short help is listed here so that --help imports no command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry[2]) for name, entry in sorted(COMMANDS.items())])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZkmlError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written was kept", err=True)
            ctx.exit(130)


@click.group(cls=ZkmlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
@click.version_option(package_name="zkml")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """zkml: from a trained model to a zero-knowledge proof a smart contract checks."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main() -> None:
    """Console-script entry point."""
    cli(obj={})


if __name__ == "__main__":
    main()
