"""The proving child process: how it is started, how it fails, what it leaves behind (no ezkl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkml.errors import KeysError
from zkml.tune import measure
from zkml.workspace import Layout


def test_a_failing_child_raises_with_its_last_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(KeysError, match=r"setup in a child process failed: .*settings") as info:
        measure.measure_proving(missing / "model.compiled", missing / "settings.json", missing / "srs", missing / "input.json", tmp_path)
    assert "--debug" in (info.value.hint or "")


def test_the_child_reports_its_result_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child is `python -m zkml.tune.measure SPEC`; it writes the result JSON named in SPEC."""
    import subprocess
    import sys

    spec = json.dumps({"mode": "setup", "work": str(tmp_path), "out": str(tmp_path / "out.json"), "settings": str(tmp_path / "none")})
    proc = subprocess.run([sys.executable, "-m", "zkml.tune.measure", spec], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "CalibrationError" in proc.stderr  # it got as far as reading the settings
    assert not (tmp_path / "out.json").exists()


def test_peak_rss_is_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    peak = measure._peak_rss_bytes()
    assert 10 * 2**20 < peak < 64 * 2**30


def test_discard_proving_files_keeps_the_circuit(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    for path in (layout.pk, layout.vk, layout.keys_binding, layout.proof, layout.witness, layout.settings, layout.compiled):
        path.write_text("x")
    measure.discard_proving_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([layout.settings.name, layout.compiled.name])
    measure.discard_proving_files(tmp_path)  # nothing left to delete is fine
