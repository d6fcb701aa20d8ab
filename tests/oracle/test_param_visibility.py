"""Issue 22, finding 1: an oracle model's weights are never the submitter's choice.

With ``param_visibility = "private"`` the verifying key does not fix the weights: the audit
proved a copy of mlp_regressor with 5.0 added to a bias against the honest vk, and the oracle
stored the forgery. The tooling now refuses to register such a model, with a one-line reason:

- ``fixed``: the weights are in the vk (and the verifier's code, whose hash the oracle pins): accepted;
- ``private``: refused (the submitter would choose the weights);
- ``hashed``: refused too, for now: the oracle would have to pin the parameter commitment at
  registration and check it on every submit, which it does not do yet.

The contract cannot tell fixed from private params (the instances look the same), so the
refusal is the tooling's: every registration path builds its layout with ``model_spec``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.errors import OracleError
from zkml.oracle.layout import ModelSpec, model_spec
from zkml.workspace import Layout

from .conftest import World

BASE: dict[str, Any] = {
    "model_instance_shapes": [[1, 8], [1, 1]],
    "model_input_scales": [13],
    "model_output_scales": [13],
    "module_sizes": {"poseidon": [0, [0]]},
    "run_args": {"logrows": 12, "param_scale": 13, "input_visibility": "Public", "output_visibility": "Public"},
}


def _settings(folder: Path, params: Any) -> Path:
    path = Layout(folder).settings
    path.write_text(json.dumps({**BASE, "run_args": {**BASE["run_args"], "param_visibility": params}}))
    return path


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        ("Fixed", None),
        ("Private", "param visibility is private: the verifying key does not fix the weights, so whoever proves chooses them"),
        ({"Hashed": {"hash_is_public": True, "outlets": []}}, "param visibility is hashed: the oracle does not pin a parameter"),
    ],
)
def test_each_param_visibility(tmp_path: Path, params: Any, refused: str | None) -> None:
    path = _settings(tmp_path, params)
    if refused is None:
        assert model_spec(path) == ModelSpec("public", 9, 0, 8, 8, 1, 13, input_scale=13)
        return
    with pytest.raises(OracleError) as info:
        model_spec(path)
    assert refused in str(info.value) and "\n" not in str(info.value)
    assert 'param_visibility = "fixed"' in str(info.value)


@pytest.fixture(scope="module")
def tiny_private(tiny: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny circuit with ``param_visibility = "private"``, proved: the issue's attack needs nothing more."""
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = tiny.pipeline.config.with_circuit(param_visibility="private")
    pipeline = Pipeline(config, Workspace(tmp_path_factory.mktemp("private") / "tiny_private"))
    pipeline.run()
    return pipeline


def test_a_private_param_model_is_not_registered(tiny_private: Any, chain: World) -> None:
    verifier = tiny_private.deploy(chain.conn, sender=chain.owner).address
    nonce = chain.conn.w3.eth.get_transaction_count(chain.owner.address)
    with pytest.raises(OracleError, match="param visibility is private") as info:
        orc.register_workspace(
            chain.conn, chain.oracle, Path(tiny_private.ws.root), verifier=verifier, sender=chain.owner, contracts=chain.contracts
        )
    assert "\n" not in str(info.value)
    # Refused before anything was sent.
    assert chain.conn.w3.eth.get_transaction_count(chain.owner.address) == nonce
