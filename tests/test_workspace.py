from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import TINY_CIRCUIT
from zkml.errors import WorkspaceError
from zkml.workspace import Workspace, atomic_path, fingerprint, write_bytes_atomic


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "pk.key"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["pk.key"]


def test_empty_output_is_not_kept(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="nothing was written"), atomic_path(tmp_path / "x"):
        pass
    assert not (tmp_path / "x").exists()


def test_record_and_current(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    out = tmp_path / "a.txt"
    out.write_text("a")
    key = fingerprint({"x": 1})
    ws.record("stage", key, {"a": out}, seconds=0.1)
    assert Workspace(tmp_path).current_outputs("stage", key) is not None
    assert ws.current_outputs("stage", fingerprint({"x": 2})) is None
    out.write_text("tampered")
    assert ws.current_outputs("stage", key) is None


def test_corrupt_manifest_means_nothing_is_current(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{half")
    ws = Workspace(tmp_path)
    assert ws.stage("export") is None


def test_unwritable_build_dir(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permissions; a read-only mount is a real unwritable folder.
        ro = tmp_path / "ro"
        ro.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], capture_output=True).returncode:
            pytest.skip("cannot mount a read-only tmpfs here")
        try:
            with pytest.raises(WorkspaceError, match="not writable|permission denied|read-only|cannot write"):
                Workspace(ro / "build")
        finally:
            subprocess.run(["umount", str(ro)], check=False)
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(WorkspaceError):
            Workspace(ro / "build")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Path:
    """A real 64 KiB filesystem, so 'disk full' is the kernel's ENOSPC, not a mock."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_is_one_clear_error_and_keeps_the_old_file(tiny_disk: Path) -> None:
    target = tiny_disk / "proof.json"
    target.write_bytes(b"previous proof")
    with pytest.raises(WorkspaceError, match="disk full"):
        write_bytes_atomic(target, b"x" * 200_000)
    assert target.read_bytes() == b"previous proof"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["proof.json"]


def test_stale_temporaries_of_dead_writers_are_cleared(tmp_path: Path) -> None:
    import os

    dead = tmp_path / ".pk.key.999999999.abc123.part"  # no such pid
    legacy = tmp_path / ".vk.key.k2j4l1.part"  # the old name format, without a pid
    alive = tmp_path / f".proof.json.{os.getpid()}.zz9.part"  # a writer that is still running
    for path in (dead, legacy, alive):
        path.write_bytes(b"x" * 10)
    Workspace(tmp_path)
    assert not dead.exists() and not legacy.exists()
    assert alive.exists()


def test_keys_killed_mid_setup_leave_nothing_the_next_run_keeps(tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """kill -9 during key generation leaves .part files; opening the workspace again clears them.

    The child holds its keys in their .part files for a minute after ezkl wrote them (a tiny circuit's
    setup takes milliseconds, so polling alone sometimes missed the window): the kill is real and
    always lands mid-setup, before the keys are committed.
    """
    import shutil
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "tiny"
    shutil.copytree(tiny.workspace, root)
    for name in ("pk.key", "vk.key", "keys.json"):
        (root / name).unlink()
    code = (
        "from pathlib import Path\nfrom zkml.config import config_for_onnx\nfrom zkml.pipeline import Pipeline\nfrom zkml.workspace import Workspace\n"
        f"config = config_for_onnx(Path({str(tiny.pipeline.config.onnx)!r}), input_path=Path({str(tiny.pipeline.config.input)!r}))"
        f".with_circuit(**{TINY_CIRCUIT!r})\n"
        "import time\nfrom zkml import _ezkl\nreal_call = _ezkl.call\n"
        "def held(name, *args, **kwargs):\n"
        "    result = real_call(name, *args, **kwargs)\n"
        "    if name == 'setup':\n"
        "        time.sleep(60)\n"
        "    return result\n"
        "_ezkl.call = held\n"
        f"Pipeline(config, Workspace({str(root)!r})).keys()\n"
    )
    log = tmp_path / "child.log"  # a file, not a pipe: a full pipe would stall the child
    with log.open("w") as stderr_file:
        proc = subprocess.Popen([sys.executable, "-c", code], stderr=stderr_file)
    deadline = time.monotonic() + 120
    # The keys' own .part files: other atomic writes (the manifest) pass through .part names too, and
    # are renamed in a moment, so waiting on any .part would sometimes kill before the keys.
    while not list(root.glob(".pk.key.*.part")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = list(root.glob(".pk.key.*.part"))
    assert left, f"the run finished (exit {proc.returncode}) before it could be killed mid-setup: {log.read_text()[-1500:]}"
    Workspace(root)
    assert not list(root.glob(".*.part"))


def test_generic_model_file_names_take_their_folder_name(tmp_path: Path) -> None:
    from zkml.workspace import workspace_name

    assert workspace_name(tmp_path / "zoo" / "lstm" / "network.onnx") == "lstm"
    assert workspace_name(tmp_path / "zoo" / "attention" / "Model.onnx") == "attention"
    assert workspace_name(tmp_path / "zoo" / "softmax.onnx") == "softmax"
    # A generic name in a generic folder still differs per parent folder.
    assert workspace_name(tmp_path / "a" / "model" / "network.onnx") != workspace_name(tmp_path / "b" / "model" / "network.onnx")


def test_a_workspace_of_another_model_is_refused_and_left_untouched(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "build" / "network")
    ws.claim({"name": "network", "onnx": str(tmp_path / "lstm" / "network.onnx")})
    before = ws.manifest_path.read_bytes()
    ws.claim({"name": "network", "onnx": str(tmp_path / "lstm" / "network.onnx")})  # the same model: fine
    with pytest.raises(WorkspaceError, match="belongs to another model") as info:
        Workspace(tmp_path / "build" / "network").claim({"name": "network", "onnx": str(tmp_path / "gru" / "network.onnx")})
    assert "--name" in str(info.value)
    assert ws.manifest_path.read_bytes() == before


def test_a_batched_circuit_lives_in_a_folder_of_its_batch_1_workspace(tmp_path: Path) -> None:
    from zkml.workspace import Layout

    layout = Layout(tmp_path / "mlp_regressor")
    assert layout.batch_dir(16) == tmp_path / "mlp_regressor" / "batch-16"
    assert layout.batch_dir(1) == layout.root  # B=1 is the circuit itself
    assert Layout(layout.batch_dir(16)).batch_example.name == "example_batch.json"
