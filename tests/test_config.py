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


def test_consumer_table(tmp_path: Path) -> None:
    from zkml.config import ConsumerConfig, load_config

    base = '[model]\nonnx = "m.onnx"\n'
    (tmp_path / "zkml.toml").write_text(base)
    assert load_config(tmp_path).consumer is None
    (tmp_path / "zkml.toml").write_text(base + '[consumer]\ncontract = "ForecastVault"\nneutral_bps = 4000\n')
    assert load_config(tmp_path).consumer == ConsumerConfig(neutral_bps=4000)
    for bad, message in (
        ('contract = "Nope"', "unknown"),
        ("neutral_bps = 20000", "0..10000"),
        ("max_step_bps = 0", "1..10000"),
        ("cooldown = -1", "cooldown = -1 must be an integer within 0..2592000"),
        ("color = 1", "bad \\[consumer\\]"),
        # The old sensitivity was per 1.0 = 100 % of output: refused by name, with the new key's units.
        ("bps_per_unit_return = 100000", "bps_per_unit_return is no longer supported"),
    ):
        (tmp_path / "zkml.toml").write_text(base + "[consumer]\n" + bad + "\n")
        with pytest.raises(ConfigError, match=message):
            load_config(tmp_path)


def test_only_the_demo_circuit_declares_a_consumer() -> None:
    from zkml.config import load_config

    circuits = Path(__file__).resolve().parent.parent / "circuits"
    declared = {p.name for p in circuits.iterdir() if (p / "zkml.toml").is_file() and load_config(p).consumer is not None}
    assert declared == {"mlp_regressor"}


def test_feed_table(tmp_path: Path) -> None:
    from zkml.config import FeedConfig

    base = '[model]\nonnx = "m.onnx"\n'
    (tmp_path / "zkml.toml").write_text(base)
    assert load_config(tmp_path).feed is None
    (tmp_path / "zkml.toml").write_text(base + '[feed]\nmax_epoch_lag = 2\ndemo_series = "m.py:prices"\n')
    assert load_config(tmp_path).feed == FeedConfig(max_epoch_lag=2, demo_series="m.py:prices")
    for bad, message in (
        ("multiplier = 0", "1..1000000"),
        ("decimals = 37", "0..36"),
        ("demo_rounds = 1", ">= 2"),
        ("color = 1", "bad \\[feed\\]"),
    ):
        (tmp_path / "zkml.toml").write_text(base + "[feed]\n" + bad + "\n")
        with pytest.raises(ConfigError, match=message):
            load_config(tmp_path)


def test_the_demo_circuit_declares_its_feed_and_a_policy_in_output_units() -> None:
    config = load_config(CIRCUITS / "mlp_regressor")
    assert config.feed is not None and config.feed.multiplier == 100 and config.feed.demo_series == "model.py:price_series"
    assert config.consumer is not None and config.consumer.bps_per_output_unit == 2000 and config.consumer.max_step_bps < 10_000
