"""zkml.proving.device: selection with fake environments (no GPU here), and the GPU prove path with a fake ezkl binary."""

from __future__ import annotations

import json
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from zkml.errors import ConfigError, DeviceError
from zkml.proving.device import probe_gpu, prove_with_cli, select_device


def _no_which(name: str) -> None:
    return None


def _fake_gpu_machine(tmp_path: Path, *, icicle_in_binary: bool = True) -> tuple[dict[str, str], Path]:
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "dev" / "nvidia0").write_text("")
    icicle = tmp_path / "icicle" / "lib" / "backend"
    icicle.mkdir(parents=True)
    binary = tmp_path / "bin" / "ezkl"
    binary.parent.mkdir()
    binary.write_bytes(b"\x7fELF...." + (b"libicicle_curve_bn254" if icicle_in_binary else b"plain cpu build"))
    return {"ICICLE_BACKEND_INSTALL_DIR": str(icicle), "ZKML_EZKL_BIN": str(binary)}, root


def test_cpu_never_probes() -> None:
    choice = select_device("cpu", probe=None)
    assert choice.used == "cpu" and choice.ezkl_binary is None


def test_auto_falls_back_to_cpu_and_says_why(tmp_path: Path) -> None:
    probe = probe_gpu({}, which=_no_which, root=tmp_path)
    assert not probe.available
    choice = select_device("auto", probe)
    assert choice.used == "cpu"
    assert "no CUDA device" in choice.reason and "ICICLE_BACKEND_INSTALL_DIR is not set" in choice.reason


def test_gpu_requested_without_gpu_is_a_device_error(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="no usable GPU prover.*docs/gpu.md"):
        select_device("gpu", probe_gpu({}, which=_no_which, root=tmp_path))


def test_unknown_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tpu"):
        select_device("tpu")


def test_auto_takes_the_gpu_when_every_part_is_there(tmp_path: Path) -> None:
    env, root = _fake_gpu_machine(tmp_path)
    choice = select_device("auto", probe_gpu(env, which=_no_which, root=root))
    assert choice.used == "gpu"
    assert choice.env == {"ICICLE_BACKEND_INSTALL_DIR": env["ICICLE_BACKEND_INSTALL_DIR"]}
    assert choice.as_dict()["used"] == "gpu" and choice.as_dict()["ezkl_binary"] == env["ZKML_EZKL_BIN"]


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({"CUDA_VISIBLE_DEVICES": ""}, "hides every device"),
        ({"ICICLE_BACKEND_INSTALL_DIR": "/nonexistent/icicle"}, "is not a folder"),
        ({"ZKML_EZKL_GPU": "0"}, "not a GPU (ICICLE) build"),
    ],
)
def test_each_missing_part_keeps_auto_on_cpu(tmp_path: Path, change: dict[str, str], missing: str) -> None:
    env, root = _fake_gpu_machine(tmp_path)
    choice = select_device("auto", probe_gpu({**env, **change}, which=_no_which, root=root))
    assert choice.used == "cpu" and missing in choice.reason


def test_cpu_build_binary_is_not_taken_unless_declared(tmp_path: Path) -> None:
    env, root = _fake_gpu_machine(tmp_path, icicle_in_binary=False)
    assert select_device("auto", probe_gpu(env, which=_no_which, root=root)).used == "cpu"
    assert select_device("auto", probe_gpu({**env, "ZKML_EZKL_GPU": "1"}, which=_no_which, root=root)).used == "gpu"


def test_nvidia_smi_listing_counts_as_a_device(tmp_path: Path) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA L4 (UUID: GPU-x)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    probe = probe_gpu({}, which=lambda name: str(smi) if name == "nvidia-smi" else None, root=tmp_path)
    assert probe.cuda_device


def _fake_ezkl(tmp_path: Path, proof_source: Path, *, fail: bool = False) -> Path:
    """A stand-in ezkl CLI: records its argv and ICICLE env, writes a real proof to --proof-path."""
    script = tmp_path / "fake-ezkl"
    log = tmp_path / "argv.json"
    body = (
        "sys.stderr.write('icicle: no device\\n'); sys.exit(3)" if fail else "shutil.copyfile(PROOF, args[args.index('--proof-path') + 1])"
    )
    script.write_text(
        f"#!{sys.executable}\nimport json, os, shutil, sys\nPROOF = {str(proof_source)!r}\nargs = sys.argv[1:]\n"
        f"open({str(log)!r}, 'w').write(json.dumps({{'argv': args, 'icicle': os.environ.get('ICICLE_BACKEND_INSTALL_DIR')}}))\n{body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_gpu_path_drives_the_ezkl_cli_with_the_icicle_env(tmp_path: Path, tiny_spec: Any, serial: Any, tiny_inputs: list[Path]) -> None:
    from zkml.proving.warm import WarmProver

    env, root = _fake_gpu_machine(tmp_path)
    env["ZKML_EZKL_BIN"] = str(_fake_ezkl(tmp_path, serial.results[0].proof.path))
    choice = select_device("gpu", probe_gpu(env, which=_no_which, root=root))
    result = WarmProver(replace(tiny_spec, device=choice), tmp_path / "out").prove(tiny_inputs[0])
    recorded = json.loads((tmp_path / "argv.json").read_text())
    assert recorded["argv"][0] == "prove" and recorded["icicle"] == env["ICICLE_BACKEND_INSTALL_DIR"]
    assert recorded["argv"][recorded["argv"].index("--pk-path") + 1] == str(tiny_spec.keys.pk_path)
    assert result.device == "gpu" and result.proof.path.is_file()


def test_gpu_binary_failure_is_a_device_error(tmp_path: Path) -> None:
    env, root = _fake_gpu_machine(tmp_path)
    env["ZKML_EZKL_BIN"] = str(_fake_ezkl(tmp_path, tmp_path / "none", fail=True))
    choice = select_device("gpu", probe_gpu(env, which=_no_which, root=root))
    with pytest.raises(DeviceError, match="exited 3: icicle: no device"):
        prove_with_cli(choice, tmp_path / "w.json", tmp_path / "c", tmp_path / "pk", tmp_path / "p.json", tmp_path / "srs")
