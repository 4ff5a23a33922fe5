"""``serve`` with two listener processes on one port (SO_REUSEPORT, runtime/listeners.py).

Both processes accept connections and commit what they acknowledge; a SIGKILL of the
``listen`` process loses nothing that got its ``250``, ``serve`` starts another in its
place, and a SIGTERM of the group stops them all.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from mailgate.config import Settings
from mailgate.errors import ConfigurationError
from mailgate.runtime import build
from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow
from tests.servers.listener import add_address
from tests.servers.smtpsink import free_port, stop_process_group
from tests.test_inbound_crash import ADDRESS, Ledger, _mailgate, _serve

SENDERS = 6
PER_SENDER = 25
KILL_AFTER = 50  # acknowledged messages before the SIGKILL of the listen process


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


def _sockets(pid: int) -> set[str]:
    """The socket inodes a process holds open."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            held.add(target)
    return held


def _both_accept(port: int, pids: list[int]) -> bool:
    """Hold 24 sessions open: does each process hold some? Each then stores one message."""
    before = {pid: _sockets(pid) for pid in pids}
    clients = []
    try:
        for _ in range(24):
            client = smtplib.SMTP("127.0.0.1", port, timeout=30)
            client.ehlo("client.example.org")
            clients.append(client)
        gained = {pid: len(_sockets(pid) - before[pid]) for pid in pids}
        for i, client in enumerate(clients):
            raw = f"Subject: held {i}\r\nMessage-ID: <held-{i}@client.example.org>\r\n\r\nhi\r\n"
            client.sendmail("c@client.example.org", [ADDRESS], raw.encode())  # 250 or raises
    finally:
        for client in clients:
            client.quit()
    return all(gained.values())


def test_two_listener_processes_share_the_port_and_lose_nothing(tmp_path: Path) -> None:
    """On SQLite, the case where the processes' commits must queue (PostgreSQL needs nothing)."""
    smtp_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "MAILGATE_DATA_DIR": str(tmp_path / "data"),
        "MAILGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'mailgate.db'}",
        "MAILGATE_SECRET_KEY": "processes-test-key-Zx3Cv5Bn7Mm9Lk1Jh2Gf4",
        "MAILGATE_SMTP": f"127.0.0.1:{smtp_port}",
        "MAILGATE_HTTP": f"127.0.0.1:{http_port}",
        "MAILGATE_LISTENER_PROCESSES": "2",
    }
    app = build(Settings.from_env(env))
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
    add_address(app, ws.id, ADDRESS)

    log = tmp_path / "serve.log"
    proc = _serve(env, smtp_port, log)
    ledger = Ledger()
    ids = [f"proc-{s}-{i}@client.example.org" for s in range(SENDERS) for i in range(PER_SENDER)]
    try:
        deadline = time.monotonic() + 60
        while not (children := _children(proc.pid)) or not _both_accept(
            smtp_port, [proc.pid, *children]
        ):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)  # the listen process is still starting: serve took them all
        assert len(children) == 1, children

        def sender(s: int) -> list[str]:
            return [mid for mid in ids[s::SENDERS] if not ledger.send(smtp_port, mid)]

        with ThreadPoolExecutor(SENDERS) as pool:
            futures = [pool.submit(sender, s) for s in range(SENDERS)]
            deadline = time.monotonic() + 120
            while len(ledger.acked) < KILL_AFTER:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.01)
            os.kill(children[0], signal.SIGKILL)  # the listen process only: serve goes on
            failed = [mid for f in futures for mid in f.result()]
        for mid in failed:  # what got no 250 is retried, now by serve or the new process
            assert ledger.send(smtp_port, mid), log.read_text()

        deadline = time.monotonic() + 30
        while not (fresh := [c for c in _children(proc.pid) if c != children[0]]):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert proc.poll() is None

        # A port someone holds without SO_REUSEPORT (serve's HTTP socket) is not shared.
        taken = {**env, "MAILGATE_SMTP": f"127.0.0.1:{http_port}"}
        done = subprocess.run(
            [*_mailgate(), "listen"], env=taken, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, done.stderr
        assert "MAILGATE_SMTP" in done.stderr and str(http_port) in done.stderr
    finally:
        stop_process_group(proc)  # SIGTERM to the group (SIGKILL after 5 s on a slow machine)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{fresh[0]}").exists():  # stopped with serve, not left holding the port
        assert time.monotonic() < deadline
        time.sleep(0.1)

    stored: Counter[str] = Counter()
    with app.sessions() as session:
        for row in session.scalars(select(MessageRow).where(MessageRow.direction == "in")):
            found = re.search(
                rb"^Message-ID: <([^>]+)>", app.blobs.get(session, row.blob_key), re.M
            )
            assert found is not None
            stored[found.group(1).decode()] += 1
    app.dispose()
    assert set(ids) == ledger.acked
    for mid in ledger.first_try_acked:
        assert stored[mid] == 1, mid  # acknowledged once: stored once
    for mid in ids:
        assert 1 <= stored[mid] <= ledger.attempts[mid], mid
    assert all(stored[f"held-{i}@client.example.org"] >= 1 for i in range(24))


def test_listener_processes_setting(tmp_path: Path) -> None:
    """MAILGATE_LISTENER_PROCESSES: 1 to 64; default 1 on SQLite, else the usable CPUs."""
    base = {
        "MAILGATE_DATA_DIR": str(tmp_path),
        "MAILGATE_SECRET_KEY": "processes-test-key-Zx3Cv5Bn7Mm9Lk1Jh2Gf4",
    }
    assert Settings.from_env(base).listener_processes == 1
    pg = {**base, "MAILGATE_DATABASE_URL": "postgresql://mailgate@127.0.0.1/mailgate"}
    assert Settings.from_env(pg).listener_processes == len(os.sched_getaffinity(0))
    assert Settings.from_env({**base, "MAILGATE_LISTENER_PROCESSES": "3"}).listener_processes == 3
    for bad in ("0", "-1", "65", "two"):
        with pytest.raises(ConfigurationError, match="MAILGATE_LISTENER_PROCESSES"):
            Settings.from_env({**base, "MAILGATE_LISTENER_PROCESSES": bad})
