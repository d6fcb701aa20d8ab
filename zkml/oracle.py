"""The verified-prediction oracle: deploy, register models, publish proofs, read predictions.

The contracts live in ``verifier_contracts/`` (see its README for the on-chain rules):

- ``VerifiedPredictionOracle`` stores a model output once a registered verifier accepted
  its proof, keyed by ``predictionId = keccak256(abi.encode(modelId, inputCommitment))``
  (a replay guard on the public input, never on the proof bytes);
- ``ForecastVault`` is an example DeFi consumer pinned to one oracle and one modelId.

This module compiles them with zkml's own compiler path, deploys them (recorded in
``oracle.json`` next to ``deployments.json``, reused while the code is on chain),
registers a workspace's model, publishes its proof and reads the result back. Every
revert of the contracts' own custom errors becomes an :class:`OracleRevertError` naming
the error, so callers and tests can tell a replay from a stale read from a forged proof.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import sha256_bytes, sha256_file
from zkml.errors import OracleError
from zkml.evm.chain import Connection, Sender, resolve_sender, send_transaction, translate_error
from zkml.evm.onchain import FIELD_MODULUS, ProofData, felt_to_int, read_proof
from zkml.workspace import write_json_atomic

log = logging.getLogger(__name__)

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "verifier_contracts"
ORACLE_CONTRACT = "VerifiedPredictionOracle"
CONSUMER_CONTRACT = "ForecastVault"
RECORD_NAME = "oracle.json"
RECORD_VERSION = 1
# The oracle is called on every publication and read: optimise for runtime gas, not size.
OPTIMIZER_RUNS = 200
DEFAULT_MAX_AGE = 3600
# ForecastVault policy of the demo: 50% risky when the forecast is 0, +/-10 bps per 0.01% of return.
DEFAULT_NEUTRAL_BPS = 5_000
DEFAULT_BPS_PER_UNIT_RETURN = 100_000
BINDING_PUBLIC = 0
BINDING_HASHED = 1
BINDING_NAMES = {BINDING_PUBLIC: "public", BINDING_HASHED: "hashed"}

# What to do about each contract error: the hint of the OracleRevertError.
_HINTS = {
    "UnknownModel": "register the model first (`zkml oracle register`)",
    "ModelInactive": "the model is retired; publish under (and pin consumers to) a new model id",
    "ModelAlreadyRegistered": "a model id binds one verifier forever; register the new version under a new id",
    "VerificationFailed": "the verifier rejected the proof: forged, altered, or made by another model",
    "WrongInstanceCount": "the proof does not have this model's instance layout; is it from another circuit?",
    "InstanceOutOfField": "every public instance must be below the BN254 scalar field modulus",
    "Replay": "a prediction for this model and input is already stored; read it with `zkml oracle read`",
    "Stale": "publish a fresh proof, or have the owner raise the model's maxAge",
    "NoPrediction": "nothing was published for this model/input yet (`zkml oracle publish`)",
    "NotOwner": "send from the oracle owner's account (ZKML_PRIVATE_KEY)",
    "VkaRequired": "this model uses a reusable verifier: publish with its VKA",
    "VkaMismatch": "the VKA does not match the digest pinned at registration",
    "WrongModel": "the consumer is pinned to another model id",
    "AlreadyApplied": "the consumer already acted on this prediction; publish a new one",
    "InvalidModelConfig": "fix the registration parameters",
}


class OracleRevertError(OracleError):
    """An oracle or consumer contract reverted with one of its own custom errors.

    Attributes:
        error: the Solidity error name (``Replay``, ``Stale``, ``VerificationFailed``, ...).
        values: the error's decoded arguments.
    """

    def __init__(self, error: str, values: tuple[Any, ...], doing: str) -> None:
        self.error = error
        self.values = values
        shown = ", ".join(_show(v) for v in values)
        super().__init__(f"{doing} reverted: {error}({shown})", hint=_HINTS.get(error))


class ReplayError(OracleRevertError):
    """A prediction for this model and input is already stored."""


class StalePredictionError(OracleRevertError):
    """The stored prediction is older than the model's maxAge."""


class VerificationFailedError(OracleRevertError):
    """The model's verifier rejected the proof (revert or ``false``)."""


_ERROR_CLASSES: dict[str, type[OracleRevertError]] = {
    "Replay": ReplayError,
    "Stale": StalePredictionError,
    "VerificationFailed": VerificationFailedError,
}


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------- compiling


@dataclass(frozen=True)
class OracleContracts:
    """The compiled oracle and consumer (ABI + bytecode)."""

    oracle: Any  # zkml.evm.solc.CompiledContract
    consumer: Any
    sources_sha256: str

    def error_table(self) -> dict[bytes, tuple[str, list[str]]]:
        """Custom-error selector -> (name, argument types), over both contracts."""
        from eth_utils import keccak

        table: dict[bytes, tuple[str, list[str]]] = {}
        for contract in (self.oracle, self.consumer):
            for item in contract.abi_list:
                if item.get("type") == "error":
                    types = [_abi_type(i) for i in item.get("inputs", [])]
                    table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
        return table


def _abi_type(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + kind[5:]
    return kind


_COMPILED: dict[str, OracleContracts] = {}


def contract_sources(folder: Path = CONTRACTS_DIR) -> dict[str, str]:
    """The Solidity sources of ``verifier_contracts/`` (file name -> text).

    Raises:
        OracleError: the folder or its sources are missing.
    """
    files = sorted(Path(folder).glob("*.sol"))
    if not files:
        raise OracleError(f"no Solidity sources in {folder}", hint="run from a zkml checkout (verifier_contracts/ ships with it)")
    return {path.name: path.read_text() for path in files}


def compile_contracts(compiler: Any = None, *, folder: Path = CONTRACTS_DIR) -> OracleContracts:
    """Compile the oracle and consumer with zkml's compiler path (native solc or solcjs).

    The result is cached in the process and in the user cache, keyed by the sources and
    the compiler version, because solcjs takes seconds per run.

    Raises:
        SolcNotFoundError: no Solidity compiler is available.
        SolidityCompileError: the sources do not compile.
    """
    from zkml.workspace import cache_dir
    from zkml.evm.solc import CompiledContract, CompilerInfo, compile_standard_json, find_compiler

    sources = contract_sources(folder)
    compiler = compiler or find_compiler()
    key = sha256_bytes(
        json.dumps(
            {"sources": sources, "compiler": compiler.version, "kind": compiler.kind, "runs": OPTIMIZER_RUNS}, sort_keys=True
        ).encode()
    )
    if key in _COMPILED:
        return _COMPILED[key]
    cache = cache_dir() / "oracle" / f"{key}.json"
    contracts: dict[str, CompiledContract] = {}
    try:
        data = json.loads(cache.read_text())
        for name, item in data.items():
            contracts[name] = CompiledContract(
                name=name,
                source=item["source"],
                abi=tuple(item["abi"]),
                bytecode=bytes.fromhex(item["bytecode"]),
                deployed_bytecode=bytes.fromhex(item["deployed_bytecode"]),
                compiler=CompilerInfo.from_dict(item["compiler"]),
                seconds=float(item["seconds"]),
            )
    except (OSError, ValueError, KeyError, TypeError):
        contracts = compile_standard_json(sources, optimizer_runs=OPTIMIZER_RUNS, compiler=compiler)
        try:
            write_json_atomic(
                cache,
                {
                    name: {
                        "source": c.source,
                        "abi": list(c.abi),
                        "bytecode": c.bytecode.hex(),
                        "deployed_bytecode": c.deployed_bytecode.hex(),
                        "compiler": c.compiler.as_dict(),
                        "seconds": c.seconds,
                    }
                    for name, c in contracts.items()
                    if name in (ORACLE_CONTRACT, CONSUMER_CONTRACT)
                },
            )
        except OSError as exc:  # a read-only cache only costs a recompile next time
            log.debug("cannot cache compiled oracle contracts: %s", exc)
    result = OracleContracts(oracle=contracts[ORACLE_CONTRACT], consumer=contracts[CONSUMER_CONTRACT], sources_sha256=key)
    _COMPILED[key] = result
    return result


# --------------------------------------------------------------------------- model layout


@dataclass(frozen=True)
class ModelSpec:
    """Where a circuit's inputs and outputs sit in its instance vector, from settings.json.

    Attributes:
        binding: ``public`` (inputs are instances) or ``hashed`` (one Poseidon hash instance).
        instance_count: length of the instance vector.
        input_offset, input_count: the input instances (or the hash) the commitment covers.
        output_offset, output_count: the output instances.
        scale: fixed-point bits of the (first) output.
        batch_size: inferences per proof; inputs and outputs each split into that many
            equal consecutive per-sample slices, each stored as its own prediction.
    """

    binding: str
    instance_count: int
    input_offset: int
    input_count: int
    output_offset: int
    output_count: int
    scale: int
    batch_size: int = 1

    @property
    def binding_code(self) -> int:
        """The Solidity enum value."""
        return BINDING_PUBLIC if self.binding == "public" else BINDING_HASHED

    def input_instances(self, instances: Sequence[int]) -> tuple[int, ...]:
        """The input instances of the whole proof (all samples of a batch)."""
        return tuple(instances[self.input_offset : self.input_offset + self.input_count])

    def sample_inputs(self, instances: Sequence[int]) -> list[tuple[int, ...]]:
        """Each sample's input instances, in batch order: what each input commitment covers."""
        width = self.input_count // self.batch_size
        start = self.input_offset
        return [tuple(instances[start + k * width : start + (k + 1) * width]) for k in range(self.batch_size)]

    def config_tuple(self, verifier: str, vka_digest: bytes, max_age: int) -> tuple[Any, ...]:
        """The ``ModelConfig`` struct as web3 expects it."""
        return (
            verifier,
            vka_digest,
            self.binding_code,
            self.instance_count,
            self.input_offset,
            self.input_count,
            self.output_offset,
            self.output_count,
            self.batch_size,
            self.scale,
            max_age,
        )


def _visibility(value: Any) -> str:
    # settings.json writes "Public"/"Fixed", or {"Hashed": {...}} for hashed visibility.
    if isinstance(value, Mapping):
        return str(next(iter(value), "")).lower()
    return str(value).lower()


def model_spec(settings_path: Path, *, batch_size: int | None = None) -> ModelSpec:
    """Read a circuit's instance layout from its ezkl ``settings.json``.

    Args:
        settings_path: the circuit's settings.
        batch_size: inferences per proof; None reads it from the ``batch.json`` that
            :func:`zkml.batch.build_batched` leaves next to the settings (else 1).

    Raises:
        OracleError: the visibility is one the oracle cannot bind (private or hashed
            outputs, public or hashed params, polycommit inputs), or a batch the oracle
            cannot split per sample (hashed inputs, several input or output tensors).
    """
    if batch_size is None:
        batch_size = _recorded_batch_size(Path(settings_path).parent)
    if batch_size < 1:
        raise OracleError(f"batch size {batch_size} must be >= 1")
    spec = _unbatched_spec(settings_path)
    if batch_size == 1:
        return spec
    if spec.binding != "public":
        raise OracleError("a batched circuit needs public inputs: one hash over the whole batch cannot be split per sample")
    shapes = json.loads(Path(settings_path).read_text())["model_instance_shapes"]
    if len(shapes) != 2 or any(not shape or shape[0] != batch_size for shape in shapes):
        raise OracleError(
            f"{settings_path}: a batch of {batch_size} needs one input and one output tensor with that batch axis, found shapes {shapes}"
        )
    return ModelSpec(
        spec.binding,
        spec.instance_count,
        spec.input_offset,
        spec.input_count,
        spec.output_offset,
        spec.output_count,
        spec.scale,
        batch_size,
    )


def _recorded_batch_size(folder: Path) -> int:
    try:
        return int(json.loads((folder / "batch.json").read_text()).get("batch_size", 1))
    except (OSError, ValueError, TypeError, AttributeError):
        return 1


def _unbatched_spec(settings_path: Path) -> ModelSpec:
    try:
        settings = json.loads(Path(settings_path).read_text())
        run_args = settings["run_args"]
        shapes = [list(s) for s in settings["model_instance_shapes"]]
        in_scales = list(settings["model_input_scales"])
        out_scales = list(settings["model_output_scales"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OracleError(f"cannot read the circuit layout from {settings_path} ({exc})", hint="run `zkml calibrate` first") from exc
    inputs, outputs, params = (_visibility(run_args.get(k)) for k in ("input_visibility", "output_visibility", "param_visibility"))
    if outputs != "public":
        raise OracleError(
            f"output visibility is {outputs}; the oracle stores public outputs", hint='set [circuit] output_visibility = "public"'
        )
    if params not in ("fixed", "private"):
        raise OracleError(
            f"param visibility is {params}; the oracle expects params fixed or private", hint='set [circuit] param_visibility = "fixed"'
        )
    sizes = [_numel(s) for s in shapes]
    out_size = sum(sizes[-len(out_scales) :]) if out_scales else 0
    scale = int(out_scales[0]) if out_scales else 0
    if len(set(out_scales)) > 1:
        log.warning("outputs have different scales %s; the oracle stores them all at scale %d", out_scales, scale)
    if inputs == "public":
        if len(shapes) != len(in_scales) + len(out_scales):
            raise OracleError(f"{settings_path}: instance shapes do not match public inputs + outputs")
        in_size = sum(sizes[: len(in_scales)])
        return ModelSpec("public", in_size + out_size, 0, in_size, in_size, out_size, scale)
    if inputs == "hashed":
        hashes = settings.get("module_sizes", {}).get("poseidon", [0, [0]])[1]
        hash_count = int(sum(hashes)) if isinstance(hashes, list) else 0
        if (
            hash_count != 1
            or not isinstance(run_args["input_visibility"], Mapping)
            or not run_args["input_visibility"].get("Hashed", {}).get("hash_is_public", True)
        ):
            raise OracleError(f"{settings_path}: expected exactly one public Poseidon hash instance, found {hashes}")
        # ezkl puts module instances (the Poseidon hash) before the model's output instances.
        return ModelSpec("hashed", 1 + out_size, 0, 1, 1, out_size, scale)
    raise OracleError(
        f"input visibility is {inputs}; the oracle binds public or hashed inputs",
        hint='set [circuit] input_visibility = "public" or "hashed"',
    )


def _numel(shape: Sequence[int]) -> int:
    size = 1
    for dim in shape:
        size *= int(dim)
    return size


# --------------------------------------------------------------------------- pure helpers (mirror the contracts)


def input_commitment(input_instances: Sequence[int]) -> bytes:
    """``keccak256(abi.encodePacked(uint256[]))`` of the input instances (or the one hash)."""
    from eth_utils import keccak

    return keccak(b"".join(int(v).to_bytes(32, "big") for v in input_instances))


def prediction_id(model_id: bytes, commitment: bytes) -> bytes:
    """``keccak256(abi.encode(modelId, inputCommitment))``: the oracle's replay key."""
    from eth_utils import keccak

    return keccak(bytes(model_id) + bytes(commitment))


def to_wad(value: int, scale: int) -> int:
    """``value / 2**scale`` as 1e18 fixed point, truncated toward zero (as ``FixedPoint.toWad``)."""
    numerator = value * 10**18
    quotient = abs(numerator) // (1 << scale)
    return quotient if numerator >= 0 else -quotient


def default_model_id(vk_sha256: str, settings_sha256: str) -> bytes:
    """A model id derived from the verifying key and settings: a new key is a new id (an upgrade)."""
    from eth_utils import keccak

    return keccak(text=f"zkml.model.v1:{vk_sha256}:{settings_sha256}")


def parse_bytes32(value: str | bytes) -> bytes:
    """A ``0x`` hex string (or bytes) as 32 bytes.

    Raises:
        OracleError: not 32 bytes of hex.
    """
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = bytes.fromhex(value.removeprefix("0x"))
        except ValueError as exc:
            raise OracleError(f"{value!r} is not hex", hint="pass a 0x-prefixed 32-byte hex value") from exc
    if len(raw) != 32:
        raise OracleError(f"expected 32 bytes, got {len(raw)}", hint="pass a 0x-prefixed 32-byte hex value")
    return raw


# --------------------------------------------------------------------------- chain plumbing


def _call(conn: Connection, to: str, data: str, contracts: OracleContracts, doing: str, *, sender: str | None = None) -> bytes:
    """``eth_call`` that turns the contracts' custom errors into OracleRevertError."""
    params: dict[str, Any] = {"to": to, "data": data}
    if sender:
        params["from"] = sender
    try:
        response = conn.w3.provider.make_request("eth_call", [params, "latest"])
    except Exception as exc:
        raise translate_error(conn, exc, doing) from exc
    if "error" in response:
        raise _revert_error(response["error"], contracts, doing)
    return bytes.fromhex(str(response["result"]).removeprefix("0x"))


def _estimate(conn: Connection, to: str, data: str, contracts: OracleContracts, doing: str, *, sender: str | None = None) -> int:
    params: dict[str, Any] = {"to": to, "data": data}
    if sender:
        params["from"] = sender
    try:
        response = conn.w3.provider.make_request("eth_estimateGas", [params, "latest"])
    except Exception as exc:
        raise translate_error(conn, exc, doing) from exc
    if "error" in response:
        raise _revert_error(response["error"], contracts, doing)
    return int(response["result"], 16)


def _revert_error(error: Any, contracts: OracleContracts, doing: str) -> OracleError:
    from eth_abi import decode

    data = error.get("data") if isinstance(error, Mapping) else None
    if isinstance(data, Mapping):  # some nodes nest it
        data = data.get("data")
    message = error.get("message", error) if isinstance(error, Mapping) else error
    if isinstance(data, str) and len(data) >= 10:
        raw = bytes.fromhex(data.removeprefix("0x"))
        known = contracts.error_table().get(raw[:4])
        if known is not None:
            name, types = known
            try:
                values = tuple(decode(types, raw[4:]))
            except Exception:  # malformed arguments still name the error
                values = ()
            return _ERROR_CLASSES.get(name, OracleRevertError)(name, values, doing)
    return OracleError(f"{doing} failed: {message}")


def _transact(conn: Connection, sender: Sender, to: str, data: str, contracts: OracleContracts, doing: str) -> Any:
    """Dry-run (to surface the custom error), then send; returns the receipt."""
    gas = _estimate(conn, to, data, contracts, doing, sender=sender.address)
    receipt = send_transaction(conn, sender, {"to": to, "data": data, "gas": int(gas * 1.2) + 10_000})
    if receipt["status"] != 1:
        # Mined but reverted: the state moved between the dry run and inclusion. Say why.
        try:
            _call(conn, to, data, contracts, doing, sender=sender.address)
        except OracleError:
            raise
        raise OracleError(f"{doing} reverted on chain {conn.chain_id}", hint="run it again")
    return receipt


def _contract(conn: Connection, address: str, compiled: Any) -> Any:
    return conn.w3.eth.contract(address=conn.w3.to_checksum_address(address), abi=compiled.abi_list)


def _code(conn: Connection, address: str) -> bytes:
    try:
        return bytes(conn.w3.eth.get_code(conn.w3.to_checksum_address(address)))
    except Exception as exc:
        raise translate_error(conn, exc, f"reading the code at {address}") from exc


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ContractDeployment:
    """An oracle or consumer on one chain.

    Attributes:
        name: ``VerifiedPredictionOracle`` or ``ForecastVault``.
        chain_id, address, tx_hash, gas_used, block_number: where and how it was created.
        runtime_sha256: sha256 of the compiled runtime code (before immutables are filled in).
        oracle, model_id: the consumer's pins (empty for the oracle).
        reused: nothing was sent because the recorded contract is on chain.
    """

    name: str
    chain_id: int
    address: str
    tx_hash: str
    gas_used: int
    block_number: int
    runtime_sha256: str
    oracle: str = ""
    model_id: str = ""
    reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Record form (``reused`` is a property of the call)."""
        return {
            "name": self.name,
            "chain_id": self.chain_id,
            "address": self.address,
            "tx_hash": self.tx_hash,
            "gas_used": self.gas_used,
            "block_number": self.block_number,
            "runtime_sha256": self.runtime_sha256,
            "oracle": self.oracle,
            "model_id": self.model_id,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, reused: bool = False) -> ContractDeployment:
        """Inverse of :meth:`as_dict`."""
        return cls(
            name=data["name"],
            chain_id=int(data["chain_id"]),
            address=data["address"],
            tx_hash=data["tx_hash"],
            gas_used=int(data["gas_used"]),
            block_number=int(data["block_number"]),
            runtime_sha256=data["runtime_sha256"],
            oracle=data.get("oracle", ""),
            model_id=data.get("model_id", ""),
            reused=reused,
        )


class OracleRecord:
    """``oracle.json`` in a workspace: the oracle/consumer deployments, updated atomically."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / RECORD_NAME

    def load(self) -> list[dict[str, Any]]:
        """Every entry; a missing file is an empty record.

        Raises:
            OracleError: the file exists but is unreadable (it is never silently overwritten).
        """
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise OracleError(f"{self.path} is unreadable ({exc})", hint="repair or move it away, then run again") from exc
        entries = data.get("contracts") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise OracleError(f"{self.path} has an unknown format", hint="repair or move it away, then run again")
        return entries

    def put(self, deployment: ContractDeployment) -> None:
        """Replace the entry for the same contract slot (name, chain, pins) with ``deployment``."""
        slot = (deployment.name, deployment.chain_id, deployment.oracle.lower(), deployment.model_id)
        entries = [
            e for e in self.load() if (e.get("name"), e.get("chain_id"), str(e.get("oracle", "")).lower(), e.get("model_id", "")) != slot
        ]
        entries.append(deployment.as_dict())
        write_json_atomic(self.path, {"version": RECORD_VERSION, "contracts": entries})

    def find(self, name: str, chain_id: int, *, oracle: str = "", model_id: str = "") -> dict[str, Any] | None:
        """The recorded entry for a contract slot, if any."""
        for entry in self.load():
            if (
                entry.get("name") == name
                and entry.get("chain_id") == chain_id
                and str(entry.get("oracle", "")).lower() == oracle.lower()
                and entry.get("model_id", "") == model_id
            ):
                return entry
        return None


def _deploy(conn: Connection, sender: Sender, compiled: Any, args: Sequence[Any], contracts: OracleContracts) -> Any:
    factory = conn.w3.eth.contract(abi=compiled.abi_list, bytecode=compiled.bytecode)
    data = factory.constructor(*args).data_in_transaction if args else "0x" + compiled.bytecode.hex()
    try:
        response = conn.w3.provider.make_request("eth_estimateGas", [{"from": sender.address, "data": data}, "latest"])
    except Exception as exc:
        raise translate_error(conn, exc, f"estimating the {compiled.name} deployment") from exc
    if "error" in response:
        raise _revert_error(response["error"], contracts, f"deploying {compiled.name}")
    receipt = send_transaction(conn, sender, {"data": data, "gas": int(int(response["result"], 16) * 1.2)})
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise OracleError(f"{compiled.name} deployment reverted on chain {conn.chain_id}")
    return receipt


def deploy_oracle(
    conn: Connection, record_dir: Path, *, sender: Sender | None = None, contracts: OracleContracts | None = None
) -> ContractDeployment:
    """Deploy the oracle, or reuse the recorded one whose code is on chain.

    Args:
        conn: the chain.
        record_dir: folder holding ``oracle.json`` (a workspace).
        sender: the account (it becomes the oracle owner); resolved from the environment when None.
        contracts: compiled contracts (compiled when None).

    Raises:
        OracleError: the deployment reverted.
        ChainError: the RPC, account or transaction failed.
    """
    contracts = contracts or compile_contracts()
    compiled = contracts.oracle
    runtime_sha = sha256_bytes(compiled.deployed_bytecode)
    record = OracleRecord(record_dir)
    entry = record.find(ORACLE_CONTRACT, conn.chain_id)
    if entry is not None and entry.get("runtime_sha256") == runtime_sha and sha256_bytes(_code(conn, entry["address"])) == runtime_sha:
        log.info("oracle already at %s on chain %d; reusing it", entry["address"], conn.chain_id)
        return ContractDeployment.from_dict(entry, reused=True)
    sender = sender or resolve_sender(conn)
    receipt = _deploy(conn, sender, compiled, (), contracts)
    deployment = ContractDeployment(
        ORACLE_CONTRACT,
        conn.chain_id,
        str(receipt["contractAddress"]),
        "0x" + bytes(receipt["transactionHash"]).hex(),
        int(receipt["gasUsed"]),
        int(receipt["blockNumber"]),
        runtime_sha,
    )
    record.put(deployment)
    log.info("oracle deployed at %s on chain %d (gas %d)", deployment.address, conn.chain_id, deployment.gas_used)
    return deployment


def deploy_consumer(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    record_dir: Path,
    *,
    neutral_bps: int = DEFAULT_NEUTRAL_BPS,
    bps_per_unit_return: int = DEFAULT_BPS_PER_UNIT_RETURN,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> ContractDeployment:
    """Deploy a ForecastVault pinned to ``oracle`` and ``model_id``, or reuse the recorded one.

    Reuse is checked against the pins the vault reports (its runtime code embeds them as
    immutables, so a code hash alone cannot tell).

    Raises:
        OracleError: the deployment reverted.
        ChainError: the RPC, account or transaction failed.
    """
    contracts = contracts or compile_contracts()
    compiled = contracts.consumer
    model_hex = "0x" + bytes(model_id).hex()
    record = OracleRecord(record_dir)
    entry = record.find(CONSUMER_CONTRACT, conn.chain_id, oracle=oracle, model_id=model_hex)
    if entry is not None and _code(conn, entry["address"]):
        vault = _contract(conn, entry["address"], compiled)
        try:
            pinned = (vault.functions.oracle().call().lower(), bytes(vault.functions.modelId().call()))
        except Exception:  # another contract at that address now (chain reset): deploy again
            pinned = ("", b"")
        if pinned == (oracle.lower(), bytes(model_id)):
            return ContractDeployment.from_dict(entry, reused=True)
    sender = sender or resolve_sender(conn)
    args = (conn.w3.to_checksum_address(oracle), bytes(model_id), neutral_bps, bps_per_unit_return)
    receipt = _deploy(conn, sender, compiled, args, contracts)
    deployment = ContractDeployment(
        CONSUMER_CONTRACT,
        conn.chain_id,
        str(receipt["contractAddress"]),
        "0x" + bytes(receipt["transactionHash"]).hex(),
        int(receipt["gasUsed"]),
        int(receipt["blockNumber"]),
        sha256_bytes(compiled.deployed_bytecode),
        oracle=oracle,
        model_id=model_hex,
    )
    record.put(deployment)
    return deployment


# --------------------------------------------------------------------------- registration


@dataclass(frozen=True)
class Registration:
    """A model registered on an oracle.

    Attributes:
        model_id: the id consumers pin.
        verifier: the verifier address it is bound to.
        spec: the instance layout.
        max_age: seconds a prediction stays fresh.
        active: False once retired.
        gas_used: gas of the registration (0 when reused).
        reused: it was already registered with the same binding.
    """

    model_id: bytes
    verifier: str
    spec: ModelSpec
    max_age: int
    active: bool
    gas_used: int = 0
    reused: bool = False
    vka_digest: bytes = b"\x00" * 32

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "model_id": "0x" + self.model_id.hex(),
            "verifier": self.verifier,
            "binding": self.spec.binding,
            "instance_count": self.spec.instance_count,
            "inputs": [self.spec.input_offset, self.spec.input_count],
            "outputs": [self.spec.output_offset, self.spec.output_count],
            "batch_size": self.spec.batch_size,
            "scale": self.spec.scale,
            "max_age": self.max_age,
            "active": self.active,
            "gas_used": self.gas_used,
            "reused": self.reused,
            "vka_digest": "0x" + self.vka_digest.hex(),
        }


def read_model(conn: Connection, oracle: str, model_id: bytes, *, contracts: OracleContracts | None = None) -> dict[str, Any] | None:
    """The oracle's registration of ``model_id``, or None if it is not registered."""
    contracts = contracts or compile_contracts()
    contract = _contract(conn, oracle, contracts.oracle)
    raw = _call(conn, contract.address, contract.encode_abi("models", args=[bytes(model_id)]), contracts, "reading the model")
    config, active, exists, latest = _decode_output(contract, "models", raw)
    if not exists:
        return None
    keys = (
        "verifier",
        "vka_digest",
        "binding",
        "instance_count",
        "input_offset",
        "input_count",
        "output_offset",
        "output_count",
        "batch_size",
        "scale",
        "max_age",
    )
    return {**dict(zip(keys, config, strict=True)), "active": bool(active), "latest": bytes(latest)}


def _decode_output(contract: Any, fn_name: str, raw: bytes) -> tuple[Any, ...]:
    from eth_abi import decode

    abi = next(item for item in contract.abi if item.get("type") == "function" and item["name"] == fn_name)
    return tuple(decode([_abi_type(o) for o in abi["outputs"]], raw))


def register_model(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    verifier: str,
    spec: ModelSpec,
    *,
    max_age: int = DEFAULT_MAX_AGE,
    vka_digest: bytes | None = None,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Registration:
    """Register a model on the oracle (owner only); idempotent for the same binding.

    Args:
        conn: the chain.
        oracle: the oracle address.
        model_id: the id consumers will pin.
        verifier: the plain verifier (or the reusable verifier when ``vka_digest`` is given).
        spec: the instance layout (:func:`model_spec`).
        max_age: seconds a prediction stays fresh.
        vka_digest: keccak256 of the VKA words, for a reusable verifier.
        sender: the owner account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        OracleError: the id is registered with a different binding (register the new
            version under a new id), or the registration was refused (``NotOwner``, ...).
    """
    contracts = contracts or compile_contracts()
    digest = bytes(vka_digest or b"\x00" * 32)
    existing = read_model(conn, oracle, model_id, contracts=contracts)
    if existing is not None:
        same = (
            str(existing["verifier"]).lower() == verifier.lower()
            and bytes(existing["vka_digest"]) == digest
            and existing["binding"] == spec.binding_code
            and existing["instance_count"] == spec.instance_count
            and (existing["input_offset"], existing["input_count"]) == (spec.input_offset, spec.input_count)
            and (existing["output_offset"], existing["output_count"]) == (spec.output_offset, spec.output_count)
            and existing["batch_size"] == spec.batch_size
            and existing["scale"] == spec.scale
        )
        if not same:
            raise OracleError(
                f"model id 0x{bytes(model_id).hex()} is already registered on {oracle} with another verifier or layout",
                hint=_HINTS["ModelAlreadyRegistered"],
            )
        if existing["max_age"] != max_age:
            log.warning(
                "model 0x%s keeps maxAge %d (asked %d); the owner can change it with setMaxAge",
                bytes(model_id).hex(),
                existing["max_age"],
                max_age,
            )
        return Registration(bytes(model_id), verifier, spec, int(existing["max_age"]), existing["active"], 0, True, digest)
    sender = sender or resolve_sender(conn)
    contract = _contract(conn, oracle, contracts.oracle)
    data = contract.encode_abi(
        "registerModel", args=[bytes(model_id), spec.config_tuple(conn.w3.to_checksum_address(verifier), digest, max_age)]
    )
    receipt = _transact(conn, sender, contract.address, data, contracts, "registering the model")
    return Registration(bytes(model_id), verifier, spec, max_age, True, int(receipt["gasUsed"]), False, digest)


def set_model_active(
    conn: Connection, oracle: str, model_id: bytes, active: bool, *, sender: Sender | None = None, contracts: OracleContracts | None = None
) -> int:
    """Retire (``active=False``) or reactivate a model (owner only); returns the gas used."""
    contracts = contracts or compile_contracts()
    contract = _contract(conn, oracle, contracts.oracle)
    data = contract.encode_abi("setModelActive", args=[bytes(model_id), active])
    receipt = _transact(conn, sender or resolve_sender(conn), contract.address, data, contracts, "changing the model's active flag")
    return int(receipt["gasUsed"])


@dataclass(frozen=True)
class WorkspaceModel:
    """What registering a workspace's model needs, read from the workspace folder."""

    root: Path
    settings_path: Path
    proof_path: Path
    vk_sha256: str
    settings_sha256: str
    spec: ModelSpec

    @property
    def model_id(self) -> bytes:
        """The default model id of this verifying key and settings."""
        return default_model_id(self.vk_sha256, self.settings_sha256)


def workspace_model(source: Any) -> WorkspaceModel:
    """Read a workspace (a :class:`zkml.pipeline.Pipeline` or its folder) for the oracle.

    Raises:
        OracleError: settings.json or vk.key is missing.
    """
    root = Path(source.ws.root) if hasattr(source, "ws") else Path(source)
    settings, vk = root / "settings.json", root / "vk.key"
    for path, stage in ((settings, "calibrate"), (vk, "keys")):
        if not path.is_file():
            raise OracleError(f"{path} does not exist", hint=f"run `zkml {stage}` (or `zkml run`) for this circuit first")
    return WorkspaceModel(root, settings, root / "proof.json", sha256_file(vk), sha256_file(settings), model_spec(settings))


def workspace_verifier(conn: Connection, root: Path) -> str:
    """The plain verifier recorded in the workspace's ``deployments.json`` whose code is on ``conn``.

    Raises:
        OracleError: none is recorded for this chain.
    """
    from zkml.evm.deploy import DeploymentRecord

    for deployment in reversed(DeploymentRecord(root).deployments()):
        if (
            deployment.kind == "verifier"
            and deployment.chain_id == conn.chain_id
            and deployment.vk_sha256
            and _code(conn, deployment.address)
        ):
            return deployment.address
    raise OracleError(
        f"no plain verifier of {root} is deployed on chain {conn.chain_id}", hint="run `zkml deploy` (or `zkml run --chain`) first"
    )


def register_workspace(
    conn: Connection,
    oracle: str,
    source: Any,
    *,
    model_id: bytes | None = None,
    verifier: str | None = None,
    max_age: int = DEFAULT_MAX_AGE,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Registration:
    """Register a workspace's model with its deployed plain verifier (idempotent).

    Args:
        source: a :class:`zkml.pipeline.Pipeline` or a workspace folder.
        model_id: defaults to :func:`default_model_id` of its vk and settings.
        verifier: defaults to the verifier recorded in the workspace's ``deployments.json``.
    """
    model = workspace_model(source)
    return register_model(
        conn,
        oracle,
        model_id or model.model_id,
        verifier or workspace_verifier(conn, model.root),
        model.spec,
        max_age=max_age,
        sender=sender,
        contracts=contracts,
    )


# --------------------------------------------------------------------------- publish and read


@dataclass(frozen=True)
class Prediction:
    """A prediction as the oracle stores it.

    Attributes:
        model_id, prediction_id, input_commitment: the bindings.
        timestamp, block_number: when it was stored (0 if absent).
        scale: fixed-point bits; ``values[i] / 2**scale`` is the real output.
        values: the outputs as signed scaled integers.
        submitter: who published it.
    """

    model_id: bytes
    prediction_id: bytes
    input_commitment: bytes
    timestamp: int
    block_number: int
    scale: int
    submitter: str
    values: tuple[int, ...]

    @property
    def floats(self) -> tuple[float, ...]:
        """The outputs as floats (as ``zkml.evm.onchain.decode_instances`` gives them)."""
        return tuple(v / 2.0**self.scale for v in self.values)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "model_id": "0x" + self.model_id.hex(),
            "prediction_id": "0x" + self.prediction_id.hex(),
            "input_commitment": "0x" + self.input_commitment.hex(),
            "timestamp": self.timestamp,
            "block_number": self.block_number,
            "scale": self.scale,
            "submitter": self.submitter,
            "values": list(self.values),
            "floats": list(self.floats),
        }


def _prediction(raw: Sequence[Any]) -> Prediction:
    model_id, commitment, timestamp, block, scale, submitter, values = raw
    from eth_utils import to_checksum_address

    return Prediction(
        bytes(model_id),
        prediction_id(bytes(model_id), bytes(commitment)),
        bytes(commitment),
        int(timestamp),
        int(block),
        int(scale),
        to_checksum_address(submitter),
        tuple(int(v) for v in values),
    )


@dataclass(frozen=True)
class Publication:
    """The result of publishing a proof.

    Attributes:
        prediction: what the oracle holds for this model and input (a batch's last sample).
        gas_used: gas of the submission (None when it was a replay and nothing was sent).
        tx_hash: the submission.
        replayed: the input id was already used on this chain; ``prediction`` is the stored one.
        batch: every prediction the submission stored, in batch order (just ``prediction`` for B=1).
    """

    prediction: Prediction
    gas_used: int | None
    tx_hash: str | None
    replayed: bool = False
    batch: tuple[Prediction, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        data: dict[str, Any] = {
            "prediction": self.prediction.as_dict(),
            "gas_used": self.gas_used,
            "tx_hash": self.tx_hash,
            "replayed": self.replayed,
        }
        if len(self.batch) > 1:
            data["batch"] = [p.as_dict() for p in self.batch]
        return data


def submit_calldata(
    contract: Any, model_id: bytes, proof: ProofData, *, instances: Sequence[int] | None = None, vka_words: Sequence[bytes] | None = None
) -> str:
    """ABI-encoded ``submit`` (or ``submitWithVka``) call; ``instances`` overrides the proof's."""
    values = list(proof.instances if instances is None else instances)
    if vka_words is not None:
        return str(contract.encode_abi("submitWithVka", args=[bytes(model_id), proof.proof, values, list(vka_words)]))
    return str(contract.encode_abi("submit", args=[bytes(model_id), proof.proof, values]))


def publish(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    proof_path: Path,
    *,
    vka_words: Sequence[bytes] | None = None,
    on_replay: str = "raise",
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Publication:
    """Submit a proof to the oracle, which verifies it and stores the decoded prediction.

    Args:
        conn: the chain.
        oracle: the oracle address.
        model_id: the registered model.
        proof_path: an ezkl ``proof.json``.
        vka_words: the model's VKA words (reusable-verifier models).
        on_replay: ``raise`` a :class:`ReplayError`, or ``read`` the stored prediction
            when a prediction for this model and input already exists.
        sender: the account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        OracleRevertError: the oracle refused it (``VerificationFailed``, ``WrongInstanceCount``,
            ``Replay``, ``UnknownModel``, ``ModelInactive``, ...).
        ProofError: the proof file is unreadable.
    """
    if on_replay not in ("raise", "read"):
        raise OracleError(f"on_replay must be 'raise' or 'read', not {on_replay!r}")
    contracts = contracts or compile_contracts()
    proof = read_proof(proof_path)
    contract = _contract(conn, oracle, contracts.oracle)
    data = submit_calldata(contract, model_id, proof, vka_words=vka_words)
    sender = sender or resolve_sender(conn)
    try:
        receipt = _transact(conn, sender, contract.address, data, contracts, "submitting the proof")
    except ReplayError as exc:
        if on_replay == "raise":
            raise
        stored = prediction_record(conn, oracle, bytes(exc.values[0]), contracts=contracts)
        log.info("prediction 0x%s was already published; reading the stored one", stored.prediction_id.hex())
        return Publication(stored, None, None, replayed=True)
    logs = contract.events.PredictionPublished().process_receipt(receipt)
    if not logs:
        raise OracleError(f"the submission {bytes(receipt['transactionHash']).hex()} was mined but published nothing")
    batch = tuple(prediction_record(conn, oracle, bytes(entry["args"]["predictionId"]), contracts=contracts) for entry in logs)
    return Publication(batch[-1], int(receipt["gasUsed"]), "0x" + bytes(receipt["transactionHash"]).hex(), batch=batch)


def prediction_record(conn: Connection, oracle: str, pid: bytes, *, contracts: OracleContracts | None = None) -> Prediction:
    """A stored prediction by id with no freshness or activity rule (history, audits).

    Raises:
        OracleError: nothing is stored under that id.
    """
    contracts = contracts or compile_contracts()
    contract = _contract(conn, oracle, contracts.oracle)
    raw = _call(conn, contract.address, contract.encode_abi("predictionRecord", args=[bytes(pid)]), contracts, "reading the prediction")
    (record,) = _decode_output(contract, "predictionRecord", raw)
    prediction = _prediction(record)
    if prediction.timestamp == 0:
        raise OracleError(f"no prediction 0x{bytes(pid).hex()} on {oracle}", hint=_HINTS["NoPrediction"])
    return prediction


def read_prediction(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    *,
    commitment: bytes | None = None,
    contracts: OracleContracts | None = None,
) -> tuple[Prediction, int]:
    """The latest prediction of a model (or its prediction for ``commitment``), as consumers see it.

    Returns:
        The prediction and the gas ``eth_estimateGas`` gives for the read (it includes the
        21,000 intrinsic gas of a transaction; a contract calling it pays the rest).

    Raises:
        StalePredictionError: older than the model's maxAge.
        OracleRevertError: unknown or retired model (``UnknownModel``, ``ModelInactive``), or nothing published (``NoPrediction``).
    """
    contracts = contracts or compile_contracts()
    contract = _contract(conn, oracle, contracts.oracle)
    if commitment is None:
        fn, args = "latestPrediction", [bytes(model_id)]
    else:
        fn, args = "predictionFor", [bytes(model_id), bytes(commitment)]
    data = contract.encode_abi(fn, args=args)
    raw = _call(conn, contract.address, data, contracts, "reading the prediction")
    (record,) = _decode_output(contract, fn, raw)
    gas = _estimate(conn, contract.address, data, contracts, "estimating the read")
    return _prediction(record), gas


# --------------------------------------------------------------------------- consumer


@dataclass(frozen=True)
class ConsumerState:
    """What the ForecastVault holds after acting."""

    address: str
    model_id: bytes
    target_risky_bps: int
    last_forecast_wad: int
    last_prediction_id: bytes
    last_rebalance: int

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "address": self.address,
            "model_id": "0x" + self.model_id.hex(),
            "target_risky_bps": self.target_risky_bps,
            "last_forecast_wad": self.last_forecast_wad,
            "last_forecast": self.last_forecast_wad / 1e18,
            "last_prediction_id": "0x" + self.last_prediction_id.hex(),
            "last_rebalance": self.last_rebalance,
        }


def consumer_state(conn: Connection, consumer: str, *, contracts: OracleContracts | None = None) -> ConsumerState:
    """Read a ForecastVault's state."""
    contracts = contracts or compile_contracts()
    vault = _contract(conn, consumer, contracts.consumer)
    f = vault.functions
    try:
        return ConsumerState(
            vault.address,
            bytes(f.modelId().call()),
            int(f.targetRiskyBps().call()),
            int(f.lastForecastWad().call()),
            bytes(f.lastPredictionId().call()),
            int(f.lastRebalance().call()),
        )
    except Exception as exc:
        raise translate_error(conn, exc, f"reading the consumer at {consumer}") from exc


def consumer_act(
    conn: Connection,
    consumer: str,
    *,
    prediction: bytes | None = None,
    input_instances: Sequence[int] | None = None,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> tuple[ConsumerState, int]:
    """Let the ForecastVault rebalance on its model's latest prediction (or a given one).

    Args:
        prediction: act on this prediction id (``rebalanceOn``; refused for another model).
        input_instances: act on the prediction for exactly these input instances (``rebalanceFor``).

    Returns:
        The vault's state afterwards and the gas used.

    Raises:
        OracleRevertError: refused (``Stale``, ``WrongModel``, ``AlreadyApplied``, ``NoPrediction``, ...).
    """
    contracts = contracts or compile_contracts()
    vault = _contract(conn, consumer, contracts.consumer)
    if prediction is not None:
        data = vault.encode_abi("rebalanceOn", args=[bytes(prediction)])
    elif input_instances is not None:
        data = vault.encode_abi("rebalanceFor", args=[[int(v) for v in input_instances]])
    else:
        data = vault.encode_abi("rebalance", args=[])
    receipt = _transact(conn, sender or resolve_sender(conn), vault.address, data, contracts, "the consumer's rebalance")
    return consumer_state(conn, consumer, contracts=contracts), int(receipt["gasUsed"])


# --------------------------------------------------------------------------- the whole flow


def demo_flow(
    pipeline: Any,
    conn: Connection,
    *,
    sender: Sender | None = None,
    verifier: str | None = None,
    max_age: int = DEFAULT_MAX_AGE,
) -> dict[str, Any]:
    """From a proved, verifier-deployed workspace to the DeFi consumer acting on its prediction.

    Deploys (or reuses) the oracle and a ForecastVault pinned to the model, registers the
    model (idempotent), submits the workspace's proof (when its input was already published
    on this chain, the stored prediction is read instead and ``replayed`` is True), lets the
    vault rebalance, and reports gas and results. Records go to ``oracle.json`` in the workspace.

    Args:
        pipeline: a :class:`zkml.pipeline.Pipeline` (or a workspace folder) whose proof is
            made and whose plain verifier is deployed on ``conn``.
        conn: the chain.
        sender: the account (owner of a newly deployed oracle).
        verifier: the plain verifier address; read from ``deployments.json`` when None.
        max_age: freshness bound for a new registration, in seconds.

    Returns:
        A JSON-ready dict: addresses, ``model_id``, ``replayed``, ``prediction`` (decoded
        on-chain values), ``gas`` (deploy_oracle, deploy_consumer, register, submit, read,
        act; None for steps that sent nothing), ``consumer`` (the vault's state) and
        ``consumer_note`` when the vault did not act (already applied, or stale).
    """
    sender = sender or resolve_sender(conn)
    contracts = compile_contracts()
    model = workspace_model(pipeline)
    if not model.proof_path.is_file():
        raise OracleError(f"no proof in {model.root}", hint="run `zkml prove` first")
    oracle = deploy_oracle(conn, model.root, sender=sender, contracts=contracts)
    registration = register_workspace(
        conn, oracle.address, pipeline, verifier=verifier, max_age=max_age, sender=sender, contracts=contracts
    )
    vault = deploy_consumer(conn, oracle.address, registration.model_id, model.root, sender=sender, contracts=contracts)
    publication = publish(
        conn, oracle.address, registration.model_id, model.proof_path, on_replay="read", sender=sender, contracts=contracts
    )
    gas: dict[str, int | None] = {
        "deploy_oracle": None if oracle.reused else oracle.gas_used,
        "deploy_consumer": None if vault.reused else vault.gas_used,
        "register": None if registration.reused else registration.gas_used,
        "submit": publication.gas_used,
        "read": None,
        "act": None,
    }
    note = ""
    try:
        _, gas["read"] = read_prediction(
            conn, oracle.address, registration.model_id, commitment=publication.prediction.input_commitment, contracts=contracts
        )
        state, gas["act"] = consumer_act(
            conn, vault.address, prediction=publication.prediction.prediction_id, sender=sender, contracts=contracts
        )
    except OracleRevertError as exc:
        # A re-run on a long-lived chain: the stored prediction may be stale or already acted on.
        if exc.error not in ("Stale", "AlreadyApplied"):
            raise
        note = str(exc)
        state = consumer_state(conn, vault.address, contracts=contracts)
    return {
        "oracle_address": oracle.address,
        "consumer_address": vault.address,
        "model_id": "0x" + registration.model_id.hex(),
        "registration": registration.as_dict(),
        "replayed": publication.replayed,
        "tx_hash": publication.tx_hash,
        "prediction": publication.prediction.as_dict(),
        "gas": gas,
        "consumer": state.as_dict(),
        "consumer_note": note,
    }


__all__ = [
    "CONTRACTS_DIR",
    "ConsumerState",
    "ContractDeployment",
    "ModelSpec",
    "OracleContracts",
    "OracleRecord",
    "OracleRevertError",
    "Prediction",
    "Publication",
    "Registration",
    "ReplayError",
    "StalePredictionError",
    "VerificationFailedError",
    "WorkspaceModel",
    "compile_contracts",
    "consumer_act",
    "consumer_state",
    "default_model_id",
    "demo_flow",
    "deploy_consumer",
    "deploy_oracle",
    "input_commitment",
    "model_spec",
    "prediction_id",
    "prediction_record",
    "publish",
    "read_model",
    "read_prediction",
    "register_model",
    "register_workspace",
    "set_model_active",
    "submit_calldata",
    "to_wad",
    "workspace_model",
    "workspace_verifier",
    "FIELD_MODULUS",
    "felt_to_int",
]
