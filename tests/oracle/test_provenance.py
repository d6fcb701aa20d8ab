"""`zkml provenance` on a real anvil: the demo's attested prediction walks all green; a swapped verifier, SRS or ONNX breaks its link.

The demo runs once per module, on a copy of the session's ``mlp`` workspace (the
shared one is never written) inside an ``evm_snapshot`` that is reverted when
the module ends; tests that change the chain take their own snapshot.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from zkml_cli.main import cli

from zkml.evm.rpc import Connection, Sender, connect
from zkml.oracle.demo import demo_flow
from zkml.oracle.encoding import parse_bytes32
from zkml.oracle.provenance import walk
from zkml.oracle.provenance_links import WorkspaceFiles, srs_link
from zkml.oracle.registry import register_workspace
from zkml.workspace import Layout

CHAIN_LINKS = ("oracle", "prediction", "registration", "verifier code")
WORKSPACE_LINKS = ("compiled verifier", "verifying key", "keys", "settings", "model id", "srs", "onnx")
ORDER = (*CHAIN_LINKS, *WORKSPACE_LINKS, "feature source", "inputs", "proof")
REDERIVE_LINKS = ("rederived vk", "rederived verifier")
# PUSH1 1 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: a "verifier" that accepts everything.
ALWAYS_TRUE = "0x600160005260206000f3"


@dataclass(frozen=True)
class Demo:
    """The demo's chain state and the workspace copy it ran in (``base/build/mlp_regressor``)."""

    conn: Connection
    base: Path
    workspace: Path
    owner: Sender
    oracle: str
    verifier: str
    source: str
    epoch: int
    prediction_id: str
    tx_hash: str
    proof: Path  # the demo's attested proof (in the workspace's attested/)


def _copy_workspace(src: Path, dst: Path) -> Path:
    """Copy a workspace; the proving key (100+ MB, only ever read) is hard-linked instead."""

    def copy(a: str, b: str) -> None:
        if Path(a).name == "pk.key":
            os.link(a, b)
        else:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=copy)
    return dst


def _snapshot(conn: Connection) -> str:
    return str(conn.w3.provider.make_request("evm_snapshot", [])["result"])


def _revert(conn: Connection, snap: str) -> None:
    assert conn.w3.provider.make_request("evm_revert", [snap])["result"] is True


@pytest.fixture(scope="module")
def demo(anvil: Any, mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    conn = connect(anvil.url)
    snap = _snapshot(conn)
    try:
        base = tmp_path_factory.mktemp("provenance")
        root = _copy_workspace(mlp.workspace, base / "build" / "mlp_regressor")
        pipeline = Pipeline(mlp.pipeline.config, Workspace(root))
        owner = Sender(conn.w3.eth.accounts[0])
        verifier = pipeline.deploy(conn, sender=owner).address
        result = demo_flow(pipeline, conn, sender=owner, verifier=verifier)
        assert result["replayed"] is False
        yield Demo(
            conn, base, root, owner, result["oracle_address"], verifier, result["source_address"], result["epoch"],
            result["prediction"]["prediction_id"], result["tx_hash"], Path(result["proof"]),
        )  # fmt: skip
    finally:
        _revert(conn, snap)


@pytest.fixture
def chain(demo: Demo) -> Iterator[Demo]:
    """The demo's chain, reverted after the test."""
    snap = _snapshot(demo.conn)
    yield demo
    _revert(demo.conn, snap)


def _run(demo: Demo, *args: str) -> Any:
    return CliRunner().invoke(cli, ["provenance", "--oracle", demo.oracle, *args, "--rpc-url", demo.conn.url], catch_exceptions=False)


def _links(result: Any) -> dict[str, Any]:
    return {link.name: link for link in result.links}


def _broken(result: Any) -> list[str]:
    return [link.name for link in result.links if link.status == "broken"]


# --------------------------------------------------------------------------- the honest path


def test_walk_from_the_prediction_id_is_all_green(demo: Demo) -> None:
    result = walk(demo.conn, demo.oracle, parse_bytes32(demo.prediction_id), search=[demo.base / "build"])
    assert [link.name for link in result.links] == list(ORDER)
    assert all(link.status == "ok" for link in result.links), [link.as_dict() for link in result.links if link.status != "ok"]
    assert result.ok and result.workspace == demo.workspace and "default model id" in result.found_by
    links = _links(result)
    assert "development only" in links["srs"].detail.lower()  # a dev SRS passes on a dev chain, flagged
    assert f"epoch {demo.epoch}" in links["inputs"].detail
    assert result.samples[0].prediction_id.hex() == demo.prediction_id.removeprefix("0x")
    assert result.submission.tx_hash == demo.tx_hash and result.submission.call is not None
    assert result.submission.call.function == "submitAttested" and result.submission.call.epochs == (demo.epoch,)


def test_walk_from_the_tx_hash_is_the_same_walk(demo: Demo) -> None:
    by_id = walk(demo.conn, demo.oracle, parse_bytes32(demo.prediction_id), workspace=demo.workspace)
    by_tx = walk(demo.conn, demo.oracle, parse_bytes32(demo.tx_hash), workspace=demo.workspace)
    assert by_tx.ok and by_tx.links == by_id.links and by_tx.samples == by_id.samples
    assert by_tx.submission.named is None and by_id.submission.named is not None


def test_cli_json_searches_build_and_exits_0(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo.base)
    out = _run(demo, demo.prediction_id, "--json")
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["ok"] is True and payload["prediction"]["prediction_id"] == demo.prediction_id
    assert [link["name"] for link in payload["links"]] == list(ORDER)
    assert {tuple(sorted(link)) for link in payload["links"]} == {("actual", "detail", "expected", "name", "status")}
    assert payload["tx"]["tx_hash"] == demo.tx_hash and Path(payload["workspace"]).resolve() == demo.workspace.resolve()


def test_cli_human_output_from_the_tx_hash(demo: Demo) -> None:
    out = _run(demo, demo.tx_hash, "--workspace", str(demo.workspace))
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert sum(line.startswith("[ok]") for line in lines) == len(ORDER)
    assert "[BROKEN]" not in out.output and "every link holds" in lines[-1]
    assert any(line.startswith("[ok]") and "verifier code" in line and "= registered" in line for line in lines)


# --------------------------------------------------------------------------- broken links


def test_swapped_verifier_code_breaks_the_verifier_link(chain: Demo) -> None:
    chain.conn.w3.provider.make_request("anvil_setCode", [chain.verifier, ALWAYS_TRUE])
    result = walk(chain.conn, chain.oracle, parse_bytes32(chain.prediction_id), workspace=chain.workspace)
    links = _links(result)
    assert not result.ok
    assert links["verifier code"].status == "broken" and "!= registered" in links["verifier code"].detail
    assert links["verifier code"].actual != links["verifier code"].expected
    # The code is no longer the compiled verifier, and an always-true contract's "yes" proves nothing.
    assert _broken(result) == ["verifier code", "compiled verifier", "proof"]
    out = _run(chain, chain.prediction_id, "--workspace", str(chain.workspace))
    assert out.exit_code == 1
    assert any(line.startswith("[BROKEN]") and "verifier code" in line for line in out.output.splitlines())


def _workspace_with_srs(demo: Demo, tmp_path: Path, *, rerecord: bool) -> Path:
    """A copy of the demo's workspace whose recorded SRS file is a tampered copy (its record updated too if ``rerecord``)."""
    from zkml.artifacts import sha256_file

    root = _copy_workspace(demo.workspace, tmp_path / "ws")
    manifest = json.loads(Layout(root).manifest.read_text())
    srs = tmp_path / "swapped.srs"
    shutil.copyfile(manifest["info"]["srs"]["path"], srs)
    data = bytearray(srs.read_bytes())
    data[100] ^= 0xFF  # inside the first G1 point: same size and header, another SRS
    srs.write_bytes(bytes(data))
    manifest["info"]["srs"]["path"] = str(srs)
    if rerecord:
        manifest["info"]["srs"]["sha256"] = sha256_file(srs)
    Layout(root).manifest.write_text(json.dumps(manifest))
    return root


@pytest.mark.parametrize(("rerecord", "against"), [(False, "its record's"), (True, "keys' srs sha256")])
def test_swapped_srs_breaks_the_srs_link(demo: Demo, tmp_path: Path, rerecord: bool, against: str) -> None:
    root = _workspace_with_srs(demo, tmp_path, rerecord=rerecord)
    result = walk(demo.conn, demo.oracle, parse_bytes32(demo.prediction_id), workspace=root)
    assert _broken(result) == ["srs"]
    srs = _links(result)["srs"]
    assert srs.detail.startswith("file sha256") and against in srs.detail and srs.actual != srs.expected
    out = _run(demo, demo.prediction_id, "--workspace", str(root), "--json")
    assert out.exit_code == 1 and json.loads(out.stdout)["ok"] is False


def test_an_unsafe_srs_is_broken_on_a_public_chain(demo: Demo) -> None:
    files = WorkspaceFiles(demo.workspace)
    assert srs_link(files, dev_chain=True, chain_id=31337).status == "ok"
    public = srs_link(files, dev_chain=False, chain_id=11155111)
    assert public.status == "broken" and "dev-unsafe" in public.detail and "11155111" in public.detail


def test_no_matching_workspace_breaks_the_workspace_links(demo: Demo, tmp_path: Path) -> None:
    result = walk(demo.conn, demo.oracle, parse_bytes32(demo.prediction_id), search=[tmp_path])
    assert _broken(result) == list(WORKSPACE_LINKS)
    assert all("--workspace" in _links(result)[name].detail for name in WORKSPACE_LINKS)


# --------------------------------------------------------------------------- other models


def test_an_unattested_model_breaks_the_inputs_link_unless_allowed(chain: Demo) -> None:
    from zkml.oracle.client import publish

    reg = register_workspace(chain.conn, chain.oracle, chain.workspace, verifier=chain.verifier, sender=chain.owner)
    assert not reg.attested
    published = publish(chain.conn, chain.oracle, reg.model_id, Layout(chain.workspace).proof, sender=chain.owner)
    pid = published.prediction.prediction_id
    strict = walk(chain.conn, chain.oracle, pid, search=[chain.base / "build"])
    assert _broken(strict) == ["inputs"] and "unattested: inputs chosen by the submitter" in _links(strict)["inputs"].detail
    assert "feature source" not in _links(strict)
    relaxed = walk(chain.conn, chain.oracle, pid, workspace=chain.workspace, allow_unattested=True)
    assert relaxed.ok and _links(relaxed)["inputs"].status == "warning"
    out = _run(chain, "0x" + pid.hex(), "--workspace", str(chain.workspace))
    assert out.exit_code == 1 and "unattested" in out.output
    out = _run(chain, "0x" + pid.hex(), "--workspace", str(chain.workspace), "--allow-unattested")
    assert out.exit_code == 0 and "[WARN]" in out.output


def test_a_custom_model_id_is_a_warning_found_by_the_verifier_code(chain: Demo) -> None:
    from zkml.oracle.client import publish

    custom = bytes.fromhex("c0de" * 16)
    register_workspace(
        chain.conn, chain.oracle, chain.workspace, model_id=custom, verifier=chain.verifier, feature_source=chain.source,
        max_epoch_lag=4, sender=chain.owner,
    )  # fmt: skip
    published = publish(chain.conn, chain.oracle, custom, chain.proof, epochs=[chain.epoch], sender=chain.owner)
    result = walk(chain.conn, chain.oracle, published.prediction.prediction_id, search=[chain.base / "build"])
    assert result.ok and result.workspace == chain.workspace and "verifier is the code on chain" in result.found_by
    model = _links(result)["model id"]
    assert model.status == "warning" and model.detail.startswith("unverifiable: custom model id")
    assert [link.name for link in result.links if link.status != "ok"] == ["model id"]


# --------------------------------------------------------------------------- bad arguments


def test_an_unknown_prediction_id_is_a_clear_error(demo: Demo) -> None:
    out = CliRunner().invoke(cli, ["provenance", "--oracle", demo.oracle, "0x" + "ab" * 32, "--rpc-url", demo.conn.url])
    assert out.exit_code == 2
    assert "is neither a transaction nor a prediction published on oracle" in out.output
    out = CliRunner().invoke(cli, ["provenance", "--oracle", demo.oracle, "0x1234", "--rpc-url", demo.conn.url])
    assert out.exit_code == 2 and "expected 32 bytes" in out.output


def test_a_batch_walks_each_sample_it_published(chain: Demo, batched_tiny: Any, tmp_path: Path) -> None:
    from zkml.oracle import model_spec, publish, register_model
    from zkml.proving.batch import deploy_batch_verifier

    spec = model_spec(batched_tiny.circuit.spec.circuit.settings.path)
    verifier = deploy_batch_verifier(chain.conn, batched_tiny.circuit.spec, tmp_path / "evm", kind="plain").address
    wide = ((-(2**62), 2**62),) * spec.sample_width
    reg = register_model(chain.conn, chain.oracle, b"\x0b" * 32, verifier, spec, bounds=wide, sender=chain.owner)
    published = publish(chain.conn, chain.oracle, reg.model_id, batched_tiny.proofs[(0, 1)].proof.path, sender=chain.owner)
    assert published.tx_hash is not None and len(published.batch) == 2
    whole = walk(chain.conn, chain.oracle, parse_bytes32(published.tx_hash), search=[tmp_path], allow_unattested=True)
    assert [s.prediction_id for s in whole.samples] == [p.prediction_id for p in published.batch]
    links = _links(whole)
    assert links["prediction @0"].status == links["prediction @1"].status == "ok"
    assert links["proof"].status == "ok" and links["inputs"].status == "warning"
    # No workspace holds this circuit: only the workspace links break.
    assert _broken(whole) == list(WORKSPACE_LINKS)
    one = walk(chain.conn, chain.oracle, published.batch[1].prediction_id, search=[tmp_path], allow_unattested=True)
    assert [s.prediction_id for s in one.samples] == [published.batch[1].prediction_id]
    assert [link.name for link in one.links if link.name.startswith("prediction")] == ["prediction"]


# --------------------------------------------------------------------------- re-derivation (--rederive)


def _workspace_with_swapped_onnx(demo: Demo, tmp_path: Path) -> Path:
    """The audit's attack: model.onnx replaced by other weights, its export hash and compile fingerprint rewritten.

    The compiled circuit, keys and verifier stay the honest ones, so every file still
    matches its record and every recomputed fingerprint agrees: only recompiling sees it.
    """
    import onnx
    from onnx import numpy_helper

    from zkml.artifacts import sha256_file
    from zkml.config import load_config
    from zkml.workspace import fingerprint

    root = _copy_workspace(demo.workspace, tmp_path / "ws")
    layout = Layout(root)
    model = onnx.load(str(layout.onnx))
    last = model.graph.initializer[-1]
    last.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(last) + 5.0, last.name))  # another model's weights
    onnx.save(model, str(layout.onnx))
    manifest = json.loads(layout.manifest.read_text())
    fidelity_data = load_config(Path(manifest["info"]["circuit"]["toml"])).holdout or layout.calibration
    onnx_sha = sha256_file(layout.onnx)
    manifest["stages"]["export"]["outputs"]["model"]["sha256"] = onnx_sha
    manifest["stages"]["compile"]["fingerprint"] = fingerprint(
        {"stage": "compile", "model": onnx_sha, "settings": sha256_file(layout.settings),
         "fidelity_data": sha256_file(fidelity_data), "ezkl": manifest["info"]["tools"]["ezkl"]}
    )  # fmt: skip
    layout.manifest.write_text(json.dumps(manifest))
    return root


def test_a_swapped_onnx_with_a_rewritten_manifest_passes_the_fast_walk_which_says_so(demo: Demo, tmp_path: Path) -> None:
    root = _workspace_with_swapped_onnx(demo, tmp_path)
    result = walk(demo.conn, demo.oracle, parse_bytes32(demo.prediction_id), workspace=root)
    # The fast walk reads the manifest's records: a consistent rewrite of them is invisible to it, and it says so.
    assert result.ok and [link.name for link in result.links] == list(ORDER)
    assert "manifest" in result.trusts and "--rederive" in result.trusts
    out = _run(demo, demo.prediction_id, "--workspace", str(root))
    assert out.exit_code == 0 and "trusts: " in out.output and "--rederive" in out.output


def test_rederive_flags_the_swapped_onnx(demo: Demo, tmp_path: Path) -> None:
    root = _workspace_with_swapped_onnx(demo, tmp_path)
    result = walk(demo.conn, demo.oracle, parse_bytes32(demo.prediction_id), workspace=root, rederive=True)
    assert _broken(result) == list(REDERIVE_LINKS)
    links = _links(result)
    assert "model.onnx" in links["rederived vk"].detail and "vk.key" in links["rederived vk"].detail
    assert "on chain" in links["rederived verifier"].detail
    assert links["rederived verifier"].actual != links["rederived verifier"].expected
    out = _run(demo, demo.prediction_id, "--workspace", str(root), "--rederive")
    assert out.exit_code == 1
    broken_lines = [line for line in out.output.splitlines() if line.startswith("[BROKEN]")]
    assert [line.split()[1:3] for line in broken_lines] == [["rederived", "vk"], ["rederived", "verifier"]]
    # Nothing was written into the workspace.
    assert not any(p.name.startswith(".") or p.suffix == ".part" for p in root.rglob("*"))


def test_rederive_passes_on_the_honest_workspace(demo: Demo) -> None:
    out = _run(demo, demo.prediction_id, "--workspace", str(demo.workspace), "--rederive", "--json")
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["ok"] is True and [link["name"] for link in payload["links"]] == [*ORDER, *REDERIVE_LINKS]
    assert all(link["status"] == "ok" for link in payload["links"])
    assert "recomputed" in payload["trusts"]


def test_rederive_refuses_an_srs_that_is_not_the_pinned_one(demo: Demo, tmp_path: Path) -> None:
    from zkml.oracle.rederive import rederive_links

    root = _workspace_with_srs(demo, tmp_path, rerecord=False)
    links = rederive_links(WorkspaceFiles(root), runtime_sha256=None, vka_digest=None)
    assert [(link.name, link.status) for link in links] == [(name, "broken") for name in REDERIVE_LINKS]
    assert all(link.detail.startswith("unchecked: the SRS file") and "is not the pinned" in link.detail for link in links)
