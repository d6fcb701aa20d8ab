"""zkml.fidelity.fidelity_metrics: the one summary of float vs circuit outputs (no ezkl)."""

from __future__ import annotations

import numpy as np
import pytest

from zkml.artifacts import Fidelity
from zkml.fidelity import fidelity_metrics


def test_errors_are_absolute_max_and_mean() -> None:
    fid = fidelity_metrics([[1.0, -2.0], [0.5, 4.0]], [[1.1, -2.0], [0.5, 3.0]])
    assert fid.samples == 2
    assert fid.max_abs_error == pytest.approx(1.0)
    assert fid.mean_abs_error == pytest.approx(1.1 / 4)
    assert fid.max_rel_error == pytest.approx(1.0 / 4.0)  # relative to the largest |float output|
    assert fid.argmax_agreement is None


def test_all_zero_outputs_make_rel_error_the_abs_error() -> None:
    fid = fidelity_metrics([[0.0], [0.0]], [[0.25], [0.0]])
    assert fid.max_rel_error == fid.max_abs_error == 0.25


def test_argmax_agreement_for_several_outputs() -> None:
    floats = [[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]
    circuit = [[0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]]
    assert fidelity_metrics(floats, circuit, classifier=True).argmax_agreement == 0.75
    assert fidelity_metrics(floats, circuit).argmax_agreement is None


def test_one_output_is_cut_at_half_for_probabilities_and_zero_for_logits() -> None:
    probabilities = [[0.2], [0.6], [0.45]]
    # 0.55 vs 0.45 crosses 0.5; a logit rule (cut at 0) would call every one of them positive.
    assert fidelity_metrics(probabilities, [[0.2], [0.6], [0.55]], classifier=True).argmax_agreement == pytest.approx(2 / 3)
    logits = [[-1.0], [2.0], [0.1]]
    assert fidelity_metrics(logits, [[-1.0], [2.0], [-0.1]], classifier=True).argmax_agreement == pytest.approx(2 / 3)


def test_float32_rows_give_the_numbers_of_their_float64_lists() -> None:
    """measure_fidelity hands over onnxruntime's float32 array; the tuner once re-read it as lists."""
    rng = np.random.default_rng(0)
    floats = rng.normal(size=(16, 3)).astype(np.float32)
    circuit = (floats + rng.normal(scale=1e-3, size=floats.shape)).tolist()
    assert fidelity_metrics(floats, circuit, classifier=True) == fidelity_metrics(floats.tolist(), circuit, classifier=True)


def test_as_dict_includes_max_rel_error() -> None:
    fid = Fidelity(samples=3, max_abs_error=0.1, mean_abs_error=0.05, argmax_agreement=None, max_rel_error=0.2)
    assert fid.as_dict() == {"samples": 3, "max_abs_error": 0.1, "mean_abs_error": 0.05, "argmax_agreement": None, "max_rel_error": 0.2}
    assert Fidelity(**fid.as_dict()) == fid
    # Manifests written before max_rel_error existed still load.
    assert Fidelity(samples=3, max_abs_error=0.1, mean_abs_error=0.05).max_rel_error == 0.0
