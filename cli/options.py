"""Options every command shares, as click types and decorators that hand commands domain objects.

- :func:`circuit_target` adds ``TARGET`` and the options that shape it, and gives the
  command one :class:`Target` (config + workspace): the one way a workspace is addressed.
  ``TARGET`` is a circuit folder, a ``zkml.toml``, an ``.onnx`` file, ``file.py:factory``,
  or a workspace folder that zkml made (``build/<circuit>``). With ``batched=True`` also
  ``--batch-size B``: the same TARGET then addresses the circuit's batch-B workspace
  (``build/<circuit>/batch-B``), which is also recognised when given directly.
- :func:`chain_connection` adds ``--rpc-url``/``--chain-id`` and gives a connected
  :class:`zkml.evm.rpc.Connection`.
- :data:`json_flag`, :func:`emit`: ``--json`` output.

Nothing heavy is imported at module level: ``zkml --help`` stays instant.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zkml.evm.context import RPC_URL_ENV

if TYPE_CHECKING:
    from zkml.config import CircuitConfig
    from zkml.pipeline import Pipeline
    from zkml.stage_runner import ProgressCallback

TARGET_HELP = "A circuit folder (with zkml.toml), a zkml.toml, an .onnx file, file.py:factory, or a workspace folder zkml made."

PATH = click.Path(path_type=Path)
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class ShapeType(click.ParamType):
    """``1,8`` (or ``1x8``) as a tuple of positive ints."""

    name = "shape"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            shape = tuple(int(part) for part in str(value).replace("x", ",").split(",") if part.strip())
        except ValueError:
            self.fail(f"{value!r} is not a shape like 1,8", param, ctx)
        if not shape or any(d < 1 for d in shape):
            self.fail(f"{value!r} must be positive integers, batch first", param, ctx)
        return shape


@dataclass(frozen=True)
class Target:
    """A resolved ``TARGET``: the circuit's config, the workspace folder it builds in, and its batch size.

    ``batch_size`` > 1 is the circuit unrolled to ``B`` samples per proof, in a workspace of its own.
    """

    config: CircuitConfig
    workspace: Path
    batch_size: int = 1

    def pipeline(self, *, progress: ProgressCallback | None = None, allow_dev_srs: bool = True) -> Pipeline:
        """A :class:`zkml.pipeline.Pipeline` over this target's workspace."""
        from zkml.pipeline import Pipeline
        from zkml.workspace import Workspace

        return Pipeline(self.config, Workspace(self.workspace), progress=progress, allow_dev_srs=allow_dev_srs, batch_size=self.batch_size)


def _workspace_source(folder: Path) -> tuple[CircuitConfig, Path] | None:
    """The config a workspace folder was made from (recorded in its manifest), if it is one."""
    from zkml.config import config_for_onnx, load_config
    from zkml.workspace import read_manifest

    manifest = read_manifest(folder)
    if manifest is None:
        return None
    circuit = manifest["info"].get("circuit", {})
    if circuit.get("toml"):
        return load_config(Path(circuit["toml"])), folder
    if circuit.get("onnx"):
        return replace(config_for_onnx(Path(circuit["onnx"])), name=folder.name), folder
    return None


def _batch_source(folder: Path) -> tuple[CircuitConfig, Path, int] | None:
    """A batched circuit's folder (``batch.json``): the config it was made from (its own manifest's, else its parent
    workspace's, as prove-many leaves it), the folder, and its batch size; None for any other folder.

    Raises:
        ConfigError: a batched circuit whose model no manifest records.
    """
    from zkml.errors import ConfigError
    from zkml.workspace import Layout

    try:
        batch_size = int(json.loads(Layout(folder).batch_stamp.read_text())["batch_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    found = _workspace_source(folder) or _workspace_source(folder.parent)
    if found is None:
        raise ConfigError(
            f"{folder} holds a batch-{batch_size} circuit, but no manifest there or in {folder.parent} names its model",
            hint=f"address the circuit itself: zkml ... CIRCUIT --batch-size {batch_size}",
        )
    return replace(found[0], name=folder.parent.name), folder, batch_size


def _checked_batch_size(batch_size: int | None, recorded: int | None, target: str) -> int:
    """The batch size asked for, checked against the one a batched folder was built for."""
    from zkml.errors import ConfigError

    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size}: a proof covers 1 or more samples", hint="give --batch-size 1 or more")
    if recorded is not None and batch_size not in (None, recorded):
        raise ConfigError(
            f"{target} is the batch-{recorded} circuit, not batch-{batch_size}",
            hint=f"address the circuit itself with --batch-size {batch_size}",
        )
    return recorded or batch_size or 1


def resolve_target(target: str, build_dir: Path = Path("build"), *, batch_size: int | None = None, **changes: Any) -> Target:
    """Turn a CLI ``TARGET`` into a :class:`Target`.

    Args:
        target: see :data:`TARGET_HELP`.
        build_dir: workspaces go to ``build_dir/<circuit name>`` (a workspace folder is used as it is).
        batch_size: samples per proof; > 1 addresses the batch-B workspace ``build_dir/<circuit name>/batch-B``
            (None: 1, or the batch size of a batched folder given as ``target``).
        changes: config fields the command line sets (``input``, ``example_input``, ``input_shape``, ``task``, ``name``).

    Raises:
        ConfigError: not a target zkml knows, a batch size < 1, or one other than a batched folder's.
    """
    from zkml.config import CircuitConfig, config_for_onnx, load_config
    from zkml.errors import ConfigError
    from zkml.workspace import Layout, workspace_name

    path = Path(target)
    found: tuple[CircuitConfig, Path] | None = None
    batch = _batch_source(path) if path.is_dir() else None
    batch_size = _checked_batch_size(batch_size, batch[2] if batch else None, target)
    if batch is not None:
        config, found = batch[0], (batch[0], batch[1])
    elif path.suffix == ".onnx":
        # network.onnx, model.onnx, ...: named after the folder, so such models never share a workspace.
        config = replace(config_for_onnx(path), name=workspace_name(path))
    elif path.name.endswith(".toml") or (path / "zkml.toml").is_file():
        config = load_config(path)
    elif path.is_dir() and (found := _workspace_source(path)) is not None:
        config = found[0]
    elif ":" in target and Path(target.rpartition(":")[0]).suffix == ".py":
        file_part = Path(target.rpartition(":")[0]).resolve()
        config = CircuitConfig(name=workspace_name(file_part), root=Path.cwd(), factory=f"{file_part}:{target.rpartition(':')[2]}")
    else:
        raise ConfigError(f"{target!r} is not a circuit folder, zkml.toml, .onnx file, file.py:factory or workspace", hint=TARGET_HELP)
    given = {k: v for k, v in changes.items() if v is not None}
    if "input" in given:
        given["input"] = Path(given["input"]).resolve()
    config = replace(config, **given) if given else config
    home = found[1] if found else Path(build_dir) / config.name
    # A batched folder given as TARGET is its own workspace; any other's batch-B workspace is inside it.
    workspace = home if batch is not None else Layout(home).batch_dir(batch_size)
    return Target(config, workspace, batch_size)


def _checked_name(name: str | None) -> str | None:
    """A ``--name`` that is one plain folder name (no path separators, not . or ..)."""
    if name is None:
        return None
    if not name.strip() or name in (".", "..") or "/" in name or "\\" in name:
        raise click.BadParameter(f"{name!r} is not a folder name", param_hint="--name")
    return name


_TARGET_OPTIONS = (
    click.option("--build-dir", type=PATH, default=Path("build"), show_default=True, help="Workspaces go to BUILD_DIR/<circuit>."),
    click.option("--input", "input_path", type=PATH, help="Input JSON to prove (ezkl input_data format)."),
    click.option("--example", help="file.py:function returning the tracing input (torch factories)."),
    click.option("--input-shape", type=ShapeType(), help="Shape of a seeded random tracing input, e.g. 1,8."),
    click.option("--task", type=click.Choice(["regression", "classification"]), help="How fidelity is measured."),
    click.option(
        "--name",
        "workspace",
        help="Workspace name (BUILD_DIR/NAME); default: the model file's name, or its folder's for network.onnx, model.onnx, ...",
    ),
)


_BATCH_OPTION = click.option(
    "--batch-size",
    "batch_size",
    type=int,
    default=None,
    metavar="B",
    help="Samples per proof: TARGET's batch-B circuit, a workspace of its own (BUILD_DIR/<circuit>/batch-B). Default 1.",
)


def build_batched_workspace(target: Target) -> None:
    """Build (or reuse, while its inputs' hashes match) a batched target's workspace through its keys, with a progress bar."""
    from zkml_cli.display import StageProgress

    progress = StageProgress(len(("export", "calibrate", "compile", "srs", "keys")))
    try:
        target.pipeline(progress=progress).keys()
    finally:
        progress.close()


def circuit_target(func: Callable[..., Any] | None = None, *, required: bool = True, batched: bool = False, prebuild: bool = False) -> Any:
    """Add ``TARGET`` and its options; the command receives ``target: Target`` (None when optional and absent).

    Args:
        required: TARGET must be given.
        batched: also ``--batch-size B`` (the batch-B workspace of the same TARGET; see :func:`resolve_target`).
        prebuild: for the commands that read the workspace's files rather than run its stages (verifier,
            deploy, the oracle): a batched workspace is built, or reused, through its keys first.
    """

    def decorate(command: Callable[..., Any]) -> Any:
        @functools.wraps(command)
        def wrapper(
            *args: object,
            target: str | None,
            build_dir: Path,
            input_path: Path | None,
            example: str | None,
            input_shape: tuple[int, ...] | None,
            task: str | None,
            workspace: str | None,
            **kwargs: Any,
        ) -> Any:
            # Only ours when this command has --batch-size from here (prove-many's own means something else).
            batch_size: int | None = kwargs.pop("batch_size") if batched else None
            resolved = None
            if target is not None:
                resolved = resolve_target(
                    target,
                    build_dir,
                    batch_size=batch_size,
                    input=input_path,
                    example_input=example,
                    input_shape=input_shape,
                    task=task,
                    name=_checked_name(workspace),
                )
                if prebuild and resolved.batch_size > 1:
                    build_batched_workspace(resolved)
            elif batch_size is not None:
                raise click.UsageError("--batch-size needs a TARGET")
            return command(*args, target=resolved, **kwargs)

        decorated: Callable[..., Any] = wrapper
        if batched:
            decorated = _BATCH_OPTION(decorated)
        for option in reversed(_TARGET_OPTIONS):
            decorated = option(decorated)
        return click.argument("target", required=required, metavar="TARGET")(decorated)

    return decorate(func) if func is not None else decorate


def chain_connection(func: Callable[..., Any] | None = None, *, sender: bool = False) -> Any:
    """Add ``--rpc-url``/``--chain-id``; the command receives ``conn`` (a connected :class:`zkml.evm.rpc.Connection`).

    With ``sender=True`` also ``--keystore``, and the command receives ``sender`` (a
    :class:`zkml.evm.rpc.Sender`; keys come only from the environment or a keystore).
    """

    def decorate(command: Callable[..., Any]) -> Any:
        @functools.wraps(command)
        def wrapper(*args: object, rpc_url: str | None, chain_id: int | None, keystore: Path | None = None, **kwargs: object) -> Any:
            from zkml.evm.context import chain_context
            from zkml.evm.rpc import resolve_sender

            with chain_context(rpc_url, expected_chain_id=chain_id) as conn:
                if sender:
                    kwargs["sender"] = resolve_sender(conn, keystore=keystore)
                return command(*args, conn=conn, **kwargs)

        decorated: Callable[..., Any] = wrapper
        if sender:
            decorated = click.option(
                "--keystore", type=EXISTING_FILE, default=None, help="Encrypted keystore (password in ZKML_KEYSTORE_PASSWORD)."
            )(decorated)
        decorated = click.option("--chain-id", type=int, default=None, help="Refuse the endpoint unless it serves this chain id.")(
            decorated
        )
        return click.option(
            "--rpc-url", default=None, help=f"JSON-RPC endpoint (default: ${RPC_URL_ENV}, else the chain from `zkml chain up`)."
        )(decorated)

    return decorate(func) if func is not None else decorate


json_flag = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
json_file = click.option("--json", "json_path", type=PATH, help="Also write the result as JSON ('-' for stdout).")
unsafe_srs_flag = click.option(
    "--i-understand-dev-srs-is-insecure", "allow_unsafe_srs", is_flag=True, help="Allow dev-SRS keys on a non-development chain."
)


def emit(payload: object, as_json: bool, lines: list[str]) -> None:
    """Print ``payload`` as JSON, or the human-readable ``lines``."""
    if as_json:
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


def write_json_output(payload: object, json_path: Path | None) -> bool:
    """Honour ``--json PATH`` (``-`` is stdout); True when the JSON went to stdout (print nothing else)."""
    if json_path is None:
        return False
    text = json.dumps(payload, indent=2)
    if str(json_path) == "-":
        click.echo(text)
        return True
    from zkml.workspace import write_bytes_atomic

    write_bytes_atomic(json_path, (text + "\n").encode())
    return False


# Shared by prove-many and serve: `--ray` alone starts a local Ray, `--ray ADDRESS` joins a cluster.
ray_option = click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Prove on Ray: --ray alone starts a local Ray; --ray ADDRESS joins a cluster (head:6379, auto, ray://head:10001) "
    "whose nodes get the artifacts through Ray's object store (see docs/deploy.md).",
)
