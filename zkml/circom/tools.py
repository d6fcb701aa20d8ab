"""The npm tools the circom backend drives: circom2 (the wasm circom compiler) and snarkjs.

Both come from the committed ``package-lock.json`` (``npm ci``) and run under node with
nothing downloaded. Their versions are read from the installed packages, to be recorded
next to what they made.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from zkml.errors import ZkmlError

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# package -> its command-line script inside the package folder.
SCRIPTS = {"snarkjs": "build/cli.cjs", "circom2": "cli.js"}


def package_dir(package: str) -> Path:
    """The installed npm package's folder.

    Raises:
        ZkmlError: node or the package is missing.
    """
    from zkml.evm.solc import find_node_modules

    found = find_node_modules(package)
    if found is None or shutil.which("node") is None:
        raise ZkmlError(
            f"the circom backend needs node and the npm package {package}",
            hint="run `make setup` (npm ci installs snarkjs and circom2 from package-lock.json)",
        )
    return found


def version(package: str) -> str:
    """The installed version of an npm package."""
    return str(json.loads((package_dir(package) / "package.json").read_text())["version"])


def run(
    package: str,
    args: Sequence[str | Path],
    *,
    doing: str,
    error: Callable[..., ZkmlError] = ZkmlError,
    cwd: Path | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> str:
    """Run ``node <package cli> args`` and return its stdout.

    Args:
        package: ``snarkjs`` or ``circom2``.
        args: the command line after the script.
        doing: what it does, for the log and the error (``compiling the circuit``).
        error: the exception type to raise on failure (a :class:`ZkmlError` subclass).
        cwd: the working folder.
        timeout: seconds before giving up.
        check: raise when the tool reports a failure; False returns its output anyway
            (a verifier's "invalid proof" is a result, not an error).

    Raises:
        ZkmlError (``error``): the tool failed; the message carries its last output lines.
    """
    script = package_dir(package) / SCRIPTS[package]
    argv = ["node", str(script), *(str(a) for a in args)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise error(f"{doing} with {package} took longer than {timeout} s") from exc
    seconds = time.perf_counter() - started
    log.info("%s (%s) took %.2f s", doing, package, seconds)
    # snarkjs reports some failures on stdout with exit code 0 ("[ERROR] ..."), circom on stderr.
    failed = proc.returncode != 0 or "[ERROR]" in proc.stdout or "error[" in proc.stderr
    if failed and check:
        raise error(f"{doing} failed ({package} exit {proc.returncode}): {_summary(proc.stderr.strip() or proc.stdout.strip())}")
    return proc.stdout + proc.stderr if failed else proc.stdout


def _summary(output: str) -> str:
    """The lines of a tool's output that say what failed: its error lines, else its last lines (colours removed)."""
    lines = [line.strip() for line in _ANSI.sub("", output).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "previous errors" not in line]
    return "; ".join(errors[:3] or lines[-4:])
