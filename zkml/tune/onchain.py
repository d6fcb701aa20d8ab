"""The on-chain cost of a proved candidate: verifier size and verify gas, measured on a real anvil.

A cheaper prover is no bargain if its verifier cannot deploy: runtime code
over EIP-170 (:data:`zkml.evm.verifier.EIP170_LIMIT`) is refused on mainnet. For the tuner's finalists
(and the estimate benchmark) this renders and compiles the plain Solidity
verifier for the candidate's own verifying key, deploys it to a local anvil
started without the size limit (so an oversized one is still measured), and
sends the candidate's proof: the gas is the transaction's ``gasUsed``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.workspace import Layout

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection

log = logging.getLogger(__name__)

# anvil enforces EIP-170 unless told otherwise; measuring an oversized verifier needs the limit lifted.
NO_SIZE_LIMIT = ("--code-size-limit", "1000000")


@dataclass(frozen=True)
class OnchainCost:
    """What a verifier costs on chain.

    Attributes:
        runtime_bytes: the plain verifier's deployed code size.
        over_eip170: ``runtime_bytes`` exceeds EIP-170 (mainnet would refuse it: ``zkml run`` deploys the reusable verifier + VKA).
        verify_gas: gas of a transaction verifying the proof (None when it was not accepted).
        accepted: the verifier accepted the proof.
    """

    runtime_bytes: int
    over_eip170: bool
    verify_gas: int | None
    accepted: bool


@contextlib.contextmanager
def measuring_chain() -> Iterator[Connection]:
    """A connection to a fresh local anvil without the code-size limit, stopped on exit."""
    from zkml.evm.anvil import local_anvil
    from zkml.evm.rpc import connect

    with local_anvil(extra_args=NO_SIZE_LIMIT) as node:
        yield connect(node.url)


def measure_onchain(work: Path, settings: Path, srs: Path, conn: Connection) -> OnchainCost:
    """Generate, compile and deploy the plain verifier of the keys in ``work``, and verify ``work``'s proof with it.

    Args:
        work: a folder holding ``vk.key`` and ``proof.json`` (as :func:`zkml.tune.measure.measure_proving` leaves them).
        settings: the circuit's settings file.
        srs: the SRS the keys were made with.
        conn: a chain, e.g. from :func:`measuring_chain`.

    Raises:
        EvmError, SolcNotFoundError, ChainError: rendering, compiling or deploying failed.
    """
    from zkml.evm.deploy import deploy_verifier
    from zkml.evm.onchain import verify_onchain
    from zkml.evm.verifier import choose_verifier_kind, generate_verifier

    layout = Layout(work)
    artifact = generate_verifier(layout.vk, settings, srs, work / "evm")
    deployment = deploy_verifier(conn, artifact, work, srs_unsafe=True, srs_reason="dev-unsafe", allow_oversize=True)
    result = verify_onchain(conn, deployment.address, layout.proof, send=True)
    gas = result.gas_used or result.gas_estimate
    log.info("verifier %d runtime bytes, verify gas %s", artifact.runtime_bytes, gas)
    over = choose_verifier_kind(artifact.runtime_bytes) == "reusable"
    return OnchainCost(artifact.runtime_bytes, over, gas if result.accepted else None, result.accepted)


__all__ = ["NO_SIZE_LIMIT", "OnchainCost", "measure_onchain", "measuring_chain"]
