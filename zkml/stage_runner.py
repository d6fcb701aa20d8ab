"""Running a stage: reuse it when the manifest proves it current, else run it, time it and record it.

:class:`StageRunner` is the public contract every stage set builds on (the local
stages of :class:`zkml.pipeline.Pipeline`, the EVM stages of
:class:`zkml.evm.stages.EvmStages`, the flow's demo): a memo per run, the
manifest cache, the timings and the progress events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from zkml.artifacts import StageTiming

if TYPE_CHECKING:
    from zkml.workspace import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    """What the pipeline is doing, for a progress display.

    Attributes:
        stage: the stage name.
        state: ``start``, ``done``, ``reused`` or ``step`` (a sub-step of a long stage).
        step, total: sub-step counters for ``step`` events.
        seconds: elapsed seconds for ``done``/``reused``.
    """

    stage: str
    state: str
    step: int = 0
    total: int = 0
    seconds: float = 0.0


ProgressCallback = Callable[[ProgressEvent], None]
StageOutputs = tuple[dict[str, Path], dict[str, Any]]


class StageRunner:
    """One run's stages over a workspace: memo, manifest cache, timings and progress.

    Attributes:
        ws: the workspace whose manifest records each stage.
        progress: called with every :class:`ProgressEvent`.
        timings: every stage timed so far, in order.
    """

    def __init__(self, ws: Workspace, progress: ProgressCallback | None = None) -> None:
        self.ws = ws
        self.progress: ProgressCallback = progress or (lambda event: None)
        self.timings: list[StageTiming] = []
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """``build()`` once per run; later calls return the first result."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]  # type: ignore[no-any-return]

    def remember(self, key: str, value: Any) -> None:
        """Keep a value for the rest of the run (read back with :meth:`recall`)."""
        self._memo[key] = value

    def recall(self, key: str, default: Any = None) -> Any:
        """A value kept by :meth:`memo` or :meth:`remember`, else ``default``."""
        return self._memo.get(key, default)

    def run_stage(
        self, stage: str, parts: dict[str, Any], produce: Callable[[], StageOutputs]
    ) -> tuple[dict[str, Path], dict[str, Any], bool]:
        """Reuse ``stage`` if its recorded outputs are current for ``parts``, else run ``produce`` and record it.

        Returns:
            The output paths, the stage details, and whether it was reused.
        """
        from zkml.workspace import fingerprint

        key = fingerprint({"stage": stage, **parts})
        self.progress(ProgressEvent(stage, "start"))
        start = time.perf_counter()
        current = self.ws.current_outputs(stage, key)
        if current is not None:
            details = (self.ws.stage(stage) or {}).get("details", {})
            seconds = time.perf_counter() - start
            self.timings.append(StageTiming(stage, seconds, True))
            self.progress(ProgressEvent(stage, "reused", seconds=seconds))
            log.info("stage %s: reused (inputs unchanged)", stage)
            return {name: rec.path for name, rec in current.items()}, details, True
        outputs, details = produce()
        seconds = time.perf_counter() - start
        self.ws.record(stage, key, outputs, seconds=seconds, details=details)
        self.timings.append(StageTiming(stage, seconds, False))
        self.progress(ProgressEvent(stage, "done", seconds=seconds))
        return outputs, details, False

    def timed(self, stage: str, action: Callable[[], T], *, reused: Callable[[T], bool] | None = None) -> T:
        """Run ``action`` as ``stage``: progress events and a timing (``reused`` says, from its result, whether it ran)."""
        self.progress(ProgressEvent(stage, "start"))
        start = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - start
        was_reused = reused(result) if reused is not None else False
        self.timings.append(StageTiming(stage, seconds, was_reused))
        self.progress(ProgressEvent(stage, "reused" if was_reused else "done", seconds=seconds))
        return result


__all__ = ["ProgressCallback", "ProgressEvent", "StageRunner"]
