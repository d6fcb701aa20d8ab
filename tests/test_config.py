from __future__ import annotations

from pathlib import Path

import pytest

from zkml.config import CircuitSettings, load_config
from zkml.errors import ConfigError

from .conftest import CIRCUITS


def test_every_example_config_loads() -> None:
    names = sorted(p.name for p in CIRCUITS.iterdir() if (p / "zkml.toml").is_file())
    assert len(names) >= 4
    for name in names:
        config = load_config(CIRCUITS / name)
        assert config.name == name
        assert config.factory or config.onnx
        assert config.input is not None and config.input.is_file()


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "zkml.toml").write_text(text)
    return tmp_path


def test_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown \\[circuit\\] keys \\['logrow'\\]"):
        load_config(_write(tmp_path, '[model]\nonnx = "m.onnx"\n[circuit]\nlogrow = 3\n'))


def test_bad_visibility_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="public, private, hashed, fixed"):
        CircuitSettings(input_visibility="secret")


def test_model_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config(_write(tmp_path, 'name = "x"\n[model]\n'))


def test_toml_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="zkml.toml"):
        load_config(_write(tmp_path, "name = \n"))


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no zkml.toml"):
        load_config(tmp_path)
