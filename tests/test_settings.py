"""The one reader of ezkl's settings.json, on settings files written here (no ezkl needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zkml.errors import CalibrationError
from zkml.settings import InstanceSegment, numel, pin_logrows, public_segments, read_settings, visibility_name


def _settings(tmp_path: Path, **changes: Any) -> Path:
    data: dict[str, Any] = {
        "run_args": {
            "logrows": 12,
            "param_scale": 7,
            "input_scale": 7,
            "input_visibility": "Public",
            "output_visibility": "Public",
            "param_visibility": "Fixed",
            "lookup_range": [-512, 640],
            "num_inner_cols": 2,
            "decomp_base": 256,
            "decomp_legs": 4,
        },
        "num_rows": 1500,
        "model_input_scales": [7],
        "model_output_scales": [9, 9],
        "model_instance_shapes": [[1, 8], [1, 1], [1, 3]],
        "module_sizes": {"poseidon": [0, [0]]},
    }
    for key, value in changes.items():
        if key in data["run_args"]:
            data["run_args"][key] = value
        else:
            data[key] = value
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    return path


def test_reads_every_field(tmp_path: Path) -> None:
    settings = read_settings(_settings(tmp_path))
    assert (settings.logrows, settings.param_scale, settings.num_rows) == (12, 7, 1500)
    assert settings.input_scales == (7,) and settings.output_scales == (9, 9)
    assert (settings.input_visibility, settings.output_visibility, settings.param_visibility) == ("public", "public", "fixed")
    assert settings.instance_shapes == ((1, 8), (1, 1), (1, 3))
    assert settings.lookup_range == (-512, 640)
    assert (settings.num_inner_cols, settings.decomp_base, settings.decomp_legs) == (2, 256, 4)
    assert len(settings.sha256) == 64


def test_public_segments_lay_out_inputs_then_outputs(tmp_path: Path) -> None:
    segments = public_segments(read_settings(_settings(tmp_path)))
    assert segments == (
        InstanceSegment("input", 7, 0, 8),
        InstanceSegment("output", 9, 8, 1),
        InstanceSegment("output", 9, 9, 3),
    )


def test_hashed_inputs_publish_no_input_segment(tmp_path: Path) -> None:
    path = _settings(
        tmp_path,
        input_visibility={"Hashed": {"hash_is_public": True, "outlets": []}},
        model_instance_shapes=[[1, 1], [1, 3]],
        module_sizes={"poseidon": [10, [1]]},
    )
    settings = read_settings(path)
    assert settings.input_visibility == "hashed" and settings.input_hash_public and settings.poseidon_instances == 1
    # The input hash comes first: the outputs start after it.
    assert public_segments(settings) == (InstanceSegment("output", 9, 1, 1), InstanceSegment("output", 9, 2, 3))


def test_param_hashes_come_before_the_values(tmp_path: Path) -> None:
    path = _settings(tmp_path, param_visibility={"Hashed": {"hash_is_public": True, "outlets": []}}, module_sizes={"poseidon": [10, [1]]})
    settings = read_settings(path)
    assert settings.poseidon_instances == 1
    assert [s.offset for s in public_segments(settings)] == [1, 9, 10]


def test_shapes_that_do_not_match_the_public_tensors_are_refused(tmp_path: Path) -> None:
    settings = read_settings(_settings(tmp_path, model_instance_shapes=[[1, 8]]))
    with pytest.raises(CalibrationError, match="instance tensors"):
        public_segments(settings)


def test_not_settings_is_a_calibration_error(tmp_path: Path) -> None:
    bad = tmp_path / "settings.json"
    bad.write_text('{"no": "run_args"}')
    with pytest.raises(CalibrationError, match="not an ezkl settings file"):
        read_settings(bad)


def test_pin_logrows_refuses_too_few_rows(tmp_path: Path) -> None:
    path = _settings(tmp_path)
    pin_logrows(path, 11)
    assert read_settings(path).logrows == 11
    with pytest.raises(CalibrationError, match="needs 1500 rows"):
        pin_logrows(path, 10)


def test_helpers() -> None:
    assert numel((2, 3, 4)) == 24 and numel(()) == 1
    assert visibility_name("Public") == "public" and visibility_name({"Hashed": {}}) == "hashed"
