"""One poller per source across processes: four ``mailgate worker`` processes, one mailbox.

The process test runs on PostgreSQL (several workers need a shared server). A
proxy in front of Dovecot counts concurrent connections; the pollers keep one IMAP
connection open in IDLE, so two workers polling at once would show as two open
connections. The worker holding the source is then SIGKILLed: another takes it over
once the short source lease has run out, and keeps storing.
"""

from __future__ import annotations

import asyncio
import os
import select as selectmod
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailgate.inbound.pollers import PollerSupervisor, _Fenced
from mailgate.queue import lease
from mailgate.runtime import Mailgate, build
from mailgate.services import sources, tenancy
from mailgate.store.db import transaction
from mailgate.store.models import Source, SourceItem
from tests.helpers import wait_for
from tests.servers.dovecot import Dovecot
from tests.servers.mailbox import make_mail, stored_ids
from tests.servers.mailgate import make_settings
from tests.servers.postgres import Postgres

MAILGATE = str(Path(sys.executable).parent / "mailgate")
WORKERS = 4


class CountingProxy:
    """A TCP proxy on 127.0.0.1 that remembers the most connections open at once."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.open = self.most = self.total = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            t = threading.Thread(target=self._pump, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _pump(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.target)) as upstream:
            with self._lock:
                self.open += 1
                self.total += 1
                self.most = max(self.most, self.open)
            peer = {client: upstream, upstream: client}
            try:
                while not self._stop.is_set():
                    ready, _, _ = selectmod.select(list(peer), [], [], 0.1)
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        peer[s].sendall(data)
            except OSError:
                return
            finally:
                with self._lock:
                    self.open -= 1

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        self.listener.close()


def holder(app: Mailgate, sid: str) -> str | None:
    with app.sessions() as session:
        return session.scalar(select(Source.lease_owner).where(Source.id == sid))


def taken(app: Mailgate, sid: str) -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count()).where(SourceItem.source_id == sid)) or 0)


@pytest.mark.postgres
@pytest.mark.slow
def test_four_workers_poll_one_source_one_at_a_time_and_take_over(
    postgres: Postgres, dovecot: Dovecot, tmp_path: Path
) -> None:
    """One IMAP connection at a time; every message stored once; a killed holder is replaced."""
    url = postgres.create_database()
    app = build(make_settings(tmp_path, url))
    proxy = CountingProxy(dovecot.imap_port)
    procs: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "workers.log"
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            sid = sources.create(
                session,
                app.secrets,
                ws.id,
                {
                    "name": "inbox",
                    "kind": "imap",
                    "config": {
                        "host": "127.0.0.1",
                        "port": proxy.port,
                        "security": "none",
                        "username": dovecot.user,
                        "password": dovecot.password,
                        "idle": True,  # one long-lived connection per poller
                        "poll_interval": 0.5,
                        "batch_size": 5,
                    },
                },
            ).id
        for i in range(20):
            dovecot.add_message(make_mail(i, tag="lease"))
        env = {
            **os.environ,
            "MAILGATE_DATA_DIR": str(tmp_path),
            "MAILGATE_DATABASE_URL": url,
            "MAILGATE_SECRET_KEY": app.settings.secret_key,
            "MAILGATE_SOURCE_LEASE_SECONDS": "2",
            "MAILGATE_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
        }
        with log.open("ab") as out:
            for _ in range(WORKERS):
                procs.append(
                    subprocess.Popen(
                        [MAILGATE, "worker"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        wait_for(lambda: taken(app, sid) >= 20, limit=60, what="the first 20 messages")
        assert proxy.most == 1, f"{proxy.most} connections at once"
        first = holder(app, sid)
        assert first is not None
        pid = int(first.split(":")[1])
        [victim] = [p for p in procs if p.pid == pid]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        for i in range(20, 40):
            dovecot.add_message(make_mail(i, tag="lease"))
        wait_for(lambda: taken(app, sid) >= 40, limit=60, what="a survivor to take over")
        second = holder(app, sid)
        assert second is not None and second != first
        assert all(p.poll() is None for p in procs if p is not victim), log.read_text()
        assert proxy.most == 1, f"{proxy.most} connections at once"
        assert proxy.total >= 2  # the successor had to connect anew
        assert Counter(stored_ids(app, sid)) == Counter(
            f"<lease-{i}@example.test>" for i in range(40)
        )
        stop(procs)
        # Stopping gracefully gave the source back at once rather than leaving the lease.
        assert holder(app, sid) is None, log.read_text()
    finally:
        stop(procs)
        proxy.close()
        app.dispose()


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (a graceful stop), then SIGKILL what is still running after 15 s."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_fence_stops_a_poller_whose_lease_was_not_renewed() -> None:
    """The stop signal a poller sees turns on when the fence passes, and off on renewal."""
    fence = lease.Fence(0.3)
    stop = threading.Event()
    guard = _Fenced(stop, fence)
    assert guard.is_set()  # never renewed: not proven to hold the source
    fence.renewed(lease.Fence.clock())
    assert not guard.is_set()
    assert guard.wait(5)  # returns once two thirds of the lease (0.2 s) have passed
    assert guard.is_set()
    fence.renewed(lease.Fence.clock())
    assert not guard.is_set()
    stop.set()
    assert guard.is_set()


@pytest.mark.slow
def test_a_second_supervisor_waits_for_the_first_to_release(
    mailgate_app: Mailgate, dovecot: Dovecot
) -> None:
    """In one process too: the second supervisor polls only once the first one stopped."""
    app = mailgate_app
    app.settings.source_lease_seconds = 30  # only a release can hand the source over
    proxy = CountingProxy(dovecot.imap_port)
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            sid = sources.create(
                session,
                app.secrets,
                ws.id,
                {
                    "name": "inbox",
                    "kind": "imap",
                    "config": {
                        "host": "127.0.0.1",
                        "port": proxy.port,
                        "security": "none",
                        "username": dovecot.user,
                        "password": dovecot.password,
                        "poll_interval": 0.2,
                    },
                },
            ).id
        dovecot.add_message(make_mail(1, tag="hand"))
        first = PollerSupervisor(app, refresh_seconds=0.1, backoff_base=0.05)
        second = PollerSupervisor(app, refresh_seconds=0.1, backoff_base=0.05)

        async def main() -> None:
            stop_first, stop_second = asyncio.Event(), asyncio.Event()
            a = asyncio.create_task(first.run(stop_first))
            await asyncio.to_thread(wait_for, lambda: taken(app, sid) == 1, what="first pass")
            b = asyncio.create_task(second.run(stop_second))
            await asyncio.sleep(0.5)  # several refreshes of the second: it must not claim
            assert (holder(app, sid), list(second.runners)) == (first.owner, [])
            stop_first.set()
            await a
            dovecot.add_message(make_mail(2, tag="hand"))
            await asyncio.to_thread(wait_for, lambda: taken(app, sid) == 2, what="handed over")
            assert holder(app, sid) == second.owner
            stop_second.set()
            await b

        asyncio.run(asyncio.wait_for(main(), 60))
        assert proxy.most == 1
        assert holder(app, sid) is None
    finally:
        proxy.close()
