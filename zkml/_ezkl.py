"""The only module that imports ezkl.

ezkl's Rust core prints tables and progress straight to file descriptor 1, which
would break the rule that the library never prints (and would corrupt
``--json -`` style output). Every call goes through :func:`call`, which
redirects fd 1 into a temporary file for the duration and sends what it caught
to the log. Async ezkl functions (23.x) are driven to completion here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

# fd 1 is process-wide: two threads redirecting it at once would swap outputs.
_FD_LOCK = threading.Lock()


@cache
def module() -> Any:
    """Import ezkl once, lazily (it takes ~0.5 s and `zkml --help` must be instant)."""
    import ezkl

    return ezkl


def version() -> str:
    """The installed ezkl version."""
    return str(getattr(module(), "__version__", "unknown"))


class EzklFailure(RuntimeError):
    """ezkl raised or panicked; ``str()`` is its message without the Rust backtrace."""


@contextlib.contextmanager
def _output_to_log(name: str) -> Iterator[list[str]]:
    """Send what ezkl writes to fds 1 and 2 to the log; yield a list that gets the text."""
    caught: list[str] = []
    with _FD_LOCK, tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            saved = (os.dup(1), os.dup(2))
        except OSError:  # no fds 1/2 (embedded interpreters): nothing to redirect
            yield caught
            return
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield caught
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                caught.append(text)
                log.debug("ezkl.%s printed:\n%s", name, text)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``ezkl.<name>`` with stdout captured, awaiting it if it is async.

    Raises:
        EzklFailure: whatever ezkl raised or panicked with; callers translate it
            into the right ZkmlError, since only they know what it means.
    """
    func: Callable[..., Any] = getattr(module(), name)
    log.debug("ezkl.%s(%s)", name, ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]))
    try:
        with _output_to_log(name):
            # ezkl 23's async functions must be *called* inside a running loop
            # (they fetch it on entry), not just awaited later.
            result = asyncio.run(_invoke(func, args, kwargs)) if name in ASYNC_FUNCTIONS else func(*args, **kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        # Rust panics arrive as pyo3's PanicException, a BaseException: make them
        # ordinary exceptions so callers can translate them into ZkmlErrors.
        raise EzklFailure(f"ezkl.{name}: {_first_line(exc)}") from exc
    return result


ASYNC_FUNCTIONS = frozenset({"get_srs", "create_evm_verifier", "create_evm_vka", "deploy_evm", "register_vka", "verify_evm"})


async def _invoke(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = func(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


def run_args(**fields: Any) -> Any:
    """Build an ``ezkl.PyRunArgs`` with the given fields set."""
    args = module().PyRunArgs()
    for key, value in fields.items():
        if value is not None:
            setattr(args, key, value)
    return args


def felt_to_float(felt: str, scale: int) -> float:
    """Decode one field element of a witness/proof into a float at a fixed-point scale."""
    return float(module().felt_to_float(felt, scale))
