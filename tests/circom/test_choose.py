"""Choosing a backend by the stated objective, on rows measured by benchmarks/backends.py; the config key."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.circom.choose import BackendMeasurement, choose_backend
from zkml.config import CircuitConfig, load_config
from zkml.errors import ConfigError

# mlp_regressor, B=1, from benchmarks/results/backends.json (circom rows measured in that run; the
# halo2 row cited there from tuned.json, tune_all and evm_gas). Fidelity: max abs error on holdout.json.
MLP_ROWS = (
    BackendMeasurement("halo2", 0.000378, 0.34, 546_961),
    BackendMeasurement("groth16", 0.000378, 1.45, 275_683),
    BackendMeasurement("plonk", 0.000378, 5.11, 309_584),
    BackendMeasurement("fflonk", 0.000378, 5.4, 229_587),
)
BUDGET = 0.000378072  # circuits/mlp_regressor/tuned.json: the default calibration's own held-out error


def test_auto_takes_the_cheapest_gas_within_the_prove_time_cap() -> None:
    choice = choose_backend(MLP_ROWS, max_abs_error=BUDGET)
    # The fastest is halo2 at 0.34 s: a 10x cap of 3.4 s leaves out FFLONK (cheapest gas) and PLONK.
    assert choice.backend == "groth16"
    assert "\n" not in choice.reason and choice.reason.startswith("groth16: 275,683 verify gas")
    assert "fflonk 229,587 gas (5.4 s > cap)" in choice.reason


def test_a_looser_cap_lets_the_cheapest_verifier_win() -> None:
    assert choose_backend(MLP_ROWS, max_abs_error=BUDGET, prove_time_multiple=50).backend == "fflonk"


def test_a_backend_outside_the_budget_is_never_chosen() -> None:
    rows = (*MLP_ROWS[:3], BackendMeasurement("fflonk", 0.01, 5.4, 229_587))
    choice = choose_backend(rows, max_abs_error=BUDGET, prove_time_multiple=50)
    assert choice.backend == "groth16" and "fflonk 229,587 gas (error 0.01 > budget)" in choice.reason
    with pytest.raises(ConfigError, match="no backend meets max abs error 1e-06"):
        choose_backend(MLP_ROWS, max_abs_error=1e-6)


def test_a_pinned_backend_is_taken_if_measured() -> None:
    assert choose_backend(MLP_ROWS, max_abs_error=BUDGET, requested="plonk").backend == "plonk"
    with pytest.raises(ConfigError, match="'plonk' was not measured"):
        choose_backend(MLP_ROWS[:2], max_abs_error=BUDGET, requested="plonk")


def test_a_measurement_must_be_of_a_real_backend() -> None:
    with pytest.raises(ConfigError):
        BackendMeasurement("auto", 0.0, 1.0, 1)
    with pytest.raises(ConfigError):
        BackendMeasurement("halo2", 0.0, 0.0, 1)


def _toml(folder: Path, backend: str | None) -> Path:
    line = f'backend = "{backend}"\n' if backend is not None else ""
    (folder / "zkml.toml").write_text(f'name = "m"\n[model]\nonnx = "m.onnx"\n[circuit]\n{line}')
    return folder


def test_the_config_reads_and_checks_the_backend(tmp_path: Path) -> None:
    assert load_config(_toml(tmp_path, None)).backend == "halo2"  # what `zkml run` does today
    for name in ("auto", "groth16", "fflonk", "plonk"):
        assert load_config(_toml(tmp_path, name)).backend == name
    with pytest.raises(ConfigError, match="backend = 'stark' is unknown") as raised:
        load_config(_toml(tmp_path, "stark"))
    assert "\n" not in raised.value.message
    with pytest.raises(ConfigError):
        CircuitConfig(name="m", root=tmp_path, onnx=tmp_path / "m.onnx", backend="Groth16")


def test_rows_of_the_backends_table_become_measurements() -> None:
    from zkml.circom.choose import measurements_from_rows

    rows = [
        {"model": "mlp_regressor", "backend": "halo2", "fidelity": 0.000378, "prove_s": 0.34, "verify_gas": 546961},
        {"model": "mlp_regressor", "backend": "fflonk", "fidelity": 0.000378, "prove_s": 5.4, "verify_gas": 229587},
        {"model": "mlp_regressor", "backend": "circom (all)", "takes": "no: ..."},
        {"model": "cnn_classifier", "backend": "halo2", "fidelity": 0.00159, "prove_s": 2.36, "verify_gas": 603634},
        {"model": "mlp_regressor", "backend": "plonk", "fidelity": 0.000378, "prove_s": 5.11, "verify_gas": ""},  # no gas cited
    ]
    assert [m.backend for m in measurements_from_rows(rows, "mlp_regressor")] == ["halo2", "fflonk"]
