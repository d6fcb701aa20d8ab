"""Fault injection for the worker-death tests (importable by spawned and Ray workers)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


class KillOnce:
    """A ``before_prove`` hook that SIGKILLs its own worker the first time job ``target`` starts.

    Every call is logged as a file ``call-<index>-<n>`` in ``folder`` so the test
    can see that the killed job was started again.
    """

    def __init__(self, folder: Path, target: int) -> None:
        self.folder = Path(folder)
        self.target = target

    def __call__(self, index: int, attempt: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"call-{index}-{time.monotonic_ns()}-{os.getpid()}").write_text(str(attempt))
        marker = self.folder / "killed"
        if index == self.target and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    def calls(self, index: int) -> int:
        """How many times job ``index`` reached the hook."""
        return len(list(self.folder.glob(f"call-{index}-*")))
