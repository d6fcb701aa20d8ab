"""Which chain a command talks to: the one owner of that decision.

The order is fixed: an explicit URL (``--rpc-url``), else ``$ZKML_RPC_URL``,
else the chain ``zkml chain up`` left running, else (only where the caller
allows it, as ``zkml run`` does) an anvil started for the duration. Every CLI
command, the run's flow, the service and its keeper resolve their chain here,
so they cannot disagree about it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from zkml.errors import ChainError

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection

# The only place zkml reads the endpoint from the environment.
RPC_URL_ENV = "ZKML_RPC_URL"


def configured_url(explicit: str | None = None) -> str | None:
    """The endpoint the user chose, if any: ``explicit``, else ``$ZKML_RPC_URL``, else the ``zkml chain up`` chain."""
    from zkml.evm.anvil import chain_status

    if explicit:
        return explicit
    from_env = os.environ.get(RPC_URL_ENV, "").strip()
    if from_env:
        return from_env
    running = chain_status()
    return running.url if running else None


def chain_url(explicit: str | None = None) -> str:
    """The endpoint for work that outlives this process (a service's binding): never an embedded anvil.

    Raises:
        ChainError: no URL given, none in ``$ZKML_RPC_URL`` and no ``zkml chain up`` chain.
    """
    url = configured_url(explicit)
    if url is None:
        raise ChainError(
            f"no --rpc-url given, ${RPC_URL_ENV} is unset and no local chain is running",
            hint=f"pass --rpc-url URL, set {RPC_URL_ENV}, or run `zkml chain up`",
        )
    return url


@contextlib.contextmanager
def chain_context(explicit: str | None = None, *, expected_chain_id: int | None = None, embedded: bool = False) -> Iterator[Connection]:
    """A connection to the resolved chain, open for the ``with`` block.

    Args:
        explicit: the ``--rpc-url`` the user gave, if any.
        expected_chain_id: refuse an endpoint serving another chain id.
        embedded: with no chain configured, start an anvil for the block and stop it
            afterwards (``zkml run``); otherwise that case raises :class:`ChainError`.

    Raises:
        ChainError: no chain (and ``embedded`` is False), or the endpoint is unreachable or the wrong chain.
    """
    from zkml.evm.anvil import local_anvil
    from zkml.evm.rpc import connect

    with contextlib.ExitStack() as stack:
        url = configured_url(explicit)
        if url is None:
            url = stack.enter_context(local_anvil()).url if embedded else chain_url(None)
        yield connect(url, expected_chain_id=expected_chain_id)
