"""tuned.json read back: pinned settings, applied all or nothing (no ezkl; the real file is in test_search)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from zkml.config import CircuitConfig, config_for_onnx
from zkml.errors import ConfigError
from zkml.tune.pinned import apply_tuned, read_tuned

PINNED = {
    "input_scale": 9,
    "param_scale": 9,
    "logrows": 11,
    "lookup_safety_margin": 1.0,
    "num_inner_cols": 4,
    "decomp_base": 256,
    "decomp_legs": 4,
}


def _config(tmp_path: Path) -> CircuitConfig:
    return config_for_onnx(tmp_path / "model.onnx")


def _write_tuned(workspace: Path, circuit: dict[str, Any], **extra: Any) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "tuned.json").write_text(json.dumps({"version": 1, "circuit": circuit, **extra}))


def test_no_tuned_json_changes_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert read_tuned(tmp_path) is None
    assert apply_tuned(config, tmp_path) is config


def test_read_tuned_drops_unset_values(tmp_path: Path) -> None:
    _write_tuned(tmp_path, {**PINNED, "num_inner_cols": None})
    assert read_tuned(tmp_path) == {k: v for k, v in PINNED.items() if k != "num_inner_cols"}


@pytest.mark.parametrize("content", ["{not json", "[]", '{"version": 1}', '{"circuit": 3}'])
def test_unreadable_tuned_json_is_a_config_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "tuned.json").write_text(content)
    with pytest.raises(ConfigError, match="tuned.json is unreadable"):
        read_tuned(tmp_path)
    with pytest.raises(ConfigError, match="run zkml tune again"):
        apply_tuned(_config(tmp_path), tmp_path)


def test_apply_tuned_pins_every_setting(tmp_path: Path) -> None:
    _write_tuned(tmp_path, PINNED)
    applied = apply_tuned(_config(tmp_path), tmp_path)
    assert {k: getattr(applied.circuit, k) for k in PINNED} == PINNED


def test_a_setting_pinned_in_the_config_wins_as_a_whole(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write_tuned(tmp_path, PINNED)
    config = _config(tmp_path).with_circuit(input_scale=7)
    with caplog.at_level(logging.WARNING, logger="zkml.tune.pinned"):
        assert apply_tuned(config, tmp_path) == config
    assert "pins ['input_scale'] itself" in caplog.text


def test_an_unknown_setting_applies_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write_tuned(tmp_path, {**PINNED, "future_knob": 3})
    config = _config(tmp_path)
    with caplog.at_level(logging.WARNING, logger="zkml.tune.pinned"):
        assert apply_tuned(config, tmp_path) == config
    assert "future_knob" in caplog.text


def test_tuned_for_another_model_applies_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from zkml.artifacts import sha256_bytes

    (tmp_path / "model.onnx").write_bytes(b"the model now")
    config = _config(tmp_path)
    _write_tuned(tmp_path, PINNED, model_sha256=sha256_bytes(b"the model then"))
    with caplog.at_level(logging.WARNING, logger="zkml.tune.pinned"):
        assert apply_tuned(config, tmp_path) == config
    assert "another model" in caplog.text
    _write_tuned(tmp_path, PINNED, model_sha256=sha256_bytes(b"the model now"))
    assert apply_tuned(config, tmp_path).circuit.logrows == 11


def test_pinned_imports_neither_the_pipeline_nor_the_search() -> None:
    """The pipeline imports zkml.tune.pinned; the reverse import would be the old cycle."""
    import subprocess
    import sys

    code = "import sys, zkml.tune.pinned; print(sorted(m for m in sys.modules if m.startswith(('zkml.', 'numpy', 'ezkl'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "zkml.pipeline" not in loaded and "zkml.tune.search" not in loaded
    assert "numpy" not in loaded and "ezkl" not in loaded
