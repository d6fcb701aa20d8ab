"""Issue 22, finding 5: the consumer's policy is bounded, in the config and in the vault's constructor.

``bps_per_output_unit = 2**256 - 2000`` used to pass the config (it had only a lower bound) and
deploy: the vault casts it to ``int256``, so its policy was inverted (+1.0 gave 3000 bps,
-1.0 gave 7000). Every policy field now has a range, the config refuses a value outside it with a
one-line error naming the field and the range, and the constructor refuses the same values
(``InvalidParameter``) for a vault deployed without the tooling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkml.config import (
    MAX_BPS_PER_OUTPUT_UNIT,
    MAX_CONSUMER_MAX_AGE,
    MAX_COOLDOWN,
    ConsumerConfig,
    load_config,
)
from zkml.errors import ConfigError, OracleRevertError, ZkmlError
from zkml.evm.rpc import transact

from .conftest import Market, World
from .steps import register_attested

INVERTED = 2**256 - 2000

ABSURD = [
    ("bps_per_output_unit", INVERTED, f"1..{MAX_BPS_PER_OUTPUT_UNIT}"),
    ("bps_per_output_unit", MAX_BPS_PER_OUTPUT_UNIT + 1, f"1..{MAX_BPS_PER_OUTPUT_UNIT}"),
    ("bps_per_output_unit", 0, f"1..{MAX_BPS_PER_OUTPUT_UNIT}"),
    ("bps_per_output_unit", -2000, f"1..{MAX_BPS_PER_OUTPUT_UNIT}"),
    ("bps_per_output_unit", 2000.5, f"1..{MAX_BPS_PER_OUTPUT_UNIT}"),
    ("neutral_bps", 10_001, "0..10000"),
    ("neutral_bps", True, "0..10000"),
    ("max_step_bps", 0, "1..10000"),
    ("max_step_bps", 2**16 + 1, "1..10000"),
    ("cooldown", -1, f"0..{MAX_COOLDOWN}"),
    ("cooldown", 2**64, f"0..{MAX_COOLDOWN}"),
    ("max_age", 0, f"1..{MAX_CONSUMER_MAX_AGE}"),
    ("max_age", 2**40, f"1..{MAX_CONSUMER_MAX_AGE}"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), ABSURD)
def test_config_refuses_an_absurd_policy(name: str, value: Any, allowed: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ConsumerConfig(**{name: value})
    message = str(info.value)
    assert isinstance(info.value, ZkmlError) and "\n" not in message
    assert f"[consumer] {name} = {value!r}" in message and allowed in message
    # The same from a zkml.toml.
    (tmp_path / "zkml.toml").write_text(f'[model]\nonnx = "m.onnx"\n[consumer]\n{name} = {str(value).lower()}\n')
    with pytest.raises(ConfigError, match=rf"\[consumer\] {name} = "):
        load_config(tmp_path)


def test_config_accepts_the_bounds() -> None:
    low = ConsumerConfig(neutral_bps=0, bps_per_output_unit=1, max_step_bps=1, cooldown=0, max_age=1)
    high = ConsumerConfig(
        neutral_bps=10_000,
        bps_per_output_unit=MAX_BPS_PER_OUTPUT_UNIT,
        max_step_bps=10_000,
        cooldown=MAX_COOLDOWN,
        max_age=MAX_CONSUMER_MAX_AGE,
    )
    assert low.bps_per_output_unit == 1 and high.cooldown == MAX_COOLDOWN


def _deploy(chain: World, model_id: bytes, neutral: int, bps: int, step: int, cooldown: int) -> str:
    """A ForecastVault deployed straight from its creation code: no config in the way (what an attacker does)."""
    from eth_abi import encode

    args = encode(["address", "bytes32", "uint16", "uint256", "uint16", "uint64"], [chain.oracle, model_id, neutral, bps, step, cooldown])
    receipt = transact(
        chain.conn, chain.owner, bytes(chain.contracts.consumer.bytecode) + args, "deploying a vault", errors=chain.contracts.errors
    )
    return str(receipt["contractAddress"])


def test_vault_constructor_refuses_an_absurd_policy(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market)
    refused = [
        ((5_000, INVERTED, 1_000, 300), "bpsPerOutputUnit must be 1..1000000"),
        ((5_000, MAX_BPS_PER_OUTPUT_UNIT + 1, 1_000, 300), "bpsPerOutputUnit must be 1..1000000"),
        ((5_000, 0, 1_000, 300), "bpsPerOutputUnit must be 1..1000000"),
        ((5_000, 2_000, 1_000, MAX_COOLDOWN + 1), f"cooldown must be 0..{MAX_COOLDOWN}"),
        ((5_000, 2_000, 1_000, 2**64 - 1), f"cooldown must be 0..{MAX_COOLDOWN}"),
        ((10_001, 2_000, 1_000, 300), "neutral share above 100%"),
        ((5_000, 2_000, 0, 300), "maxStepBps must be 1..10000"),
    ]
    for policy, reason in refused:
        with pytest.raises(OracleRevertError) as info:
            _deploy(chain, reg.model_id, *policy)
        assert info.value.error == "InvalidParameter" and info.value.values == (reason,), policy
    # The bounds themselves deploy, and the policy keeps its sign: a positive forecast raises the risky share.
    vault = _deploy(chain, reg.model_id, 5_000, MAX_BPS_PER_OUTPUT_UNIT, 10_000, MAX_COOLDOWN)
    contract = chain.conn.w3.eth.contract(address=vault, abi=chain.contracts.consumer.abi_list)
    assert contract.functions.targetFor(10**18).call() == 10_000 and contract.functions.targetFor(-(10**18)).call() == 0
    small = contract.functions.targetFor(10**13).call()  # 1e-5 of an output unit: +10 bps
    assert small == 5_010
