"""A tuned mlp_regressor, made once per session (about 30 s: small circuits prove in ~1 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"


@pytest.fixture(scope="session")
def tuned_mlp(mlp, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """tune() on mlp_regressor with the max abs error ezkl's default reached (3.8e-4), one finalist."""
    from zkml.config import load_config
    from zkml.tune import Budget, tune
    from zkml.workspace import Workspace

    config = load_config(CIRCUITS / "mlp_regressor")
    # The session's proved mlp workspace: the tuner reuses its export, and
    # `zkml report` finds the pipeline's fidelity.json there too.
    events = []
    result = tune(config, Workspace(mlp.workspace), Budget(max_abs_error=4e-4), finalists=1, progress=events.append)
    return result, events
