"""Options every command shares, as click types and decorators that hand commands domain objects.

- :func:`circuit_target` adds ``TARGET`` and the options that shape it, and gives the
  command one :class:`Target` (config + workspace): the one way a workspace is addressed.
  ``TARGET`` is a circuit folder, a ``zkml.toml``, an ``.onnx`` file, ``file.py:factory``,
  or a workspace folder that zkml made (``build/<circuit>``).
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
    """A resolved ``TARGET``: the circuit's config and the workspace folder it builds in."""

    config: CircuitConfig
    workspace: Path

    def pipeline(self, *, progress: ProgressCallback | None = None, allow_dev_srs: bool = True) -> Pipeline:
        """A :class:`zkml.pipeline.Pipeline` over this target's workspace."""
        from zkml.pipeline import Pipeline
        from zkml.workspace import Workspace

        return Pipeline(self.config, Workspace(self.workspace), progress=progress, allow_dev_srs=allow_dev_srs)


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


def resolve_target(target: str, build_dir: Path = Path("build"), **changes: Any) -> Target:
    """Turn a CLI ``TARGET`` into a :class:`Target`.

    Args:
        target: see :data:`TARGET_HELP`.
        build_dir: workspaces go to ``build_dir/<circuit name>`` (a workspace folder is used as it is).
        changes: config fields the command line sets (``input``, ``example_input``, ``input_shape``, ``task``, ``name``).

    Raises:
        ConfigError: not a target zkml knows.
    """
    from zkml.config import CircuitConfig, config_for_onnx, load_config
    from zkml.errors import ConfigError
    from zkml.workspace import workspace_name

    path = Path(target)
    found: tuple[CircuitConfig, Path] | None = None
    if path.suffix == ".onnx":
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
    workspace = found[1] if found else Path(build_dir) / config.name
    return Target(config, workspace)


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


def circuit_target(func: Callable[..., Any] | None = None, *, required: bool = True) -> Any:
    """Add ``TARGET`` and its options; the command receives ``target: Target`` (None when optional and absent)."""

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
            **kwargs: object,
        ) -> Any:
            resolved = None
            if target is not None:
                resolved = resolve_target(
                    target,
                    build_dir,
                    input=input_path,
                    example_input=example,
                    input_shape=input_shape,
                    task=task,
                    name=_checked_name(workspace),
                )
            return command(*args, target=resolved, **kwargs)

        decorated: Callable[..., Any] = wrapper
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
    help="Prove on Ray: --ray alone starts a local Ray; --ray ADDRESS joins a cluster (e.g. auto, ray://head:10001).",
)
