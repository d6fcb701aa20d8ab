"""A circuit's instance layout as the oracle binds it, from small settings files (pure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zkml.errors import OracleError
from zkml.oracle.layout import BINDING_HASHED, BINDING_PUBLIC, ZERO_ADDRESS, ModelSpec, model_spec, recorded_batch_size
from zkml.oracle.registry import CONFIG_FIELDS
from zkml.settings import read_settings
from zkml.workspace import Layout

PUBLIC: dict[str, Any] = {
    "model_instance_shapes": [[1, 8], [1, 1]],
    "model_input_scales": [13],
    "model_output_scales": [13],
    "module_sizes": {"poseidon": [0, [0]]},
    "run_args": {
        "logrows": 12,
        "param_scale": 13,
        "input_visibility": "Public",
        "output_visibility": "Public",
        "param_visibility": "Fixed",
    },
}
HASHED: dict[str, Any] = {
    **PUBLIC,
    "model_instance_shapes": [[1, 2]],
    "model_output_scales": [7],
    "module_sizes": {"poseidon": [166, [1]]},
    "run_args": {**PUBLIC["run_args"], "input_visibility": {"Hashed": {"hash_is_public": True, "outlets": []}}},
}


def _write(folder: Path, data: dict[str, Any]) -> Path:
    path = Layout(folder).settings
    path.write_text(json.dumps(data))
    return path


def _with_run_args(**run_args: Any) -> dict[str, Any]:
    return {**PUBLIC, "run_args": {**PUBLIC["run_args"], **run_args}}


def test_public_and_hashed_layouts(tmp_path: Path) -> None:
    path = _write(tmp_path, PUBLIC)
    spec = model_spec(path)
    assert spec == ModelSpec("public", 9, 0, 8, 8, 1, 13, input_scale=13) and spec.binding_code == BINDING_PUBLIC
    assert spec.sample_width == 8
    assert model_spec(read_settings(path)) == spec  # typed settings or their path
    hashed = model_spec(_write(tmp_path, HASHED))
    assert hashed == ModelSpec("hashed", 3, 0, 1, 1, 2, 7, input_scale=13) and hashed.binding_code == BINDING_HASHED


@pytest.mark.parametrize(
    ("run_args", "message"),
    [
        ({"output_visibility": "Private"}, "output visibility is private"),
        ({"input_visibility": "Private"}, "input visibility is private"),
        ({"param_visibility": "Public"}, "param visibility is public"),
        ({"output_visibility": {"Hashed": {"hash_is_public": True}}}, "output visibility is hashed"),
    ],
)
def test_visibilities_the_oracle_cannot_bind(tmp_path: Path, run_args: dict[str, Any], message: str) -> None:
    with pytest.raises(OracleError, match=message):
        model_spec(_write(tmp_path, _with_run_args(**run_args)))


def test_hashed_needs_one_public_hash(tmp_path: Path) -> None:
    private_hash = {**HASHED, "run_args": {**HASHED["run_args"], "input_visibility": {"Hashed": {"hash_is_public": False}}}}
    with pytest.raises(OracleError, match="one public Poseidon hash"):
        model_spec(_write(tmp_path, private_hash))
    # Fixed params publish no hash: a second Poseidon instance is a layout the oracle does not know.
    with pytest.raises(OracleError, match="expected 1 public Poseidon hash instance"):
        model_spec(_write(tmp_path, {**HASHED, "module_sizes": {"poseidon": [166, [2]]}}))


def test_hashed_inputs_and_hashed_params(tmp_path: Path) -> None:
    # ezkl 23 (measured): the input hash, then the param hash, then the public outputs.
    both = {**HASHED, "module_sizes": {"poseidon": [1972, [2]]}, "run_args": {**HASHED["run_args"], "param_visibility": {"Hashed": {}}}}
    spec = model_spec(_write(tmp_path, both))
    assert spec == ModelSpec("hashed", 4, 0, 1, 2, 2, 7, input_scale=13, param_offset=1, param_count=1)
    assert spec.param_instances([10, 11, 12, 13]) == (11,) and spec.input_instances([10, 11, 12, 13]) == (10,)


def test_shapes_that_do_not_match_the_public_tensors(tmp_path: Path) -> None:
    with pytest.raises(OracleError, match="do not match"):
        model_spec(_write(tmp_path, {**PUBLIC, "model_instance_shapes": [[1, 8]]}))
    with pytest.raises(OracleError, match="cannot read the circuit layout"):
        model_spec(tmp_path / "missing.json")


def test_batch_size_from_the_stamp_or_given(tmp_path: Path) -> None:
    path = _write(tmp_path, {**PUBLIC, "model_instance_shapes": [[2, 4], [2, 1]]})
    assert recorded_batch_size(tmp_path) == 1 and model_spec(path).batch_size == 1
    Layout(tmp_path).batch_stamp.write_text(json.dumps({"batch_size": 2}))
    spec = model_spec(path)
    assert spec == ModelSpec("public", 10, 0, 8, 8, 2, 13, 2, 13) and spec.sample_width == 4
    assert spec.sample_inputs(list(range(10))) == [(0, 1, 2, 3), (4, 5, 6, 7)] and spec.input_instances(list(range(10))) == tuple(range(8))
    with pytest.raises(OracleError, match="batch of 3"):
        model_spec(path, batch_size=3)
    with pytest.raises(OracleError, match="must be >= 1"):
        model_spec(path, batch_size=0)
    with pytest.raises(OracleError, match="needs public inputs"):
        model_spec(_write(tmp_path, HASHED), batch_size=2)


def test_config_tuple_is_the_solidity_struct() -> None:
    spec = ModelSpec("hashed", 3, 0, 1, 1, 2, 7)
    hashes = (b"\1" * 32, b"\2" * 32)
    assert spec.config_tuple("0xV", *hashes, 60) == ("0xV", *hashes, ZERO_ADDRESS, BINDING_HASHED, 3, 0, 1, 1, 2, 0, 0, 1, 7, 0, 60)
    attested = ModelSpec("public", 10, 1, 8, 9, 1, 13, input_scale=13, param_count=1)
    config = attested.config_tuple("0xV", *hashes, 60, source="0xS", max_epoch_lag=4)
    assert config == ("0xV", *hashes, "0xS", BINDING_PUBLIC, 10, 1, 8, 9, 1, 0, 1, 1, 13, 4, 60)
    # The tuple's order is the contract's ModelConfig struct's.
    assert len(config) == len(CONFIG_FIELDS) and CONFIG_FIELDS[3] == "source" and CONFIG_FIELDS[-2:] == ("max_epoch_lag", "max_age")
    assert CONFIG_FIELDS[10:12] == ("param_offset", "param_count")
