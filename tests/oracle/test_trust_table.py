"""Lines of the trust table (verifier_contracts/README.md, "Who can do what") no other test showed."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.errors import OracleRevertError
from zkml.evm.rpc import Connection, Sender, transact
from zkml.oracle.compile import compile_contracts
from zkml.oracle.feed import deploy_feed, latest_epoch, push_prices


def test_only_the_feed_owner_pushes_on_chain(conn: Connection, tmp_path: Path) -> None:
    contracts = compile_contracts()
    feed = deploy_feed(conn, tmp_path).address
    push_prices(conn, feed, [100])
    stranger = Sender(list(conn.w3.eth.accounts)[1])
    bound = conn.w3.eth.contract(address=feed, abi=contracts.feed.abi_list)
    # A hand-made transaction from anyone but the owner (the tooling refuses it before sending).
    for data in (bound.encode_abi("push", args=[101]), bound.encode_abi("pushMany", args=[[101, 102]])):
        with pytest.raises(OracleRevertError) as info:
            transact(conn, stranger, data, "pushing as a stranger", to=feed, errors=contracts.errors)
        assert info.value.error == "NotOwner" and info.value.values[0].lower() == stranger.address.lower()
    assert latest_epoch(conn, feed) == 1
