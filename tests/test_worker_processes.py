"""``serve`` with delivery workers in their own processes (MAILGATE_WORKER_PROCESSES).

``serve`` starts ``mailgate worker --parent <pid>`` children beside its own workers,
stops them with it on SIGTERM (tests/servers/serve.py fails a serve that leaves any
behind), and a child whose ``serve`` was SIGKILLed stops by itself.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mailgate.config import Settings
from mailgate.errors import ConfigurationError
from tests.servers.serve import start_serve
from tests.test_inbound_processes import _children


def _workers(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in argv and str(pid).encode() in argv:
            found.append(child)
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"


def _wait_workers(pid: int, count: int, *, not_in: tuple[int, ...] = ()) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [p for p in _workers(pid) if p not in not_in]
        if len(found) == count:
            return found
        time.sleep(0.1)
    return _workers(pid)


def test_serve_starts_restarts_and_stops_worker_processes(tmp_path: Path) -> None:
    # start_serve's exit sends SIGTERM and fails if any process of serve's group is left.
    with start_serve(tmp_path, MAILGATE_WORKER_PROCESSES="2") as serve:
        workers = _wait_workers(serve.proc.pid, 2)
        assert len(workers) == 2, serve.stderr
        os.kill(workers[0], signal.SIGKILL)  # serve starts another in its place
        again = _wait_workers(serve.proc.pid, 1, not_in=tuple(workers))
        assert len(again) == 1, serve.stderr


def test_worker_processes_stop_when_serve_is_killed(tmp_path: Path) -> None:
    with (
        # start_serve's verdict on a killed serve; an init that reaps late may leave the
        # stopped worker as a zombie of the group, which it reports too.
        pytest.raises(AssertionError, match=r"exited -9|left processes of its group"),
        start_serve(tmp_path, MAILGATE_WORKER_PROCESSES="1") as serve,
    ):
        workers = _wait_workers(serve.proc.pid, 1)
        assert len(workers) == 1, serve.stderr
        os.kill(serve.proc.pid, signal.SIGKILL)
        serve.proc.wait()
        deadline = time.monotonic() + 30
        while not _gone(workers[0]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(workers[0]), "a worker outlived its serve"


def test_worker_processes_setting(tmp_path: Path) -> None:
    """MAILGATE_WORKER_PROCESSES: 0 to 64; by default one per usable CPU beyond serve's own."""
    base = {
        "MAILGATE_DATA_DIR": str(tmp_path),
        "MAILGATE_SECRET_KEY": "processes-test-key-Zx3Cv5Bn7Mm9Lk1Jh2Gf4",
    }
    assert Settings.from_env(base).worker_processes == len(os.sched_getaffinity(0)) - 1
    assert Settings.from_env({**base, "MAILGATE_WORKER_PROCESSES": "0"}).worker_processes == 0
    for bad in ("-1", "65", "two"):
        with pytest.raises(ConfigurationError, match="MAILGATE_WORKER_PROCESSES"):
            Settings.from_env({**base, "MAILGATE_WORKER_PROCESSES": bad})
