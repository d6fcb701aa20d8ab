"""Chains: any RPC endpoint, or a local anvil zkml starts itself.

- :func:`connect` opens an endpoint, checks it answers and (optionally) serves the
  expected chain id.
- :func:`local_anvil` runs an anvil on 127.0.0.1 for the duration of a ``with``
  block; :func:`chain_up` / :func:`chain_down` run one detached across commands,
  remembered in a state file in the user cache, which :func:`resolve_rpc_url`
  falls back to when no ``--rpc-url`` is given.
- :func:`resolve_sender` picks the account: anvil's unlocked dev accounts on dev
  chains, otherwise a key from ``$ZKML_PRIVATE_KEY`` or an encrypted keystore
  (``$ZKML_KEYSTORE`` + ``$ZKML_KEYSTORE_PASSWORD``). Keys are never CLI
  arguments (they would land in shell history and ``ps``) and never logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.errors import ChainError
from zkml.errors import AccountError, AnvilError, InsufficientFundsError, RpcUnreachableError, WrongChainError
from zkml.workspace import cache_dir, write_json_atomic

log = logging.getLogger(__name__)

DEV_CHAIN_IDS = frozenset({31337, 1337})
RECEIPT_TIMEOUT_S = 180
STATE_NAME = "anvil.json"
_GAS_MARGIN = 1.2  # estimate_gas is exact on anvil but can be low on chains whose state moves


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
    w3: Any

    @property
    def is_dev(self) -> bool:
        """True on a local development chain."""
        return is_dev_chain(self.chain_id)


def connect(rpc_url: str, *, expected_chain_id: int | None = None, timeout: float = 30.0, provider: Any = None) -> Connection:
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
    account: Any = None

    def __repr__(self) -> str:  # never show key material, even by accident in a traceback
        return f"Sender(address={self.address!r}, local={self.account is not None})"


def _account_from_env(env: Mapping[str, str]) -> Any:
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


def _is_funds_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "insufficient funds" in text or "insufficient balance" in text


def send_transaction(conn: Connection, sender: Sender, tx: dict[str, Any], *, on_sent: Any = None) -> Any:
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
            tx["gas"] = int(w3.eth.estimate_gas(tx) * _GAS_MARGIN)
        tx.update(_fee_fields(conn))
        price = tx.get("maxFeePerGas", tx.get("gasPrice", 0))
        balance = int(w3.eth.get_balance(sender.address))
        needed = tx["gas"] * price + int(tx.get("value", 0))
        if balance < needed:
            raise InsufficientFundsError(
                f"account {sender.address} has {balance} wei; the transaction may cost up to {needed} wei",
                hint=f"fund it on chain {conn.chain_id} or use another account",
            )
        if sender.account is not None:
            tx["nonce"] = w3.eth.get_transaction_count(sender.address, "pending")
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


def _send_unlocked(w3: Any, tx: dict[str, Any]) -> str:
    # Straight to the provider: web3's send_transaction makes more requests after the
    # node accepted the transaction, and losing the connection there would lose the hash.
    params = {k: (hex(v) if isinstance(v, int) else v) for k, v in tx.items()}
    response = w3.provider.make_request("eth_sendTransaction", [params])
    if "error" in response:
        message = response["error"].get("message", response["error"]) if isinstance(response["error"], dict) else response["error"]
        raise ChainError(f"the node refused the transaction: {message}")
    return str(response["result"])


def wait_for_receipt(conn: Connection, tx_hash: str, *, timeout: float = RECEIPT_TIMEOUT_S) -> Any:
    """Wait until ``tx_hash`` is mined and return its receipt.

    Raises:
        RpcUnreachableError: the endpoint stopped answering.
        ChainError: not mined within ``timeout``.
    """
    try:
        return conn.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.2)
    except Exception as exc:
        if type(exc).__name__ == "TimeExhausted":
            raise ChainError(
                f"transaction {tx_hash} was not mined within {timeout:.0f} s",
                hint="run the same command again later; zkml resumes from the recorded transaction",
            ) from exc
        raise translate_error(conn, exc, f"waiting for {tx_hash}") from exc


def get_receipt(conn: Connection, tx_hash: str) -> Any | None:
    """The receipt of ``tx_hash``, or None if the node does not know it (yet)."""
    try:
        return conn.w3.eth.get_transaction_receipt(tx_hash)
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


# --------------------------------------------------------------------------- anvil


def find_anvil() -> Path:
    """Locate the anvil binary: ``$ZKML_ANVIL``, node_modules (npm ``@foundry-rs/anvil``), PATH.

    The platform binary inside node_modules is preferred over the ``.bin/anvil``
    node wrapper, so the pid zkml records is anvil's own.

    Raises:
        AnvilError: none found.
    """
    from zkml.evm.solc import find_node_modules

    env = os.environ.get("ZKML_ANVIL")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise AnvilError(f"ZKML_ANVIL={env} does not exist")
        return path
    wrapper = find_node_modules("@foundry-rs/anvil")
    if wrapper is not None:
        for binary in sorted(wrapper.parent.glob("anvil-*/bin/anvil")):
            if os.access(binary, os.X_OK):
                return binary
        script = wrapper.parent.parent / ".bin" / "anvil"
        if script.exists():
            return script
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnvilError("anvil not found", hint="run `npm ci` in the zkml repository, install foundry, or set ZKML_ANVIL")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_chain_id(url: str, timeout: float = 2.0) -> int | None:
    """``eth_chainId`` of an endpoint over plain HTTP (no web3 import), or None if it does not answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - caller's URL
            return int(json.loads(response.read())["result"], 16)
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


@dataclass(frozen=True)
class AnvilNode:
    """A running anvil started by zkml."""

    url: str
    pid: int
    chain_id: int
    port: int
    log_path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the state file)."""
        return {
            "url": self.url,
            "pid": self.pid,
            "chain_id": self.chain_id,
            "port": self.port,
            "log": str(self.log_path) if self.log_path else None,
        }


def start_anvil(
    *,
    chain_id: int = 31337,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
    detached: bool = False,
    log_path: Path | None = None,
    startup_timeout: float = 30.0,
) -> tuple[AnvilNode, subprocess.Popen[bytes]]:
    """Start anvil on 127.0.0.1 and wait until it answers ``eth_chainId``.

    Args:
        chain_id: the chain id it serves.
        port: TCP port; a free one when None.
        extra_args: more anvil flags (``--code-size-limit`` ...).
        detached: run in its own session so it outlives this process (``chain up``).
        log_path: where anvil's output goes (discarded when None).
        startup_timeout: seconds to wait for it to answer.

    Raises:
        AnvilError: it could not be started or did not answer in time.
    """
    binary = find_anvil()
    attempts = 1 if port is not None else 3  # a free port can be taken between probe and bind
    last = ""
    for _ in range(attempts):
        chosen = port or free_port()
        args = [str(binary), "--host", "127.0.0.1", "--port", str(chosen), "--chain-id", str(chain_id), *extra_args]
        out: Any = subprocess.DEVNULL
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = log_path.open("ab")
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=detached)
        except OSError as exc:
            raise AnvilError(f"cannot run {binary}: {exc}") from exc
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        url = f"http://127.0.0.1:{chosen}"
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last = f"anvil exited with code {proc.returncode}"
                break
            if rpc_chain_id(url, timeout=1.0) == chain_id:
                log.info("anvil (pid %d) answers at %s, chain id %d", proc.pid, url, chain_id)
                return AnvilNode(url=url, pid=proc.pid, chain_id=chain_id, port=chosen, log_path=log_path), proc
            time.sleep(0.1)
        else:
            _terminate(proc)
            raise AnvilError(f"anvil did not answer at {url} within {startup_timeout:.0f} s")
    raise AnvilError(f"could not start anvil: {last}", hint="see its log, or set ZKML_ANVIL to another binary")


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def local_anvil(*, chain_id: int = 31337, extra_args: tuple[str, ...] = ()) -> Iterator[AnvilNode]:
    """Run an anvil for the duration of a ``with`` block; it is stopped on exit, even on error."""
    node, proc = start_anvil(chain_id=chain_id, extra_args=extra_args)
    try:
        yield node
    finally:
        _terminate(proc)


def _state_path() -> Path:
    return cache_dir() / STATE_NAME


def _pid_is_anvil(pid: int) -> bool:
    # Check the command line, not only that the pid exists: pids are reused, and
    # `chain down` must never signal a process zkml did not start.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): the pid is alive; trust the state file
    return b"anvil" in cmdline


def chain_status() -> AnvilNode | None:
    """The anvil started by ``chain up``, if it is still running and answering."""
    path = _state_path()
    try:
        data = json.loads(path.read_text())
        node = AnvilNode(
            url=data["url"],
            pid=int(data["pid"]),
            chain_id=int(data["chain_id"]),
            port=int(data["port"]),
            log_path=Path(data["log"]) if data.get("log") else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _pid_is_anvil(node.pid) or rpc_chain_id(node.url) != node.chain_id:
        return None
    return node


def chain_up(*, chain_id: int = 31337, port: int | None = None, extra_args: tuple[str, ...] = ()) -> tuple[AnvilNode, bool]:
    """Start a detached anvil that later commands find without ``--rpc-url``.

    Returns:
        The node, and True if it was started now (False: one was already running).
    """
    running = chain_status()
    if running is not None:
        return running, False
    node, _proc = start_anvil(chain_id=chain_id, port=port, extra_args=extra_args, detached=True, log_path=cache_dir() / "anvil.log")
    write_json_atomic(_state_path(), node.as_dict())
    return node, True


def chain_down() -> AnvilNode | None:
    """Stop the anvil started by :func:`chain_up`; returns it, or None if none was running."""
    path = _state_path()
    node = None
    try:
        data = json.loads(path.read_text())
        pid = int(data["pid"])
        node = AnvilNode(url=data["url"], pid=pid, chain_id=int(data["chain_id"]), port=int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None
    stopped = None
    if _pid_is_anvil(node.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pid_alive(node.pid):
            time.sleep(0.1)
        if _pid_alive(node.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(node.pid, signal.SIGKILL)
        stopped = node
    path.unlink(missing_ok=True)
    return stopped


def _pid_alive(pid: int) -> bool:
    # A detached anvil is not our child, so it cannot be reaped here; a zombie counts as gone.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return status != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def resolve_rpc_url(rpc_url: str | None) -> str:
    """The explicit ``--rpc-url``, else the chain started by ``zkml chain up``.

    Raises:
        ChainError: neither is available.
    """
    if rpc_url:
        return rpc_url
    node = chain_status()
    if node is not None:
        return node.url
    raise ChainError("no --rpc-url given and no local chain is running", hint="pass --rpc-url URL or run `zkml chain up`")
