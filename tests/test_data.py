from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zkml.artifacts import TensorSpec
from zkml.data import Samples, check_in_range, feature_ranges, generate_around, read_samples
from zkml.errors import InputDataError

SPEC = (TensorSpec("input", (1, 4)),)


def _file(tmp_path: Path, payload: object) -> Path:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(payload))
    return path


def test_flat_nested_and_bare_forms_agree(tmp_path: Path) -> None:
    values = [0.1, 0.2, 0.3, 0.4]
    a = read_samples(_file(tmp_path, {"input_data": [values]}), SPEC)
    b = read_samples(_file(tmp_path, {"input_data": [[values]]}), SPEC)
    c = read_samples(_file(tmp_path, values), SPEC)
    for samples in (a, b, c):
        assert samples.count == 1
        np.testing.assert_allclose(samples.arrays[0], [values])


def test_several_samples(tmp_path: Path) -> None:
    samples = read_samples(_file(tmp_path, {"input_data": [list(range(12))], "targets": [0, 1, 0]}), SPEC)
    assert samples.count == 3 and samples.targets == (0.0, 1.0, 0.0)


def test_wrong_shape_says_how_many_values(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="has 5 values, not a multiple of one sample's 4"):
        read_samples(_file(tmp_path, {"input_data": [[1, 2, 3, 4, 5]]}), SPEC)


@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_non_finite_values_are_refused(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(f'{{"input_data": [[1, 2, {bad}, 4]]}}')
    with pytest.raises(InputDataError, match="NaN or inf at flat index 2"):
        read_samples(path, SPEC)


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text("{nope")
    with pytest.raises(InputDataError, match="not valid JSON"):
        read_samples(path, SPEC)


def test_wrong_number_of_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="takes 1 inputs"):
        read_samples(_file(tmp_path, {"input_data": [[1, 2, 3, 4], [1, 2, 3, 4]]}), SPEC)


def test_range_check_names_the_feature() -> None:
    calibration = Samples((np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]),))
    ranges = feature_ranges(calibration)
    check_in_range(Samples((np.array([[1.2, 0.5, -0.2, 0.0]]),)), ranges, margin=0.25)
    with pytest.raises(InputDataError, match="feature 2 of sample 0 is 5, outside the calibrated range"):
        check_in_range(Samples((np.array([[0.5, 0.5, 5.0, 0.5]]),)), ranges, margin=0.25)


def test_generated_calibration_keeps_the_originals() -> None:
    base = Samples((np.array([[1.0, 2.0, 3.0, 4.0]]),))
    out = generate_around(base, 10)
    assert out.count == 11
    np.testing.assert_allclose(out.arrays[0][0], [1, 2, 3, 4])
    assert np.std(out.arrays[0][1:], axis=0).min() > 0
