"""How the oracle package reads its contracts: through :mod:`zkml.evm.rpc`, errors decoded.

Every read and transaction of the oracle and its consumers passes the compiled
contracts' :class:`~zkml.evm.reverts.ErrorTable`, so a revert anywhere becomes
the same :class:`~zkml.errors.OracleRevertError` naming the contract's error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zkml.errors import OracleError
from zkml.evm.reverts import abi_type
from zkml.evm.rpc import Connection, call
from zkml.evm.solc import CompiledContract
from zkml.oracle.compile import OracleContracts

if TYPE_CHECKING:
    from web3.contract import Contract


def bind(conn: Connection, address: str, compiled: CompiledContract) -> Contract:
    """A web3 contract object (for encoding calls and reading events; it sends nothing itself)."""
    return conn.w3.eth.contract(address=conn.w3.to_checksum_address(address), abi=compiled.abi_list)


def decode_output(compiled: CompiledContract, fn_name: str, raw: bytes) -> tuple[Any, ...]:
    """The decoded return values of ``fn_name``.

    Raises:
        OracleError: the answer does not decode (another contract at that address).
    """
    from eth_abi import decode

    abi = next(item for item in compiled.abi if item.get("type") == "function" and item["name"] == fn_name)
    try:
        return tuple(decode([abi_type(o) for o in abi["outputs"]], raw))
    except Exception as exc:  # eth_abi's DecodingError family
        raise OracleError(f"{compiled.name}.{fn_name} returned {len(raw)} bytes that do not decode ({type(exc).__name__})") from exc


def view(
    conn: Connection, contracts: OracleContracts, compiled: CompiledContract, address: str, fn_name: str, *args: object, doing: str
) -> tuple[Any, ...]:
    """Call a view function of an oracle contract and decode its return values.

    Raises:
        OracleRevertError: it reverted with one of the contracts' errors.
        ChainError: the RPC failed.
    """
    contract = bind(conn, address, compiled)
    raw = call(conn, contract.address, contract.encode_abi(fn_name, args=list(args)), doing, errors=contracts.errors)
    return decode_output(compiled, fn_name, raw)


__all__ = ["bind", "decode_output", "view"]
