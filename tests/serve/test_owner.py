"""One service per SQLite store, refused before it touches the other's jobs; the port checked first."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from zkml.errors import ConfigError
from zkml.serve.owner import StoreOwner, check_port

from .conftest import make_service


def test_a_second_owner_is_refused_by_name_until_the_first_lets_go(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    first = StoreOwner(db, listen="http://127.0.0.1:8000")
    with pytest.raises(ConfigError, match=rf"already served by another zkml serve \(pid {os.getpid()}, http://127.0.0.1:8000, since ") as e:
        StoreOwner(db)
    assert "\n" not in e.value.message and "--db" in (e.value.hint or "")
    first.release()
    StoreOwner(db).release()


def test_kill_9_of_the_owner_frees_the_store(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from zkml.serve.owner import StoreOwner; o = StoreOwner({str(db)!r}); print('held', flush=True); "
         "import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=f"pid {holder.pid}"):
            StoreOwner(db)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    StoreOwner(db).release()  # the kernel dropped the lock with the process


def test_a_second_service_leaves_the_first_ones_proving_job_alone(served: Any, tmp_path: Path) -> None:
    # What a user saw: the second `zkml serve` on the same file "requeued 1 jobs" of the first, which proved them twice.
    from zkml.serve.store import JobStore

    first = StoreOwner(tmp_path / "jobs.sqlite", listen="http://127.0.0.1:8000")  # the first service, mid-proof
    store = JobStore(str(tmp_path / "jobs.sqlite"))
    try:
        job, _ = store.submit(served.name, '{"input_data": [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]}')
        store.db.execute("UPDATE jobs SET state = 'proving' WHERE id = ?", (job.id,))
        second = make_service(served, tmp_path)
        with pytest.raises(ConfigError, match="already served by another zkml serve .*http://127.0.0.1:8000"):
            second.start()
        second.stop()
        assert store.db.execute("SELECT state FROM jobs WHERE id = ?", (job.id,))[0][0] == "proving" and second.recovered == 0
    finally:
        store.close()
        first.release()
    # Once the first is gone, a new service takes the store and recovers the job it left.
    third = make_service(served, tmp_path, run_workers=True)
    try:
        third.store.db.execute("UPDATE jobs SET model = 'nobody'")  # keep the workers off it: only recovery is tested
        third.start()
        assert third.recovered == 1
    finally:
        third.stop()


def test_a_port_in_use_is_refused_before_anything_else(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            check_port("127.0.0.1", port)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "zkml_cli.main", "serve", "start", str(tmp_path / "nothing-here"), "--port", str(port),
             "--db", str(tmp_path / "jobs.sqlite")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "requeued" not in result.stderr and not (tmp_path / "jobs.sqlite").exists()  # nothing was opened
    assert time.perf_counter() - started < 120
