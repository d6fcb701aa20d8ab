"""One service per SQLite store, and a free port, checked before anything starts.

SQLite is the one-machine default: a second ``zkml serve`` on the same file would
requeue the first one's in-flight jobs as if they had been left by a crash, and
prove them twice. :class:`StoreOwner` takes an exclusive ``flock`` on a lock file
beside the database for the service's lifetime (the kernel drops it when the
process dies, even under kill -9), and records who holds it, so the second one is
refused with one line naming the first, before recovery or any banner.
(Several replicas share a PostgreSQL store instead, through job leases: :mod:`zkml.serve.store`.)
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import IO

from zkml.errors import ConfigError


class StoreOwner:
    """The exclusive hold of one service on a SQLite store (release it with :meth:`release`).

    Raises:
        ConfigError: another live service holds the store (named by pid, address and start time).
    """

    def __init__(self, sqlite_path: Path, *, listen: str | None = None) -> None:
        import fcntl

        self.path = Path(f"{sqlite_path}.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle: IO[str] = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(handle)
            handle.close()
            raise ConfigError(
                f"{sqlite_path} is already served by another zkml serve ({holder}); a second one would requeue its jobs",
                hint="stop that one, give this one its own --db, or share a postgresql:// store between replicas",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "listen": listen, "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        """Let another service take the store (closing the file drops the lock)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _holder(handle: IO[str]) -> str:
    """Who holds the lock, as its file says (written by the holder once it had the lock)."""
    handle.seek(0)
    try:
        record = json.loads(handle.read() or "{}")
    except ValueError:
        record = {}
    parts = [f"pid {record['pid']}" if record.get("pid") else "pid unknown"]
    if record.get("listen"):
        parts.append(str(record["listen"]))
    if record.get("started"):
        parts.append(f"since {record['started']}")
    return ", ".join(parts)


def check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, before the service loads anything.

    Raises:
        ConfigError: the address cannot be bound (in use, or not an address of this host).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # uvicorn binds with SO_REUSEADDR too: a port in TIME_WAIT is free for it, and so for this check.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="choose another --port (or stop what listens there)"
            ) from None


__all__ = ["StoreOwner", "check_port"]
