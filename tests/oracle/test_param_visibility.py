"""Issue 22, finding 1: an oracle model's weights are never the submitter's choice.

With ``param_visibility = "private"`` the verifying key does not fix the weights: the audit
proved a copy of mlp_regressor with 5.0 added to a bias against the honest vk, and the oracle
stored the forgery. Now:

- ``fixed``: the weights are in the vk (and the verifier's code, whose hash the oracle pins): accepted;
- ``hashed``: accepted, with the commitment to the proof's param-hash instances (the Poseidon
  hashes ezkl publishes for hashed weights) pinned at registration and checked by the contract
  on every submit path: a proof made with other weights, which the verifier itself accepts
  (the weights are private witness values), is refused on chain with ``ParamsMismatch``;
- ``private``: refused by the tooling with a one-line reason. The contract cannot tell private
  from fixed params (the instances look the same), but it refuses a layout leaving an instance
  unbound, such as a param hash registered without its commitment.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.errors import OracleError, OracleRevertError
from zkml.evm.felts import felt_to_int
from zkml.evm.onchain import decode_instances, encode_calldata, read_proof
from zkml.evm.rpc import transact
from zkml.evm.solc import CompiledContract
from zkml.oracle.binding import codehash_of, onchain_code, params_commitment, workspace_bounds
from zkml.oracle.layout import ModelSpec, model_spec
from zkml.workspace import Layout

from .conftest import World
from .steps import contract, publish, send, submit_raw

BASE: dict[str, Any] = {
    "model_instance_shapes": [[1, 8], [1, 1]],
    "model_input_scales": [13],
    "model_output_scales": [13],
    "module_sizes": {"poseidon": [0, [0]]},
    "run_args": {"logrows": 12, "param_scale": 13, "input_visibility": "Public", "output_visibility": "Public"},
}
HASHED_PARAMS = {"Hashed": {"hash_is_public": True, "outlets": []}}


def _settings(folder: Path, params: Any, poseidon: int = 0) -> Path:
    path = Layout(folder).settings
    run_args = {**BASE["run_args"], "param_visibility": params}
    path.write_text(json.dumps({**BASE, "module_sizes": {"poseidon": [100, [poseidon]]}, "run_args": run_args}))
    return path


@pytest.mark.parametrize(
    ("params", "poseidon", "expected"),
    [
        ("Fixed", 0, ModelSpec("public", 9, 0, 8, 8, 1, 13, input_scale=13)),
        # ezkl 23 puts the param hash before the public inputs (measured on the tiny circuit).
        (HASHED_PARAMS, 1, ModelSpec("public", 10, 1, 8, 9, 1, 13, input_scale=13, param_offset=0, param_count=1)),
    ],
)
def test_fixed_and_hashed_params_are_laid_out(tmp_path: Path, params: Any, poseidon: int, expected: ModelSpec) -> None:
    spec = model_spec(_settings(tmp_path, params, poseidon))
    assert spec == expected and spec.params == ("hashed" if poseidon else "fixed")
    assert spec.param_instances(list(range(10))) == tuple(range(poseidon))


@pytest.mark.parametrize(
    ("params", "poseidon", "refused"),
    [
        ("Private", 0, "param visibility is private: the verifying key does not fix the weights and no hash of them is public"),
        (HASHED_PARAMS, 0, "hashed params publish no hash instance, so nothing pins the weights"),
    ],
)
def test_params_nothing_pins_are_refused(tmp_path: Path, params: Any, poseidon: int, refused: str) -> None:
    with pytest.raises(OracleError) as info:
        model_spec(_settings(tmp_path, params, poseidon))
    assert refused in str(info.value) and "\n" not in str(info.value)
    assert 'param_visibility = "fixed"' in str(info.value)


@pytest.fixture(scope="module")
def tiny_private(tiny: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny circuit with ``param_visibility = "private"``, proved: the issue's attack needs nothing more."""
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = tiny.pipeline.config.with_circuit(param_visibility="private")
    pipeline = Pipeline(config, Workspace(tmp_path_factory.mktemp("private") / "tiny_private"))
    pipeline.run()
    return pipeline


def test_a_private_param_model_is_not_registered(tiny_private: Any, chain: World) -> None:
    verifier = tiny_private.deploy(chain.conn, sender=chain.owner).address
    nonce = chain.conn.w3.eth.get_transaction_count(chain.owner.address)
    with pytest.raises(OracleError, match="param visibility is private") as info:
        orc.register_workspace(
            chain.conn, chain.oracle, Path(tiny_private.ws.root), verifier=verifier, sender=chain.owner, contracts=chain.contracts
        )
    assert "\n" not in str(info.value)
    # Refused before anything was sent.
    assert chain.conn.w3.eth.get_transaction_count(chain.owner.address) == nonce


# --------------------------------------------------------------------------- hashed params


@pytest.fixture(scope="module")
def tiny_hashed_params(tiny: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny circuit with ``param_visibility = "hashed"`` (one Poseidon hash of its weights), proved."""
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = tiny.pipeline.config.with_circuit(param_visibility="hashed")
    pipeline = Pipeline(config, Workspace(tmp_path_factory.mktemp("hashed_params") / "tiny_hashed_params"))
    pipeline.run()
    return pipeline


@pytest.fixture(scope="module")
def other_weights(tiny_hashed_params: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit's attack on hashed params: the tiny model with 5.0 added to its last bias, proved on
    the honest input with the HONEST proving key (ezkl directly, as an attacker would: no zkml check)."""
    import onnx
    from onnx import numpy_helper

    from zkml import _ezkl

    honest = Layout(Path(tiny_hashed_params.ws.root))
    root = tmp_path_factory.mktemp("other_weights")
    model = onnx.load(str(honest.onnx))
    bias = model.graph.initializer[-1]
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 5.0, bias.name))
    onnx.save(model, str(root / "model.onnx"))
    _ezkl.call("compile_circuit", str(root / "model.onnx"), str(root / "model.compiled"), str(honest.settings))
    _ezkl.call("gen_witness", str(honest.input), str(root / "model.compiled"), str(root / "witness.json"))
    srs = str(tiny_hashed_params.srs().path)
    _ezkl.call("prove", str(root / "witness.json"), str(root / "model.compiled"), str(honest.pk), str(root / "proof.json"), srs_path=srs)
    # The honest verifying key accepts it: only the param hash tells the weights apart.
    assert _ezkl.call("verify", str(root / "proof.json"), str(honest.settings), str(honest.vk), srs_path=srs)
    return root / "proof.json"


def _proof(pipeline: Any) -> Path:
    return Layout(Path(pipeline.ws.root)).proof


def test_hashed_params_are_pinned_and_other_weights_are_refused_on_chain(
    tiny_hashed_params: Any, other_weights: Path, chain: World
) -> None:
    honest, forged = read_proof(_proof(tiny_hashed_params)), read_proof(other_weights)
    verifier = tiny_hashed_params.deploy(chain.conn, sender=chain.owner).address
    reg = orc.register_workspace(
        chain.conn, chain.oracle, Path(tiny_hashed_params.ws.root), verifier=verifier, sender=chain.owner, contracts=chain.contracts
    )
    spec = reg.spec
    assert (spec.params, spec.param_offset, spec.param_count, spec.input_offset, spec.output_offset) == ("hashed", 0, 1, 1, 5)
    assert reg.params_commitment == params_commitment(spec.param_instances(honest.instances))
    assert orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)["params_commitment"] == reg.params_commitment  # type: ignore[index]
    # Such a vk is the same for any weights: the default id covers the commitment, and the binding keeps it.
    model = orc.workspace_model(Path(tiny_hashed_params.ws.root))
    assert reg.model_id != orc.default_model_id(model.vk_sha256, model.settings_sha256)
    assert orc.register_workspace(chain.conn, chain.oracle, Path(tiny_hashed_params.ws.root), verifier=verifier,
                                  sender=chain.owner, contracts=chain.contracts).reused  # fmt: skip
    with pytest.raises(OracleError, match="already registered .* with another params_commitment"):
        orc.register_model(chain.conn, chain.oracle, reg.model_id, verifier, spec, bounds=reg.bounds,
                           params_commitment=params_commitment(spec.param_instances(forged.instances)),
                           sender=chain.owner, contracts=chain.contracts)  # fmt: skip
    # Same inputs, other weights: another param hash, outputs moved by the +5.0 bias.
    assert spec.input_instances(forged.instances) == spec.input_instances(honest.instances)
    assert spec.param_instances(forged.instances) != spec.param_instances(honest.instances)
    # The verifier accepts the forgery; the oracle refuses it before verifying, whoever sends it.
    answer = chain.conn.w3.eth.call({"to": verifier, "data": "0x" + encode_calldata(forged).hex()})
    assert int.from_bytes(bytes(answer)[:32], "big") == 1
    for send_it in (lambda: publish(chain, reg.model_id, other_weights), lambda: submit_raw(chain, reg.model_id, other_weights)):
        with pytest.raises(OracleRevertError) as info:
            send_it()
        assert info.value.error == "ParamsMismatch" and info.value.values[1:] == (
            reg.params_commitment,
            params_commitment(spec.param_instances(forged.instances)),
        )
        assert "\n" not in str(info.value) and "other weights" in str(info.value)
    # The honest proof publishes.
    pub = publish(chain, reg.model_id, _proof(tiny_hashed_params))
    assert pub.prediction.values == tuple(felt_to_int(v) for v in honest.instances[spec.output_offset :])
    # The run's own decoding skips the param hash: the outputs it shows are the stored ones.
    decoded = decode_instances(honest.instances, Layout(Path(tiny_hashed_params.ws.root)).settings)
    assert decoded.outputs[0] == tuple(v / 2**spec.scale for v in pub.prediction.values)
    assert decoded.inputs[0] == tuple(felt_to_int(v) / 2**spec.input_scale for v in spec.input_instances(honest.instances))


STUB_SOURCE = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
/// Attests the same input instances at every epoch up to 3 (the honest proof's input).
contract StubSource {
    uint256[] private values;
    constructor(uint256[] memory v) { values = v; }
    function width() external view returns (uint256) { return values.length; }
    function latestEpoch() external pure returns (uint256) { return 3; }
    function instancesAt(uint256[] calldata epochs) external view returns (uint256[] memory out, uint64[] memory times) {
        out = new uint256[](epochs.length * values.length);
        times = new uint64[](epochs.length);
        for (uint256 k = 0; k < epochs.length; ++k) {
            for (uint256 j = 0; j < values.length; ++j) out[k * values.length + j] = values[j];
            times[k] = uint64(block.timestamp);
        }
    }
}
"""


@pytest.fixture(scope="module")
def stub_source() -> CompiledContract:
    from zkml.evm.solc import compile_standard_json

    return compile_standard_json({"StubSource.sol": STUB_SOURCE})["StubSource"]


def test_every_submit_path_checks_the_params(
    tiny_hashed_params: Any, other_weights: Path, stub_source: CompiledContract, chain: World, tmp_path: Path
) -> None:
    from zkml.evm.deploy import deploy_verifier, register_vka

    root, honest = Path(tiny_hashed_params.ws.root), read_proof(_proof(tiny_hashed_params))
    model = orc.workspace_model(root)
    spec, pinned = model.spec, model.params_commitment()
    bounds = workspace_bounds(root, spec.input_scale, spec.sample_width)
    deployed = transact(chain.conn, chain.owner, stub_source.bytecode + _abi_args(spec.input_instances(honest.instances)), "deploying")
    source = deployed["contractAddress"]
    artifact = tiny_hashed_params.verifier(reusable=True)
    vka = tiny_hashed_params.vka()
    reusable = deploy_verifier(chain.conn, artifact, tmp_path, srs_unsafe=True, sender=chain.owner)
    register_vka(chain.conn, reusable, artifact, vka, tmp_path, srs_unsafe=True, sender=chain.owner)
    plain = tiny_hashed_params.deploy(chain.conn, sender=chain.owner).address
    digest = bytes.fromhex(vka.digest.removeprefix("0x"))
    paths = {  # entry point: (model id, verifier, VKA words or None, epochs or None)
        "submitWithVka": (b"\x21" * 32, reusable.address, list(vka.words), None),
        "submitAttested": (b"\x22" * 32, plain, None, [2]),
        "submitAttestedWithVka": (b"\x23" * 32, reusable.address, list(vka.words), [2]),
    }
    for name, (model_id, verifier, words, epochs) in paths.items():
        orc.register_model(
            chain.conn, chain.oracle, model_id, verifier, spec, bounds=bounds, source=source if epochs else None, max_epoch_lag=4,
            vka_digest=digest if words else None, params_commitment=pinned, sender=chain.owner, contracts=chain.contracts,
        )  # fmt: skip
        with pytest.raises(OracleRevertError) as info:
            publish(chain, model_id, other_weights, vka_words=words, epochs=epochs)
        assert info.value.error == "ParamsMismatch", name
        pub = publish(chain, model_id, _proof(tiny_hashed_params), vka_words=words, epochs=epochs)
        assert pub.prediction.epoch == (epochs or [0])[0], name


def _abi_args(values: tuple[int, ...]) -> bytes:
    from eth_abi import encode

    return bytes(encode(["uint256[]"], [list(values)]))


def test_the_contract_refuses_a_param_hash_left_unpinned(tiny_hashed_params: Any, other_weights: Path, chain: World) -> None:
    root = Path(tiny_hashed_params.ws.root)
    verifier = tiny_hashed_params.deploy(chain.conn, sender=chain.owner).address
    model = orc.workspace_model(root)
    spec, pinned = model.spec, model.params_commitment()
    bounds = [list(b) for b in workspace_bounds(root, spec.input_scale, spec.sample_width)]
    code = codehash_of(onchain_code(chain.conn, verifier))
    # What the old tooling would have registered by hand: inputs and outputs, the param hash ignored.
    unpinned = ModelSpec("public", spec.instance_count, spec.input_offset, spec.input_count, spec.output_offset, spec.output_count,
                         spec.scale, input_scale=spec.input_scale)  # fmt: skip
    attempts = [  # (the contract's reason, entry point, layout, commitment)
        ("an instance is bound to nothing", "registerModel", unpinned, None),
        ("hashed params need a commitment", "registerModel", spec, None),
        ("hashed params need a commitment", "registerModelWithParams", spec, b"\0" * 32),
        ("in/out/param ranges overlap", "registerModelWithParams", replace(spec, param_offset=1), pinned),
    ]
    for reason, fn, layout, commitment in attempts:
        config = layout.config_tuple(verifier, code, b"\0" * 32, 60)
        args = [b"\x24" * 32, config, bounds] + ([commitment] if commitment is not None else [])
        with pytest.raises(OracleRevertError, match=reason) as info:
            send(chain, contract(chain).encode_abi(fn, args=args), "registering")
        assert info.value.error == "InvalidModelConfig", reason
    # So the forgery, which the verifier accepts, is never stored under that verifier.
    with pytest.raises(OracleRevertError) as info:
        submit_raw(chain, b"\x24" * 32, other_weights)
    assert info.value.error == "UnknownModel"


def test_a_fixed_params_model_takes_no_params_commitment(chain: World, tiny: Any) -> None:
    reg = orc.register_workspace(chain.conn, chain.oracle, Path(tiny.pipeline.ws.root), verifier=chain.tiny_verifier,
                                 sender=chain.owner, contracts=chain.contracts)  # fmt: skip
    assert reg.spec.params == "fixed" and reg.params_commitment == b"\0" * 32
    with pytest.raises(OracleError, match="params are fixed but a params commitment was given"):
        orc.register_model(chain.conn, chain.oracle, b"\x25" * 32, chain.tiny_verifier, reg.spec, bounds=reg.bounds,
                           params_commitment=b"\1" * 32, sender=chain.owner, contracts=chain.contracts)  # fmt: skip
    config = reg.spec.config_tuple(chain.tiny_verifier, reg.codehash, b"\0" * 32, 60)
    data = contract(chain).encode_abi("registerModelWithParams", args=[b"\x25" * 32, config, [list(b) for b in reg.bounds], b"\1" * 32])
    with pytest.raises(OracleRevertError, match="fixed params take no commitment"):
        send(chain, data, "registering")
    publish(chain, reg.model_id, Layout(Path(tiny.pipeline.ws.root)).proof)
