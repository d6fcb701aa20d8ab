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
    from zkml.artifacts import TensorSpec

    two_inputs = (TensorSpec("a", (1, 4)), TensorSpec("b", (1, 4)))
    with pytest.raises(InputDataError, match="has 1 input lists but the model takes 2 inputs"):
        read_samples(_file(tmp_path, {"input_data": [[[1, 2, 3, 4]]]}), two_inputs)
    # For a one-input model, two lists are two samples (rows), not two inputs.
    assert read_samples(_file(tmp_path, {"input_data": [[1, 2, 3, 4], [1, 2, 3, 4]]}), SPEC).count == 2


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


# -- issue 22 (item 5): size limit, unknown keys, numbers only; issue 21's two malformed inputs

MLP_SPEC = (TensorSpec("input", (1, 8)),)
EIGHT = [0.1, -0.3, 0.2, 0.05, -0.1, 0.4, 0.0, -0.2]


def test_oversize_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    # Not even JSON: the size is refused first, so a huge file is never read whole.
    path.write_text("{" + " " * 5000)
    with pytest.raises(InputDataError) as info:
        read_samples(path, SPEC, max_bytes=4096)
    message = str(info.value)
    assert str(path) in message and "5,001 bytes" in message and "4,096-byte limit" in message
    assert "\n" not in message


def test_padded_input_under_the_limit_still_names_the_unknown_key(tmp_path: Path) -> None:
    path = _file(tmp_path, {"input_data": [[0.1, 0.2, 0.3, 0.4]], "padding": "x" * 100})
    with pytest.raises(InputDataError, match=r"unknown key 'padding'.*allowed: input_data, output_data, targets"):
        read_samples(path, SPEC, max_bytes=1 << 20)


def test_max_input_bytes_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from zkml.data import DEFAULT_MAX_INPUT_BYTES, MAX_INPUT_BYTES_ENV, max_input_bytes
    from zkml.errors import ConfigError

    monkeypatch.delenv(MAX_INPUT_BYTES_ENV, raising=False)
    assert max_input_bytes() == DEFAULT_MAX_INPUT_BYTES == 4 << 20
    monkeypatch.setenv(MAX_INPUT_BYTES_ENV, "65536")
    assert max_input_bytes() == 65536
    for bad in ("lots", "-1", "100"):
        monkeypatch.setenv(MAX_INPUT_BYTES_ENV, bad)
        with pytest.raises(ConfigError, match=MAX_INPUT_BYTES_ENV):
            max_input_bytes()


def test_limit_from_the_environment_applies_by_default_to_inputs_to_prove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zkml.data import MAX_INPUT_BYTES_ENV, read_input

    path = _file(tmp_path, {"input_data": [EIGHT]})
    assert read_input(path, MLP_SPEC).count == 1
    monkeypatch.setenv(MAX_INPUT_BYTES_ENV, "1024")
    path.write_text(json.dumps({"input_data": [EIGHT]}) + " " * 1024)
    with pytest.raises(InputDataError, match="over the 1,024-byte limit"):
        read_input(path, MLP_SPEC)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"input_data": [[0.1, 0.2, 0.3, 0.4]], "pad": "x"}, r"unknown key 'pad'"),
        ({"input": [[0.1, 0.2, 0.3, 0.4]]}, r"unknown key 'input'"),
        ({"input_data": [["0.1", 0.2, 0.3, 0.4]]}, r"input 0 holds a str \('0.1'\), not a number"),
        ({"input_data": [[True, 0.2, 0.3, 0.4]]}, r"input 0 holds a bool \(True\), not a number"),
        ({"input_data": [[None, 0.2, 0.3, 0.4]]}, r"input 0 holds a NoneType \(None\), not a number"),
        ({"input_data": [[{"x": 1}, 0.2, 0.3, 0.4]]}, r"input 0 holds a dict"),
        ({"input_data": [[0.1, 0.2, 0.3, 0.4]], "targets": ["a"]}, r"targets holds a str"),
        ("just text", r"expected \{\"input_data\""),
    ],
)
def test_malformed_payloads_are_refused_in_one_line(tmp_path: Path, payload: object, match: str) -> None:
    with pytest.raises(InputDataError, match=match) as info:
        read_samples(_file(tmp_path, payload), SPEC)
    assert "\n" not in str(info.value)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"input_data": [[1, 2, 3, 4]], "input_data": [[5, 6, 7, 8]]}')
    with pytest.raises(InputDataError, match="key 'input_data' appears more than once"):
        read_samples(path, SPEC)


def test_ezkl_output_data_is_allowed_and_ignored(tmp_path: Path) -> None:
    samples = read_samples(_file(tmp_path, {"input_data": [[0.1, 0.2, 0.3, 0.4]], "output_data": [[9.0]]}), SPEC)
    assert samples.count == 1


def test_issue21_bare_list_is_one_sample_normalised_to_ezkl_format(tmp_path: Path) -> None:
    # zkml/serve/schemas.py documents the bare list as allowed: one flat sample of a one-input model.
    from zkml.data import input_payload

    samples = read_samples(_file(tmp_path, EIGHT), MLP_SPEC)
    assert samples.count == 1
    assert input_payload(samples) == {"input_data": [EIGHT]}


def test_issue21_input_nested_as_the_tensor_is_flattened(tmp_path: Path) -> None:
    # {"input_data": [[[8 values]]]}: input 0 is [[8 values]], exactly the model's (1, 8) tensor.
    from zkml.data import input_payload

    samples = read_samples(_file(tmp_path, {"input_data": [[EIGHT]]}), MLP_SPEC)
    assert samples.count == 1
    assert input_payload(samples) == {"input_data": [EIGHT]}


@pytest.mark.parametrize(
    ("nested", "shape"),
    [
        ([EIGHT[:4], EIGHT[4:]], "[2, 4]"),  # 8 values, but laid out as two rows of 4
        ([[[v] for v in EIGHT]], "[1, 8, 1]"),  # one level too deep inside the sample
        ([[EIGHT[:3], EIGHT[3:]]], None),  # ragged
    ],
)
def test_nesting_that_does_not_match_a_sample_is_refused(tmp_path: Path, nested: object, shape: str | None) -> None:
    with pytest.raises(InputDataError) as info:
        read_samples(_file(tmp_path, {"input_data": [nested]}), MLP_SPEC)
    message = str(info.value)
    assert "\n" not in message
    if shape is not None:
        assert f"nested as {shape}" in message and "one sample is [8]" in message
    else:
        assert "not a (nested) list of numbers" in message or "ragged" in message


def test_rows_of_samples_for_a_one_input_model(tmp_path: Path) -> None:
    # Issue 25: a file of B rows is B samples (a one-input model cannot mean anything else by several lists).
    from zkml.artifacts import TensorSpec
    from zkml.data import read_samples

    spec = (TensorSpec("x", (1, 4)),)
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"input_data": [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.0, 0.0, 0.0, 1.0]]}))
    samples = read_samples(path, spec)
    assert samples.count == 3 and samples.arrays[0][1].tolist() == [0.5, 0.6, 0.7, 0.8]
    two_inputs = (TensorSpec("a", (1, 4)), TensorSpec("b", (1, 4)))
    with pytest.raises(InputDataError, match="has 3 input lists but the model takes 2 inputs"):
        read_samples(path, two_inputs)
    ragged = tmp_path / "ragged.json"
    ragged.write_text(json.dumps({"input_data": [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7]]}))
    with pytest.raises(InputDataError):
        read_samples(ragged, spec)


# -- issue 21 item 4: one normaliser for files and request bodies


@pytest.mark.parametrize(
    "payload",
    [
        EIGHT,
        [EIGHT],
        [[EIGHT]],
        {"input_data": EIGHT},
        {"input_data": [EIGHT]},
        {"input_data": [[EIGHT]]},
        {"input_data": [[[EIGHT]]]},
        {"input_data": [EIGHT], "output_data": [[0.5]]},
    ],
    ids=["bare", "bare-row", "bare-tensor", "flat-input-data", "ezkl", "tensor", "tensor-with-batch-axis", "with-output-data"],
)
def test_normalise_input_gives_ezkl_form_for_every_allowed_form(payload: object) -> None:
    from zkml.data import normalise_input

    assert normalise_input(payload, MLP_SPEC) == {"input_data": [EIGHT]}


@pytest.mark.parametrize(("levels", "depth"), [(4, 4), (5, 5)])
def test_nesting_deeper_than_the_model_shape_is_refused_naming_both(levels: int, depth: int) -> None:
    from zkml.data import samples_from_payload

    nested: object = EIGHT
    for _ in range(levels):
        nested = [nested]
    with pytest.raises(InputDataError) as info:
        samples_from_payload({"input_data": nested}, MLP_SPEC, where="input")
    message = str(info.value)
    assert message.startswith("input: input 'input' is nested") and f"{depth} lists deep" in message
    assert "one sample is [8]" in message and "at most 3 levels" in message and "\n" not in message


def test_each_input_of_a_two_input_model_is_normalised_on_its_own() -> None:
    from zkml.data import normalise_input

    two = (TensorSpec("a", (1, 4)), TensorSpec("b", (1, 2, 2)))
    got = normalise_input({"input_data": [[0.1, 0.2, 0.3, 0.4], [[[1, 2], [3, 4]]]]}, two)
    assert got == {"input_data": [[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]]}
    with pytest.raises(InputDataError, match=r"one flat list of 4 values but the model takes 2 inputs \(a, b\)"):
        normalise_input([0.1, 0.2, 0.3, 0.4], two)  # a bare list is only for one-input models
    with pytest.raises(InputDataError, match="different numbers of samples"):
        normalise_input({"input_data": [[0.1, 0.2, 0.3, 0.4], [1, 2, 3, 4, 5, 6, 7, 8]]}, two)


def test_a_file_and_the_same_payload_are_read_alike(tmp_path: Path) -> None:
    # read_samples is the file reader around samples_from_payload: same result, same message but for the name.
    from zkml.data import samples_from_payload

    for payload in ({"input_data": [[EIGHT]]}, {"input_data": [[0.1] * 7 + ["x"]]}, {"input_data": [EIGHT], "pad": 1}):
        path = _file(tmp_path, payload)
        try:
            from_file = read_samples(path, MLP_SPEC).arrays[0].tolist()
        except InputDataError as exc:
            from_file = str(exc).replace(str(path), "input")
        try:
            from_payload = samples_from_payload(payload, MLP_SPEC).arrays[0].tolist()
        except InputDataError as exc:
            from_payload = str(exc)
        assert from_file == from_payload
