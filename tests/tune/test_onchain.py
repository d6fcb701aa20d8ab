"""A proved candidate's on-chain cost: its own verifier compiled, deployed on a real anvil, the proof sent."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from zkml.workspace import Layout


def test_measure_onchain_on_a_proved_circuit(mlp: Any, tmp_path: Path) -> None:
    from zkml.evm.verifier import EIP170_LIMIT
    from zkml.tune.onchain import measure_onchain, measuring_chain

    ws = Layout(mlp.pipeline.ws.root)
    work = Layout(tmp_path / "candidate")
    work.root.mkdir()
    shutil.copyfile(ws.vk, work.vk)
    shutil.copyfile(ws.proof, work.proof)
    with measuring_chain() as conn:
        cost = measure_onchain(work.root, ws.settings, mlp.pipeline.srs().path, conn)
    assert cost.accepted and cost.verify_gas is not None and cost.verify_gas > 200_000
    assert cost.runtime_bytes > 1_000 and cost.over_eip170 == (cost.runtime_bytes > EIP170_LIMIT)
    assert (work.root / "evm" / "Verifier.sol").is_file()
