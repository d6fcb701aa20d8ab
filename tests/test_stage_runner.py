"""The stage runner: memo, manifest reuse, timings and progress, on a real workspace."""

from __future__ import annotations

from pathlib import Path

from zkml.stage_runner import ProgressEvent, StageRunner
from zkml.workspace import Workspace


def test_a_stage_runs_once_then_is_reused_while_its_parts_hold(tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    ws = Workspace(tmp_path / "ws")
    runner = StageRunner(ws, events.append)
    runs = []

    def produce() -> tuple[dict[str, Path], dict[str, object]]:
        runs.append(1)
        out = ws.root / "out.txt"
        out.write_text("made")
        return {"out": out}, {"n": len(runs)}

    first = runner.run_stage("make", {"input": "a"}, produce)
    again = runner.run_stage("make", {"input": "a"}, produce)
    changed = runner.run_stage("make", {"input": "b"}, produce)
    assert (first[2], again[2], changed[2]) == (False, True, False) and len(runs) == 2
    assert again[1] == {"n": 1} and again[0]["out"] == ws.root / "out.txt"
    assert [(t.stage, t.reused) for t in runner.timings] == [("make", False), ("make", True), ("make", False)]
    assert [e.state for e in events] == ["start", "done", "start", "reused", "start", "done"]


def test_memo_timed_and_remembered_values(tmp_path: Path) -> None:
    runner = StageRunner(Workspace(tmp_path / "ws"))
    calls: list[int] = []
    assert runner.memo("k", lambda: calls.append(1) or 7) == 7 and runner.memo("k", lambda: 8) == 7 and calls == [1]
    assert runner.timed("demo", lambda: "x") == "x"
    assert runner.timed("srs", lambda: 3, reused=lambda value: value == 3) == 3
    assert [(t.stage, t.reused) for t in runner.timings] == [("demo", False), ("srs", True)]
    runner.remember("note", {"a": 1})
    assert runner.recall("note") == {"a": 1} and runner.recall("missing", ()) == ()
