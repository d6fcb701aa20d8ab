"""A local anvil chain that zkml starts itself.

- :func:`local_anvil` runs an anvil on 127.0.0.1 for the duration of a ``with``
  block (tests, ``zkml run`` without ``--rpc-url``).
- :func:`chain_up` / :func:`chain_down` run one detached across commands,
  remembered in a state file in the user cache, which :mod:`zkml.evm.context`
  falls back to when no ``--rpc-url`` or ``$ZKML_RPC_URL`` is given.

Nothing here imports web3: :func:`rpc_chain_id` asks over plain HTTP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from zkml.errors import AnvilError
from zkml.workspace import cache_dir, write_json_atomic

log = logging.getLogger(__name__)

STATE_NAME = "anvil.json"
LOG_NAME = "anvil.log"


def find_anvil() -> Path:
    """Locate the anvil binary: ``$ZKML_ANVIL``, node_modules (npm ``@foundry-rs/anvil``), PATH.

    The platform binary inside node_modules is preferred over the ``.bin/anvil``
    node wrapper, so the pid zkml records is anvil's own.

    Raises:
        AnvilError: none found.
    """
    from zkml.evm.solc import find_node_modules

    env = os.environ.get("ZKML_ANVIL")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise AnvilError(f"ZKML_ANVIL={env} does not exist")
        return path
    wrapper = find_node_modules("@foundry-rs/anvil")
    if wrapper is not None:
        for binary in sorted(wrapper.parent.glob("anvil-*/bin/anvil")):
            if os.access(binary, os.X_OK):
                return binary
        script = wrapper.parent.parent / ".bin" / "anvil"
        if script.exists():
            return script
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnvilError("anvil not found", hint="run `npm ci` in the zkml repository, install foundry, or set ZKML_ANVIL")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_chain_id(url: str, timeout: float = 2.0) -> int | None:
    """``eth_chainId`` of an endpoint over plain HTTP (no web3 import), or None if it does not answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - caller's URL
            return int(json.loads(response.read())["result"], 16)
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


@dataclass(frozen=True)
class AnvilNode:
    """A running anvil started by zkml."""

    url: str
    pid: int
    chain_id: int
    port: int
    log_path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the state file)."""
        return {
            "url": self.url,
            "pid": self.pid,
            "chain_id": self.chain_id,
            "port": self.port,
            "log": str(self.log_path) if self.log_path else None,
        }


def start_anvil(
    *,
    chain_id: int = 31337,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
    detached: bool = False,
    log_path: Path | None = None,
    startup_timeout: float = 30.0,
) -> tuple[AnvilNode, subprocess.Popen[bytes]]:
    """Start anvil on 127.0.0.1 and wait until it answers ``eth_chainId``.

    Args:
        chain_id: the chain id it serves.
        port: TCP port; a free one when None.
        extra_args: more anvil flags (``--code-size-limit`` ...).
        detached: run in its own session so it outlives this process (``chain up``).
        log_path: where anvil's output goes (discarded when None).
        startup_timeout: seconds to wait for it to answer.

    Raises:
        AnvilError: it could not be started or did not answer in time.
    """
    binary = find_anvil()
    attempts = 1 if port is not None else 3  # a free port can be taken between probe and bind
    last = ""
    for _ in range(attempts):
        chosen = port or free_port()
        args = [str(binary), "--host", "127.0.0.1", "--port", str(chosen), "--chain-id", str(chain_id), *extra_args]
        out: int | BinaryIO = subprocess.DEVNULL
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = log_path.open("ab")
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=detached)
        except OSError as exc:
            raise AnvilError(f"cannot run {binary}: {exc}") from exc
        finally:
            if not isinstance(out, int):  # DEVNULL
                out.close()
        url = f"http://127.0.0.1:{chosen}"
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last = f"anvil exited with code {proc.returncode}"
                break
            if rpc_chain_id(url, timeout=1.0) == chain_id:
                log.info("anvil (pid %d) answers at %s, chain id %d", proc.pid, url, chain_id)
                return AnvilNode(url=url, pid=proc.pid, chain_id=chain_id, port=chosen, log_path=log_path), proc
            time.sleep(0.1)
        else:
            _terminate(proc)
            raise AnvilError(f"anvil did not answer at {url} within {startup_timeout:.0f} s")
    raise AnvilError(f"could not start anvil: {last}", hint="see its log, or set ZKML_ANVIL to another binary")


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def local_anvil(*, chain_id: int = 31337, extra_args: tuple[str, ...] = ()) -> Iterator[AnvilNode]:
    """Run an anvil for the duration of a ``with`` block; it is stopped on exit, even on error."""
    node, proc = start_anvil(chain_id=chain_id, extra_args=extra_args)
    try:
        yield node
    finally:
        _terminate(proc)


def _state_path() -> Path:
    return cache_dir() / STATE_NAME


def _pid_is_anvil(pid: int) -> bool:
    # Check the command line, not only that the pid exists: pids are reused, and
    # `chain down` must never signal a process zkml did not start.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): the pid is alive; trust the state file
    return b"anvil" in cmdline


def _recorded_node() -> AnvilNode | None:
    """The node the state file describes (alive or not), or None without a readable one."""
    try:
        data = json.loads(_state_path().read_text())
        return AnvilNode(
            url=data["url"],
            pid=int(data["pid"]),
            chain_id=int(data["chain_id"]),
            port=int(data["port"]),
            log_path=Path(data["log"]) if data.get("log") else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def chain_status() -> AnvilNode | None:
    """The anvil started by ``chain up``, if it is still running and answering."""
    node = _recorded_node()
    if node is None or not _pid_is_anvil(node.pid) or rpc_chain_id(node.url) != node.chain_id:
        return None
    return node


def chain_up(*, chain_id: int = 31337, port: int | None = None, extra_args: tuple[str, ...] = ()) -> tuple[AnvilNode, bool]:
    """Start a detached anvil that later commands find without ``--rpc-url``.

    Returns:
        The node, and True if it was started now (False: one was already running).
    """
    running = chain_status()
    if running is not None:
        return running, False
    node, _proc = start_anvil(chain_id=chain_id, port=port, extra_args=extra_args, detached=True, log_path=cache_dir() / LOG_NAME)
    write_json_atomic(_state_path(), node.as_dict())
    return node, True


def chain_down() -> AnvilNode | None:
    """Stop the anvil started by :func:`chain_up`; returns it, or None if none was running."""
    node = _recorded_node()
    stopped = None
    if node is not None and _pid_is_anvil(node.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pid_alive(node.pid):
            time.sleep(0.1)
        if _pid_alive(node.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(node.pid, signal.SIGKILL)
        stopped = node
    _state_path().unlink(missing_ok=True)
    return stopped


def _pid_alive(pid: int) -> bool:
    # A detached anvil is not our child, so it cannot be reaped here; a zombie counts as gone.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return status != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
