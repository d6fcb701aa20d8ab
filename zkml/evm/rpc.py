"""JSON-RPC: connections, accounts, transactions, and calls whose reverts are decoded.

- :func:`connect` opens an endpoint, checks it answers and (optionally) serves the
  expected chain id.
- :func:`resolve_sender` picks the account: anvil's unlocked dev accounts on dev
  chains, otherwise a key from ``$ZKML_PRIVATE_KEY`` or an encrypted keystore
  (``$ZKML_KEYSTORE`` + ``$ZKML_KEYSTORE_PASSWORD``). Keys are never CLI
  arguments (they would land in shell history and ``ps``) and never logged.
- :func:`call`, :func:`estimate_gas` and :func:`transact` (dry-run, then send) are
  the one way zkml talks to contracts: a revert comes back as the
  :class:`~zkml.errors.ContractRevertError` an :class:`~zkml.evm.reverts.ErrorTable`
  decodes from the contracts' ABIs, a dead endpoint as :class:`RpcUnreachableError`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from zkml.errors import (
    AccountError,
    ChainError,
    ContractRevertError,
    InsufficientFundsError,
    RpcUnreachableError,
    WrongChainError,
)
from zkml.evm.reverts import BARE_REVERT, ErrorTable, builtin_errors

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from eth_typing import ChecksumAddress, HexStr
    from web3 import Web3
    from web3.providers.base import BaseProvider
    from web3.types import RPCEndpoint, TxParams, TxReceipt

log = logging.getLogger(__name__)

DEV_CHAIN_IDS = frozenset({31337, 1337})
RECEIPT_TIMEOUT_S = 180
# estimate_gas is exact on anvil but can be low on chains whose state moves between the
# dry run and inclusion; the headroom covers the storage a contract touches first.
GAS_MARGIN = 1.2
GAS_HEADROOM = 10_000


def is_dev_chain(chain_id: int) -> bool:
    """True for local development chain ids (anvil/hardhat 31337, ganache/geth-dev 1337)."""
    return chain_id in DEV_CHAIN_IDS


def redact_url(url: str) -> str:
    """The URL without path or query, which often carry an API key."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}" if rest else url


# --------------------------------------------------------------------------- connections


@dataclass(frozen=True)
class Connection:
    """An RPC endpoint that answered.

    Attributes:
        url: the endpoint (never logged unredacted: it may embed an API key).
        chain_id: the chain id it reported.
        w3: the ``web3.Web3`` instance.
    """

    url: str
    chain_id: int
    w3: Web3

    @property
    def is_dev(self) -> bool:
        """True on a local development chain."""
        return is_dev_chain(self.chain_id)


def connect(
    rpc_url: str, *, expected_chain_id: int | None = None, timeout: float = 30.0, provider: BaseProvider | None = None
) -> Connection:
    """Connect to an RPC endpoint and check it answers.

    Args:
        rpc_url: ``http(s)://`` endpoint.
        expected_chain_id: refuse the endpoint if it serves another chain.
        timeout: per-request timeout in seconds.
        provider: a web3 provider to use instead of an HTTP one (tests inject faults this way).

    Raises:
        RpcUnreachableError: nothing answered.
        WrongChainError: the chain id differs from ``expected_chain_id``.
    """
    from web3 import HTTPProvider, Web3

    w3 = Web3(provider or HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:  # requests, aiohttp, socket and web3 errors all mean the same here
        raise RpcUnreachableError(
            f"RPC endpoint {redact_url(rpc_url)} is unreachable ({type(exc).__name__})",
            hint="check --rpc-url, or start a local chain with `zkml chain up`",
        ) from exc
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise WrongChainError(
            f"{redact_url(rpc_url)} serves chain id {chain_id}, expected {expected_chain_id}",
            hint="point --rpc-url at the intended network or change --chain-id",
        )
    return Connection(url=rpc_url, chain_id=chain_id, w3=w3)


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Sender:
    """The account transactions are sent from.

    Attributes:
        address: checksummed address.
        account: an ``eth_account`` LocalAccount that signs locally, or None when the
            node holds the key (anvil's unlocked dev accounts).
    """

    address: str
    account: LocalAccount | None = None

    def __repr__(self) -> str:  # never show key material, even by accident in a traceback
        return f"Sender(address={self.address!r}, local={self.account is not None})"


def _account_from_env(env: Mapping[str, str]) -> LocalAccount | None:
    from eth_account import Account

    key = env.get("ZKML_PRIVATE_KEY", "").strip()
    if key:
        try:
            return Account.from_key(key)
        except Exception:
            # from_key's message can quote the key: do not chain it.
            raise AccountError("ZKML_PRIVATE_KEY is not a valid private key", hint="a 32-byte hex key") from None
    keystore = env.get("ZKML_KEYSTORE", "").strip()
    if keystore:
        password = env.get("ZKML_KEYSTORE_PASSWORD")
        if password is None:
            raise AccountError("ZKML_KEYSTORE is set but ZKML_KEYSTORE_PASSWORD is not")
        try:
            encrypted = json.loads(Path(keystore).expanduser().read_text())
        except (OSError, ValueError) as exc:
            raise AccountError(f"cannot read keystore {keystore}: {exc}") from exc
        try:
            return Account.from_key(Account.decrypt(encrypted, password))
        except ValueError:
            raise AccountError(f"cannot decrypt keystore {keystore}", hint="check ZKML_KEYSTORE_PASSWORD") from None
    return None


def resolve_sender(conn: Connection, *, keystore: Path | None = None, env: Mapping[str, str] | None = None) -> Sender:
    """Pick the sending account for a connection.

    ``$ZKML_PRIVATE_KEY`` or a keystore (``keystore`` argument or ``$ZKML_KEYSTORE``,
    password in ``$ZKML_KEYSTORE_PASSWORD``) wins on any chain; without one, dev
    chains use the node's first unlocked account.

    Raises:
        AccountError: no account for a non-dev chain, or the key/keystore is invalid.
    """
    env = dict(os.environ if env is None else env)
    if keystore is not None:
        env["ZKML_KEYSTORE"] = str(keystore)
    account = _account_from_env(env)
    if account is not None:
        return Sender(address=account.address, account=account)
    if conn.is_dev:
        try:
            accounts = list(conn.w3.eth.accounts)
        except Exception as exc:
            raise RpcUnreachableError(f"eth_accounts failed on {redact_url(conn.url)}: {type(exc).__name__}") from exc
        if accounts:
            return Sender(address=accounts[0])
    raise AccountError(
        f"no account to send from on chain {conn.chain_id}",
        hint="set ZKML_PRIVATE_KEY, or ZKML_KEYSTORE and ZKML_KEYSTORE_PASSWORD (keys are never CLI arguments)",
    )


# --------------------------------------------------------------------------- transactions


def _fee_fields(conn: Connection) -> dict[str, int]:
    block = conn.w3.eth.get_block("latest")
    base = block.get("baseFeePerGas")
    if base is None:
        return {"gasPrice": int(conn.w3.eth.gas_price)}
    try:
        tip = int(conn.w3.eth.max_priority_fee)
    except Exception:  # some nodes lack eth_maxPriorityFeePerGas
        tip = 1_000_000_000
    return {"maxFeePerGas": 2 * int(base) + tip, "maxPriorityFeePerGas": tip}


def _is_funds_error(problem: object) -> bool:
    text = str(problem).lower()
    return "insufficient funds" in text or "insufficient balance" in text


def send_transaction(conn: Connection, sender: Sender, tx: dict[str, Any], *, on_sent: Callable[[str], None] | None = None) -> TxReceipt:
    """Send a transaction and wait for its receipt.

    Args:
        conn: the connection.
        sender: the account.
        tx: ``to``/``data``/``value`` fields; gas, fees, nonce and chain id are filled in.
        on_sent: called with the transaction hash (``0x`` hex) as soon as the node
            accepted it, before waiting for the receipt, so callers can persist it.

    Returns:
        The receipt (a web3 AttributeDict).

    Raises:
        InsufficientFundsError: the account cannot pay for it.
        RpcUnreachableError: the endpoint stopped answering.
        ChainError: the node refused the transaction, or it was not mined in time.
    """
    w3 = conn.w3
    tx = {**tx, "from": sender.address, "chainId": conn.chain_id}
    try:
        if "gas" not in tx:
            tx["gas"] = int(w3.eth.estimate_gas(cast("TxParams", tx)) * GAS_MARGIN)
        tx.update(_fee_fields(conn))
        price = tx.get("maxFeePerGas", tx.get("gasPrice", 0))
        balance = int(w3.eth.get_balance(cast("ChecksumAddress", sender.address)))
        needed = tx["gas"] * price + int(tx.get("value", 0))
        if balance < needed:
            raise InsufficientFundsError(
                f"account {sender.address} has {balance} wei; the transaction may cost up to {needed} wei",
                hint=f"fund it on chain {conn.chain_id} or use another account",
            )
        if sender.account is not None:
            tx["nonce"] = w3.eth.get_transaction_count(cast("ChecksumAddress", sender.address), "pending")
            signed = sender.account.sign_transaction(tx)
            hex_hash = "0x" + bytes(signed.hash).hex()
            # The hash is known before sending: persist it first, so a connection lost
            # during the send still leaves the retry something to look up.
            if on_sent is not None:
                on_sent(hex_hash)
            w3.eth.send_raw_transaction(signed.raw_transaction)
        else:
            hex_hash = _send_unlocked(w3, tx)
            if on_sent is not None:
                on_sent(hex_hash)
    except ChainError as exc:
        if _is_funds_error(exc):
            raise InsufficientFundsError(str(exc.message), hint="fund the account") from exc
        raise
    except Exception as exc:
        raise translate_error(conn, exc, "sending the transaction") from exc
    log.info("sent transaction %s on chain %d", hex_hash, conn.chain_id)
    return wait_for_receipt(conn, hex_hash)


def _send_unlocked(w3: Web3, tx: dict[str, Any]) -> str:
    # Straight to the provider: web3's send_transaction makes more requests after the
    # node accepted the transaction, and losing the connection there would lose the hash.
    from web3.types import RPCEndpoint

    params = {k: (hex(v) if isinstance(v, int) else v) for k, v in tx.items()}
    response = w3.provider.make_request(RPCEndpoint("eth_sendTransaction"), [params])
    if "error" in response:
        message = response["error"].get("message", response["error"]) if isinstance(response["error"], dict) else response["error"]
        raise ChainError(f"the node refused the transaction: {message}")
    return str(response["result"])


def wait_for_receipt(conn: Connection, tx_hash: str, *, timeout: float = RECEIPT_TIMEOUT_S) -> TxReceipt:
    """Wait until ``tx_hash`` is mined and return its receipt.

    Raises:
        RpcUnreachableError: the endpoint stopped answering.
        ChainError: not mined within ``timeout``.
    """
    try:
        return conn.w3.eth.wait_for_transaction_receipt(
            cast("HexStr", tx_hash), timeout=timeout, poll_latency=0.02 if is_dev_chain(conn.chain_id) else 0.2
        )
    except Exception as exc:
        if type(exc).__name__ == "TimeExhausted":
            raise ChainError(
                f"transaction {tx_hash} was not mined within {timeout:.0f} s",
                hint="run the same command again later; zkml resumes from the recorded transaction",
            ) from exc
        raise translate_error(conn, exc, f"waiting for {tx_hash}") from exc


def get_receipt(conn: Connection, tx_hash: str) -> TxReceipt | None:
    """The receipt of ``tx_hash``, or None if the node does not know it (yet)."""
    try:
        return conn.w3.eth.get_transaction_receipt(cast("HexStr", tx_hash))
    except Exception as exc:
        if type(exc).__name__ == "TransactionNotFound":
            return None
        raise translate_error(conn, exc, f"reading the receipt of {tx_hash}") from exc


def translate_error(conn: Connection, exc: Exception, doing: str) -> ChainError:
    """Map a web3/transport exception raised while ``doing`` something to a ChainError."""
    if _is_funds_error(exc):
        return InsufficientFundsError(f"insufficient funds while {doing} on chain {conn.chain_id}", hint="fund the account")
    name = type(exc).__name__
    if isinstance(exc, (OSError, ConnectionError)) or "Connection" in name or "Timeout" in name:
        return RpcUnreachableError(
            f"RPC endpoint {redact_url(conn.url)} stopped answering while {doing} ({name})",
            hint="check the endpoint and run the command again; recorded state is intact",
        )
    return ChainError(f"chain {conn.chain_id} refused {doing}: {exc}")


def transaction_known(conn: Connection, tx_hash: str) -> bool:
    """Whether the node still knows a transaction (mined or waiting in its mempool)."""
    try:
        conn.w3.eth.get_transaction(cast("HexStr", tx_hash))
    except Exception as exc:
        if type(exc).__name__ == "TransactionNotFound":
            return False
        raise translate_error(conn, exc, f"looking up transaction {tx_hash}") from exc
    return True


def code_at(conn: Connection, address: str) -> bytes:
    """The runtime code at ``address`` (empty when no contract is there)."""
    try:
        return bytes(conn.w3.eth.get_code(conn.w3.to_checksum_address(address)))
    except Exception as exc:
        raise translate_error(conn, exc, f"reading the code at {address}") from exc


# --------------------------------------------------------------------------- contract calls


def _ask(conn: Connection, method: str, message: dict[str, Any], doing: str, errors: ErrorTable | None) -> str:
    """One ``eth_call``-like request; an error answer becomes the exception ``errors`` decodes."""
    try:
        response = conn.w3.provider.make_request(cast("RPCEndpoint", method), [message, "latest"])
    except Exception as exc:
        raise translate_error(conn, exc, doing) from exc
    if "error" in response:
        error = response["error"]
        if _is_funds_error(error):
            raise InsufficientFundsError(f"insufficient funds while {doing} on chain {conn.chain_id}", hint="fund the account")
        raise (errors or builtin_errors()).from_rpc_error(error, doing)
    return str(response["result"])


def _message(to: str | None, data: str | bytes, sender: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"data": data if isinstance(data, str) else "0x" + bytes(data).hex()}
    if to:
        message["to"] = to
    if sender:
        message["from"] = sender
    return message


def call(
    conn: Connection, to: str | None, data: str | bytes, doing: str, *, errors: ErrorTable | None = None, sender: str | None = None
) -> bytes:
    """``eth_call`` at the latest block; returns the raw return data.

    Args:
        conn: the chain.
        to: the contract (None simulates a deployment of the creation code ``data``).
        data: the calldata (``0x`` hex or bytes).
        doing: what this is, for messages (``reading the prediction``).
        errors: the called contracts' errors; Solidity's built-in ones only when None.
        sender: the ``from`` address (``msg.sender`` in the call).

    Raises:
        ContractRevertError: the call reverted (the class ``errors`` maps its error to).
        RpcUnreachableError: the endpoint did not answer.
        ChainError: the node refused the request.
    """
    return bytes.fromhex(_ask(conn, "eth_call", _message(to, data, sender), doing, errors).removeprefix("0x"))


def estimate_gas(
    conn: Connection, to: str | None, data: str | bytes, doing: str, *, errors: ErrorTable | None = None, sender: str | None = None
) -> int:
    """``eth_estimateGas`` of a call or deployment; raises as :func:`call` does."""
    return int(_ask(conn, "eth_estimateGas", _message(to, data, sender), doing, errors), 16)


def succeeded(receipt: TxReceipt, *, creation: bool = False) -> bool:
    """A mined transaction did what it was sent for (for a deployment: a contract exists)."""
    return bool(receipt["status"] == 1 and (not creation or receipt.get("contractAddress")))


def transact(
    conn: Connection,
    sender: Sender,
    data: str | bytes,
    doing: str,
    *,
    to: str | None = None,
    errors: ErrorTable | None = None,
    on_sent: Callable[[str], None] | None = None,
    check: bool = True,
) -> TxReceipt:
    """Dry-run a transaction (to surface its revert, decoded), then send it and wait for the receipt.

    Args:
        conn: the chain.
        sender: the account.
        data: calldata, or creation code when ``to`` is None.
        doing: what this is, for messages.
        to: the contract called; None deploys ``data``.
        errors: the contracts' errors (decoding the dry run's revert).
        on_sent: called with the hash once the node accepted it (see :func:`send_transaction`).
        check: raise when the mined transaction failed; False returns its receipt anyway.

    Raises:
        ContractRevertError: the dry run, or the mined transaction, reverted.
        ChainError: the RPC, account or transaction failed.
    """
    gas = estimate_gas(conn, to, data, doing, errors=errors, sender=sender.address)
    tx: dict[str, Any] = {"data": _message(None, data, None)["data"], "gas": int(gas * GAS_MARGIN) + GAS_HEADROOM}
    if to:
        tx["to"] = to
    receipt = send_transaction(conn, sender, tx, on_sent=on_sent)
    if check and not succeeded(receipt, creation=to is None):
        raise reverted(conn, sender, data, doing, receipt, to=to, errors=errors)
    return receipt


def reverted(
    conn: Connection,
    sender: Sender,
    data: str | bytes,
    doing: str,
    receipt: TxReceipt,
    *,
    to: str | None = None,
    errors: ErrorTable | None = None,
    hint: str | None = None,
) -> ContractRevertError:
    """Why a mined transaction failed although its dry run passed (the state moved in between).

    Replays it as a call to name the error; when the call passes now, the error is a bare revert.
    """
    try:
        call(conn, to, data, doing, errors=errors, sender=sender.address)
    except ContractRevertError as exc:
        return exc
    except RpcUnreachableError:
        raise
    except ChainError as exc:  # e.g. a code-size limit the node reports in its own words
        log.debug("replaying the failed transaction: %s", exc)
    table = errors or builtin_errors()
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    where = f"{doing} (tx {tx_hash} on chain {conn.chain_id}, gas used {int(receipt['gasUsed']):,})"
    return table.default(BARE_REVERT, (), where, hint=hint or "run it again")
