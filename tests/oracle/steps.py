"""Steps the oracle tests share: register, publish, submit raw calldata, deploy a vault, move time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zkml import oracle as orc
from zkml.evm.onchain import read_proof
from zkml.evm.rpc import transact
from zkml.workspace import Layout

from .conftest import World


def ws(circuit: Any) -> Path:
    return Path(circuit.pipeline.ws.root)


def proof_of(circuit: Any) -> Path:
    return Layout(ws(circuit)).proof


def register(w: World, circuit: Any, verifier: str, **kwargs: Any) -> orc.Registration:
    return orc.register_workspace(w.conn, w.oracle, ws(circuit), verifier=verifier, sender=w.owner, contracts=w.contracts, **kwargs)


def publish(w: World, model_id: bytes, proof: Path, **kwargs: Any) -> orc.Publication:
    return orc.publish(w.conn, w.oracle, model_id, proof, sender=w.owner, contracts=w.contracts, **kwargs)


def send(w: World, data: str, doing: str) -> Any:
    """Send calldata to the oracle as the owner, errors decoded (what a hand-made transaction meets)."""
    return transact(w.conn, w.owner, data, doing, to=w.oracle, errors=w.contracts.errors)


def submit_raw(w: World, model_id: bytes, proof: Path, instances: list[int]) -> None:
    """Submit with substituted instances (what an attacker controls)."""
    contract = w.conn.w3.eth.contract(address=w.oracle, abi=w.contracts.oracle.abi_list)
    send(w, orc.submit_calldata(contract, model_id, read_proof(proof), instances=instances), "submitting the proof")


def vault(w: World, model_id: bytes, folder: Path) -> str:
    return orc.deploy_consumer(w.conn, w.oracle, model_id, folder, sender=w.owner, contracts=w.contracts).address


def increase_time(w: World, seconds: int) -> None:
    w.conn.w3.provider.make_request("evm_increaseTime", [seconds])
    w.conn.w3.provider.make_request("evm_mine", [])
