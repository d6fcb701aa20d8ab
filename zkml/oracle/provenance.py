"""Walk from an on-chain prediction back through every link to the files it came from.

:func:`walk` starts at a prediction id or the hash of the transaction that
submitted it and checks, in order::

    oracle code -> prediction (stored, its tx) -> registration -> verifier code (code hash)
    -> compiled verifier (workspace) -> verifying key -> keys -> settings -> model id
    -> SRS -> ONNX -> feature source -> inputs (recomputed from the feed) -> proof (re-verified)
    [-> rederived vk -> rederived verifier]   (``rederive=True``)

Each link is checked (``ok``), checked with a caveat (``warning``) or ``broken``
with the values it compared. The chain links are in :mod:`zkml.oracle.provenance_chain`,
the workspace links in :mod:`zkml.oracle.provenance_links`. The walk re-derives what the oracle enforced
(code hash, attested inputs, the proof, the decoded outputs) from the chain and
the submit transaction itself, so it relies on the oracle's code only for having
stored the record; the oracle's code is compared with the one zkml compiles, and a
difference is a warning. The ONNX link reads the workspace manifest's records (the
walk's ``trusts`` says so); ``rederive=True`` adds the links of
:mod:`zkml.oracle.rederive`, which recompile the model and compare what that gives
with the vk and the code on chain.

Nothing is printed and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from zkml.errors import OracleError, ZkmlError
from zkml.evm.rpc import Connection, get_receipt, translate_error
from zkml.oracle.calls import bind
from zkml.oracle.compile import OracleContracts, compile_contracts
from zkml.oracle.encoding import hex32
from zkml.oracle.history import published_log
from zkml.oracle.provenance_chain import (
    Context,
    Sample,
    Submission,
    SubmitCall,
    inputs_links,
    oracle_link,
    prediction_link,
    proof_link,
    registration_link,
    verifier_code_link,
)
from zkml.oracle.provenance_links import (
    WORKSPACE_LINKS,
    Link,
    WorkspaceFiles,
    broken,
    candidate_workspaces,
    find_workspace,
    short,
    workspace_links,
)
from zkml.oracle.rederive import REDERIVE_LINKS, TRUSTS_FAST, TRUSTS_REDERIVE, rederive_links

if TYPE_CHECKING:
    from eth_typing import HexStr
    from web3.contract import Contract
    from web3.types import TxData

SUBMIT_FUNCTIONS = ("submit", "submitWithVka", "submitAttested", "submitAttestedWithVka")


@dataclass(frozen=True)
class Walk:
    """The result of a provenance walk: ``ok`` unless a link is broken."""

    oracle: str
    chain_id: int
    submission: Submission
    samples: tuple[Sample, ...]
    workspace: Path | None
    found_by: str = ""
    links: tuple[Link, ...] = field(default_factory=tuple)
    trusts: str = TRUSTS_FAST

    @property
    def ok(self) -> bool:
        """No link is broken (warnings pass)."""
        return all(link.ok for link in self.links)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``zkml provenance --json``)."""
        return {
            "oracle": self.oracle,
            "chain_id": self.chain_id,
            "prediction": self.samples[0].as_dict(),
            "predictions": [s.as_dict() for s in self.samples],
            "tx": self.submission.as_dict(),
            "workspace": str(self.workspace) if self.workspace else None,
            "workspace_found_by": self.found_by,
            "links": [link.as_dict() for link in self.links],
            "trusts": self.trusts,
            "ok": self.ok,
        }


# --------------------------------------------------------------------------- finding the submission


def _sample(args: Mapping[str, Any]) -> Sample:
    return Sample(
        bytes(args["modelId"]), bytes(args["predictionId"]), int(args["epoch"]), bytes(args["inputCommitment"]),
        tuple(int(v) for v in args["values"]), int(args["dataTimestamp"]), int(args["expiresAt"]), str(args["submitter"]),
    )  # fmt: skip


def _decode_call(contract: Contract, tx: TxData) -> SubmitCall | None:
    """The submit call of a transaction sent straight to the oracle (None for anything else)."""
    to = str(tx.get("to") or "")
    if to.lower() != contract.address.lower():
        return None
    try:
        fn, args = contract.decode_function_input(tx["input"])
    except Exception:  # web3's Web3ValueError (unknown selector) or eth-abi's DecodingError: not a submit call
        return None
    if fn.fn_name not in SUBMIT_FUNCTIONS:
        return None
    return SubmitCall(
        fn.fn_name, bytes(args["modelId"]), tuple(int(e) for e in args.get("epochs", ())), bytes(args["proof"]),
        tuple(int(v) for v in args["instances"]), tuple(bytes(w) for w in args.get("vka", ())),
    )  # fmt: skip


def find_submission(conn: Connection, oracle: str, ident: bytes, *, contracts: OracleContracts | None = None) -> Submission:
    """The submit transaction behind ``ident``: a transaction hash, else a prediction id found in the oracle's logs.

    Raises:
        OracleError: no such transaction or prediction on this oracle, or the transaction published nothing there.
        ChainError: the RPC failed (a provider that caps ``eth_getLogs`` ranges refuses a search from block 0).
    """
    from web3.logs import DISCARD

    contracts = contracts or compile_contracts()
    contract = bind(conn, oracle, contracts.oracle)
    receipt = get_receipt(conn, hex32(ident))
    named = None
    if receipt is None:
        log = published_log(conn, contract, ident)
        if log is None:
            raise OracleError(
                f"{hex32(ident)} is neither a transaction nor a prediction published on oracle {contract.address} (chain {conn.chain_id})",
                hint="pass a prediction id or the hash of the transaction that submitted it, and the oracle it was published on",
            )
        named = bytes(ident)
        receipt = get_receipt(conn, hex32(bytes(log["transactionHash"])))
        if receipt is None:
            raise OracleError(f"the transaction of prediction {hex32(ident)} has no receipt on chain {conn.chain_id}")
    events = contract.events.PredictionPublished().process_receipt(receipt, errors=DISCARD)
    published = tuple(_sample(e["args"]) for e in events if str(e["address"]).lower() == contract.address.lower())
    tx_hash = hex32(bytes(receipt["transactionHash"]))
    if not published:
        raise OracleError(
            f"transaction {tx_hash} published no prediction on oracle {contract.address}", hint="is it a submit to this oracle?"
        )
    try:
        tx = conn.w3.eth.get_transaction(cast("HexStr", tx_hash))
    except Exception as exc:
        raise translate_error(conn, exc, f"reading transaction {tx_hash}") from exc
    to = str(tx.get("to") or "")
    return Submission(tx_hash, int(receipt["blockNumber"]), str(tx["from"]), to, _decode_call(contract, tx), published, named)


# --------------------------------------------------------------------------- the walk


def _workspace(ctx: Context, workspace: Path | None, search: Sequence[Path], runtime: str | None) -> tuple[WorkspaceFiles | None, str]:
    """The workspace to walk and how it was chosen: the given one, else the one found under ``search``.

    Returns:
        The workspace (None when none matches) and how it was chosen, or why none was.
    """
    if workspace is not None:
        return WorkspaceFiles(workspace), "given"
    found, how = find_workspace(candidate_workspaces(search), ctx.model_id, ctx.source, runtime)
    if found is not None:
        return WorkspaceFiles(found), how
    where = ", ".join(f"{p}/*/" for p in search) or "nowhere"
    return None, f"no workspace under {where} has model id {short(ctx.model_id)} or its verifier's code (pass --workspace DIR)"


def walk(
    conn: Connection,
    oracle: str,
    ident: bytes,
    *,
    workspace: Path | None = None,
    search: Sequence[Path] = (Path("build"),),
    allow_unattested: bool = False,
    rederive: bool = False,
    contracts: OracleContracts | None = None,
) -> Walk:
    """Walk from a prediction (its id, or its submit transaction's hash) through every link to the workspace's files.

    Args:
        conn: the chain.
        oracle: the oracle the prediction was published on.
        ident: a prediction id or a submit transaction hash (32 bytes).
        workspace: the workspace the model was built in; searched for under ``search`` when None.
        search: folders that are, or hold (``build/*/``), workspaces.
        allow_unattested: an unattested model's inputs are a warning instead of a broken link.
        rederive: also recompile model.onnx and re-derive the vk and the verifier (seconds, not
            milliseconds) instead of trusting the manifest for that link.
        contracts: compiled contracts.

    Raises:
        OracleError: no such prediction or transaction on this oracle.
        ChainError: the RPC failed.
    """
    from zkml.oracle.registry import read_model

    contracts = contracts or compile_contracts()
    oracle = conn.w3.to_checksum_address(oracle)
    submission = find_submission(conn, oracle, ident, contracts=contracts)
    samples = submission.walked()
    model_id = samples[0].model_id
    ctx = Context(conn, oracle, contracts, submission, model_id, read_model(conn, oracle, model_id, contracts=contracts))
    now = int(conn.w3.eth.get_block("latest")["timestamp"])
    links = [oracle_link(ctx)]
    links += [
        prediction_link(ctx, s, "prediction" if len(samples) == 1 else f"prediction @{s.epoch or i}", now) for i, s in enumerate(samples)
    ]
    links.append(registration_link(ctx))
    code_link, runtime = verifier_code_link(ctx)
    links.append(code_link)
    files, how = _workspace(ctx, workspace, search, runtime)
    vka = (ctx.registration or {}).get("vka_digest")
    vka = vka if vka and int.from_bytes(vka, "big") else None
    if files is None:
        links += [broken(name, f"unchecked: {how}") for name in WORKSPACE_LINKS]
    else:
        links += workspace_links(files, runtime_sha256=runtime, model_id=model_id, source=ctx.source, vka_digest=vka,
                                 dev_chain=conn.is_dev, chain_id=conn.chain_id)  # fmt: skip
    links += inputs_links(ctx, samples, input_scale=_input_scale(files), allow_unattested=allow_unattested)
    links.append(proof_link(ctx, code_ok=code_link.ok))
    if rederive:
        if files is None:
            links += [broken(name, f"unchecked: {how}") for name in REDERIVE_LINKS]
        else:
            links += rederive_links(files, runtime_sha256=runtime, vka_digest=vka)
    root = files.root if files else None
    return Walk(oracle, conn.chain_id, submission, samples, root, how, tuple(links), TRUSTS_REDERIVE if rederive else TRUSTS_FAST)


def _input_scale(files: WorkspaceFiles | None) -> int | None:
    """The workspace circuit's input scale (what its feature source must quantize with), None when unknown."""
    from zkml.oracle.layout import model_spec

    if files is None:
        return None
    try:
        return model_spec(files.layout.settings).input_scale
    except ZkmlError:
        return None
