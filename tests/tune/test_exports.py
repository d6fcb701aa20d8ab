"""zkml.tune's lazy exports: every public name resolves, and importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

NAMES = (
    "tune",
    "Budget",
    "apply_tuned",
    "read_tuned",
    "measure_baseline",
    "TunableCircuit",
    "measure_proving",
    "read_candidates",
    "Candidate",
    "Knobs",
    "TuneEvent",
    "TuneResult",
    "load_budget",
    "BudgetUnreachableError",
)


def test_public_names_resolve() -> None:
    import zkml.tune
    from zkml.errors import BudgetUnreachableError

    for name in NAMES:
        assert getattr(zkml.tune, name) is not None
        assert name in dir(zkml.tune) and name in zkml.tune.__all__
    assert zkml.tune.BudgetUnreachableError is BudgetUnreachableError
    with pytest.raises(AttributeError, match="FidelityMetrics"):
        zkml.tune.FidelityMetrics  # noqa: B018  (replaced by zkml.artifacts.Fidelity)


def test_importing_the_package_loads_no_submodule() -> None:
    code = "import sys, zkml.tune; print(sorted(m for m in sys.modules if m.startswith(('zkml.', 'numpy', 'ezkl'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "zkml.tune." not in loaded and "numpy" not in loaded and "ezkl" not in loaded
