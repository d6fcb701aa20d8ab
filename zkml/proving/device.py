"""Device selection for proving: ``auto``, ``cpu`` or ``gpu``.

ezkl 23.0.5 from PyPI is a CPU build. GPU proving needs an ezkl built with its
``gpu-accelerated`` feature (ICICLE), the ICICLE CUDA backend installed where
``ICICLE_BACKEND_INSTALL_DIR`` points, and a CUDA device. In 23.x the Python
bindings may not initialise the device even in such a build, while the CLI
binary does; so the GPU path runs the ``ezkl`` binary in a subprocess
(:func:`prove_with_cli`) and the CPU path uses the Python bindings.

Detection only looks (environment, files, ``nvidia-smi``); it never loads CUDA.
Every probe can be replaced, which is how the selection logic is tested on
machines without a GPU. The GPU path itself is untested on hardware (see
``docs/gpu.md``).
"""

from __future__ import annotations

import logging
import mmap
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from zkml.errors import ConfigError, DeviceError

log = logging.getLogger(__name__)

DeviceRequest = Literal["auto", "cpu", "gpu"]
DEVICES: tuple[DeviceRequest, ...] = ("auto", "cpu", "gpu")

ICICLE_ENV = "ICICLE_BACKEND_INSTALL_DIR"
# An explicit ezkl binary; otherwise `ezkl` on PATH.
EZKL_BIN_ENV = "ZKML_EZKL_BIN"
# Declares the binary GPU-capable when its bytes cannot be inspected (or to skip the scan).
EZKL_GPU_ENV = "ZKML_EZKL_GPU"


@dataclass(frozen=True)
class GpuProbe:
    """What detection found, each part on its own so a summary can say what is missing.

    Attributes:
        cuda_device: a CUDA device is visible (``/dev/nvidia0``, ``/proc/driver/nvidia/gpus`` or ``nvidia-smi -L``).
        icicle_dir: the ICICLE backend folder, when ``ICICLE_BACKEND_INSTALL_DIR`` points at an existing one.
        ezkl_binary: the ezkl CLI binary, when found.
        binary_gpu: the binary was built with ICICLE (declared, or the string ``icicle`` is in it).
        notes: why each missing part was judged missing.
    """

    cuda_device: bool
    icicle_dir: Path | None
    ezkl_binary: Path | None
    binary_gpu: bool
    notes: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """True when every part of the GPU path is present."""
        return self.cuda_device and self.icicle_dir is not None and self.ezkl_binary is not None and self.binary_gpu


@dataclass(frozen=True)
class DeviceChoice:
    """The device a prover will use and why.

    Attributes:
        requested: what the user asked for.
        used: ``cpu`` or ``gpu``.
        reason: one line for summaries and manifests.
        ezkl_binary: the CLI binary that proves on the GPU (``used == "gpu"`` only).
        env: extra environment for that binary (``ICICLE_BACKEND_INSTALL_DIR``).
    """

    requested: DeviceRequest
    used: Literal["cpu", "gpu"]
    reason: str
    ezkl_binary: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str | None]:
        """Plain-JSON form for manifests and ``--json`` output."""
        return {
            "requested": self.requested,
            "used": self.used,
            "reason": self.reason,
            "ezkl_binary": str(self.ezkl_binary) if self.ezkl_binary else None,
        }


def _has_cuda_device(env: Mapping[str, str], which: Callable[[str], str | None], root: Path) -> tuple[bool, str]:
    if env.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False, "CUDA_VISIBLE_DEVICES hides every device"
    if (root / "dev/nvidia0").exists() or any((root / "proc/driver/nvidia/gpus").glob("*")):
        return True, ""
    smi = which("nvidia-smi")
    if smi:
        try:
            listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"nvidia-smi failed: {exc}"
        if "GPU" in listed:
            return True, ""
    return False, "no CUDA device (/dev/nvidia0 absent, nvidia-smi lists none)"


def _binary_has_icicle(path: Path) -> bool:
    """Whether an ezkl binary was built with ICICLE (its symbols name the crate)."""
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(b"icicle") != -1
    except (OSError, ValueError):
        return False


def probe_gpu(
    env: Mapping[str, str] | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    root: Path = Path("/"),
    binary_has_icicle: Callable[[Path], bool] = _binary_has_icicle,
) -> GpuProbe:
    """Look for every part of the GPU proving path without initialising anything.

    Args:
        env: the environment to read (default ``os.environ``).
        which: how to find executables on PATH.
        root: filesystem root for ``/dev`` and ``/proc`` (a fake tree in tests).
        binary_has_icicle: how to tell a GPU build of the ezkl binary.
    """
    env = os.environ if env is None else env
    notes: list[str] = []
    cuda, note = _has_cuda_device(env, which, root)
    if note:
        notes.append(note)
    icicle: Path | None = None
    raw_icicle = env.get(ICICLE_ENV)
    if not raw_icicle:
        notes.append(f"{ICICLE_ENV} is not set")
    elif not Path(raw_icicle).is_dir():
        notes.append(f"{ICICLE_ENV}={raw_icicle} is not a folder")
    else:
        icicle = Path(raw_icicle)
    binary: Path | None = None
    raw_bin = env.get(EZKL_BIN_ENV) or which("ezkl")
    if raw_bin and Path(raw_bin).is_file():
        binary = Path(raw_bin)
    else:
        notes.append(f"no ezkl CLI binary ({EZKL_BIN_ENV} unset and none on PATH)")
    gpu_build = False
    if binary is not None:
        declared = env.get(EZKL_GPU_ENV)
        gpu_build = declared == "1" if declared in ("0", "1") else binary_has_icicle(binary)
        if not gpu_build:
            notes.append(f"{binary} is not a GPU (ICICLE) build of ezkl")
    return GpuProbe(cuda, icicle, binary, gpu_build, tuple(notes))


def select_device(requested: str = "auto", probe: GpuProbe | None = None) -> DeviceChoice:
    """Choose the proving device.

    ``auto`` takes the GPU when every part of the GPU path is present, else the
    CPU; ``gpu`` insists; ``cpu`` never probes.

    Raises:
        ConfigError: ``requested`` is not auto, cpu or gpu.
        DeviceError: ``gpu`` was requested and some part is missing.
    """
    if requested not in DEVICES:
        raise ConfigError(f"device {requested!r} is unknown", hint=f"use one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return DeviceChoice("cpu", "cpu", "cpu requested (ezkl Python bindings)")
    found = probe if probe is not None else probe_gpu()
    if found.available:
        assert found.ezkl_binary is not None and found.icicle_dir is not None
        return DeviceChoice(
            requested,  # type: ignore[arg-type]
            "gpu",
            f"ICICLE CUDA backend at {found.icicle_dir} via {found.ezkl_binary}",
            ezkl_binary=found.ezkl_binary,
            env={ICICLE_ENV: str(found.icicle_dir)},
        )
    missing = "; ".join(found.notes) or "GPU path incomplete"
    if requested == "gpu":
        raise DeviceError(f"--device gpu: no usable GPU prover: {missing}", hint="see docs/gpu.md, or use --device auto/cpu")
    log.info("device auto: using cpu (%s)", missing)
    return DeviceChoice("auto", "cpu", f"no GPU prover ({missing})")


def prove_with_cli(
    choice: DeviceChoice,
    witness: Path,
    compiled: Path,
    pk: Path,
    proof_out: Path,
    srs: Path,
    *,
    timeout: float | None = None,
) -> None:
    """Prove with the ezkl CLI binary (the path that initialises the ICICLE device).

    Raises:
        DeviceError: the binary is missing, failed or timed out.
    """
    if choice.ezkl_binary is None:
        raise DeviceError("no ezkl binary selected for GPU proving", hint="use select_device('gpu') first")
    command = [
        str(choice.ezkl_binary),
        "prove",
        "--witness",
        str(witness),
        "--compiled-circuit",
        str(compiled),
        "--pk-path",
        str(pk),
        "--proof-path",
        str(proof_out),
        "--srs-path",
        str(srs),
    ]
    env = {**os.environ, **choice.env}
    log.debug("gpu prove: %s", " ".join(command))
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise DeviceError(f"running {choice.ezkl_binary} failed: {exc}", hint="check the binary, or use --device cpu") from exc
    if done.stdout or done.stderr:
        log.debug("ezkl cli printed:\n%s%s", done.stdout, done.stderr)
    if done.returncode != 0 or not Path(proof_out).is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DeviceError(f"ezkl prove on the GPU exited {done.returncode}: {tail[0]}", hint="see docs/gpu.md, or use --device cpu")
