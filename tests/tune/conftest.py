"""A tuned mlp_regressor, made once per session (about 30 s: small circuits prove in ~1 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"


@pytest.fixture(scope="session")
def tuned_mlp(mlp, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """tune() on mlp_regressor with the max abs error ezkl's default reached (3.8e-4), one finalist."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.tune import Budget, tune
    from zkml.workspace import Workspace

    config = load_config(CIRCUITS / "mlp_regressor")
    # Its own workspace, not the shared `mlp` one: a tuned.json there would
    # change what later pipelines on that workspace calibrate. (`mlp` is
    # requested so the session's SRS cache is set up once, the same way.)
    workspace = Workspace(tmp_path_factory.mktemp("tuned") / config.name)
    events: list[object] = []
    result = tune(Pipeline(config, workspace), Budget(max_abs_error=4e-4), finalists=1, progress=events.append, onchain=True)
    return result, events
