"""Calibration where ezkl's fails: a causal self-attention block whose -1e5 mask no default scale fits.

The export factors such a mask out of the softmax (:mod:`zkml.rewrite.softmax`,
``tests/rewrite/test_softmax.py``), after which ezkl's own calibration fits;
these tests turn the rewrites off (``ZKML_NO_REWRITES``) so that the -1e5
reaches ezkl's Exp table and only the search finds settings, as it must for
any large constant the rewrites do not cover.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from zkml.errors import CalibrationError

MODEL = textwrap.dedent(
    '''
    import torch
    from torch import nn


    class CausalSelfAttention(nn.Module):
        """Two heads over 4 tokens of width 8; future positions masked with a large additive constant."""

        def __init__(self, width=8, heads=2, tokens=4, mask=-1e5):
            super().__init__()
            torch.manual_seed(0)
            self.q, self.k, self.v, self.o = (nn.Linear(width, width) for _ in range(4))
            self.heads = heads
            self.register_buffer("mask", torch.triu(torch.full((tokens, tokens), mask), 1))

        def forward(self, x):
            b, t, d = x.shape
            def split(y):
                return y.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            att = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5 + self.mask, dim=-1)
            return self.o((att @ v).transpose(1, 2).reshape(b, t, d))


    def build():
        return CausalSelfAttention().eval()


    def example_input():
        torch.manual_seed(1)
        return torch.randn(1, 4, 8)
    '''
)


@pytest.fixture(autouse=True)
def _no_rewrites(monkeypatch: pytest.MonkeyPatch) -> None:
    from zkml.rewrite import NO_REWRITES_ENV

    monkeypatch.setenv(NO_REWRITES_ENV, "1")


@pytest.fixture(scope="module")
def attention(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A circuit folder: the attention block, one input, calibration and held-out data (seeded)."""
    import numpy as np

    folder = tmp_path_factory.mktemp("attention")
    (folder / "model.py").write_text(MODEL)
    rng = np.random.default_rng(0)
    for name, count in (("input.json", 1), ("calibration.json", 32), ("holdout.json", 32)):
        (folder / name).write_text(json.dumps({"input_data": [rng.normal(size=count * 32).tolist()]}))
    (folder / "zkml.toml").write_text(
        textwrap.dedent(
            """
            name = "attention"
            [model]
            factory = "model.py:build"
            example_input = "model.py:example_input"
            [data]
            input = "input.json"
            calibration = "calibration.json"
            holdout = "holdout.json"
            """
        )
    )
    return folder


def test_bare_ezkl_calibration_fails_on_the_attention_block(attention: Path, tmp_path: Path) -> None:
    """The premise, checked rather than assumed: ezkl's default calibration finds nothing."""
    from zkml.calibrate import calibrate
    from zkml.config import CircuitSettings, load_config
    from zkml.pipeline import Pipeline
    from zkml.tune.fallback import NO_PARAMETERS
    from zkml.workspace import Workspace

    model = Pipeline(load_config(attention), Workspace(tmp_path / "ws")).export()
    with pytest.raises(CalibrationError, match=NO_PARAMETERS):
        calibrate(model, attention / "calibration.json", tmp_path / "settings.json", CircuitSettings())


@pytest.mark.slow  # ~90 s: the search measures circuits of logrows ~20 (the -1e5 mask's Exp table)
def test_the_pipeline_falls_back_to_the_tuners_search(attention: Path, tmp_path: Path) -> None:
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    pipeline = Pipeline(load_config(attention), Workspace(tmp_path / "ws"))
    circuit = pipeline.compile()
    note = pipeline.settings_note
    assert note["settings"].startswith("searched (") and "ezkl's calibration found none" in note["settings"]
    assert circuit.settings.logrows <= 26
    fidelity = pipeline.fidelity
    assert fidelity is not None and fidelity.samples == 32
    # Coarse (the mask forces a low scale) but not meaningless: an all-zero circuit would be off by 100 %.
    assert fidelity.max_rel_error < 1.0
    # Reused from the manifest the second time, with the same note.
    again = Pipeline(load_config(attention), Workspace(tmp_path / "ws"))
    again.calibrate()
    assert again.settings_note["settings"] == note["settings"]


def test_other_calibration_failures_are_not_searched(tmp_path: Path) -> None:
    """A pinned scale is the user's choice: a failure with it is reported, not searched around."""
    from zkml.config import CircuitSettings
    from zkml.tune.auto import SettingsChoice
    from zkml.tune.fallback import calibrate_or_search
    from zkml.tune.workbench import Prepared

    class Model:
        path = tmp_path / "missing.onnx"

    prepared = Prepared(Model(), tmp_path / "input.json")  # type: ignore[arg-type]
    choice = SettingsChoice(CircuitSettings(input_scale=7), "default", None, None, prepared)  # type: ignore[arg-type]
    with pytest.raises(CalibrationError):
        calibrate_or_search(tmp_path / "cal.json", tmp_path / "s.json", choice)
