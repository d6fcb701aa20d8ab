"""The oracle model facade: one owner for the returns spec, the policy defaults and the deployment lookups."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.config import ConsumerConfig, FeedConfig
from zkml.errors import OracleError
from zkml.oracle.binding import workspace_bounds
from zkml.oracle.operations import attest, register
from zkml.oracle.oracle_model import OracleModel
from zkml.serve.build import ServeOptions, keeper_epoch_lag

from .conftest import Market, World
from .steps import ws


def test_defaults_come_from_the_config_or_its_defaults(mlp: Any) -> None:
    config = mlp.pipeline.config
    declared = OracleModel.of(mlp.pipeline)
    assert (declared.max_epoch_lag, declared.multiplier, declared.max_age) == (
        config.feed.max_epoch_lag, config.feed.multiplier, config.consumer.max_age,
    )  # fmt: skip
    bare = OracleModel.at(ws(mlp), replace(config, feed=None, consumer=None))
    assert (bare.max_epoch_lag, bare.multiplier, bare.max_age) == (
        FeedConfig().max_epoch_lag, FeedConfig().multiplier, ConsumerConfig().max_age,
    )  # fmt: skip
    spec = bare.returns_spec()
    assert (spec.window, spec.scale, spec.multiplier, spec.max_change_bps) == (
        bare.spec.sample_width, bare.spec.input_scale, 100, 0,
    )  # fmt: skip
    assert bare.bounds() == workspace_bounds(ws(mlp), bare.spec.input_scale, bare.spec.sample_width)


def test_a_workspace_without_keys_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OracleError, match="does not exist"):
        OracleModel.at(tmp_path)


def test_keeper_and_registration_resolve_the_same_lag_without_feed(market: Market, chain: World, mlp: Any) -> None:
    # The drift issue 23 found: registration defaulted to 4, the keeper to 0, for a circuit without [feed].
    config = replace(mlp.pipeline.config, feed=None)
    model = OracleModel.at(ws(mlp), config)
    reg = register(
        model, chain.conn, oracle=chain.oracle, model_id="0x" + "4c" * 32, verifier=chain.mlp_verifier,
        source=market.source, sender=chain.owner,
    )  # fmt: skip
    registered = orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert registered is not None and registered["source"].lower() == market.source.lower()
    circuit = SimpleNamespace(ws=SimpleNamespace(root=ws(mlp)), config=config)
    assert keeper_epoch_lag(circuit, ServeOptions()) == registered["max_epoch_lag"] == FeedConfig().max_epoch_lag  # type: ignore[arg-type]
    assert keeper_epoch_lag(circuit, ServeOptions(max_epoch_lag=9)) == 9  # type: ignore[arg-type]


def test_lookups_name_what_is_missing(chain: World, mlp: Any, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(ws(mlp), root, ignore=shutil.ignore_patterns("pk.key", "deployments.json"))
    model = OracleModel.at(root, mlp.pipeline.config)
    with pytest.raises(OracleError, match=f"no oracle recorded in {root} for chain {chain.conn.chain_id}"):
        model.oracle_address(chain.conn)
    assert model.oracle_address(chain.conn, chain.oracle) == chain.oracle
    assert model.recorded_source(chain.conn) is None
    assert model.model_id(chain.conn) == model.workspace.model_id_for(None)
    assert model.model_id(chain.conn, "0x" + "ab" * 32) == b"\xab" * 32


def test_attest_refuses_a_bad_epoch_before_reading_the_chain(chain: World, mlp: Any) -> None:
    from zkml.errors import AttestationError

    model = OracleModel.of(mlp.pipeline)
    with pytest.raises(AttestationError, match="epoch -1 is negative"):
        attest(mlp.pipeline, model, chain.conn, feed="0x" + "00" * 20, epoch=-1, oracle=chain.oracle)
