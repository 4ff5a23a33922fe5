"""Kill ``mailgate serve`` with SIGKILL mid-stream: nothing acknowledged is lost or doubled."""

from __future__ import annotations

import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from mailgate.config import Settings
from mailgate.runtime import build
from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow
from tests.servers.listener import add_address
from tests.servers.smtpsink import free_port, stop_process_group, wait_for_port

ADDRESS = "support@acme.example.com"
SENDERS = 12
PER_SENDER = 60
KILL_AFTER = 150  # acknowledged messages before the SIGKILL


def _mailgate() -> list[str]:
    exe = shutil.which("mailgate", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "mailgate.cli.main"]


@dataclass
class Ledger:
    """What the client saw: attempts per Message-ID and which got a 250."""

    attempts: Counter[str] = field(default_factory=Counter)
    acked: set[str] = field(default_factory=set)
    first_try_acked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)

    def send(self, port: int, mid: str) -> bool:
        raw = (
            f"From: c@client.example.org\r\nTo: {ADDRESS}\r\nSubject: crash {mid}\r\n"
            f"Message-ID: <{mid}>\r\n\r\n" + "body line\r\n" * 40
        ).encode()
        with self.lock:
            self.attempts[mid] += 1
            first = self.attempts[mid] == 1
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail("c@client.example.org", [ADDRESS], raw)
        except (OSError, smtplib.SMTPException):
            return False  # no 250: the sender keeps the message and may retry
        with self.lock:
            self.acked.add(mid)
            if first:
                self.first_try_acked.add(mid)
            if len(self.acked) >= KILL_AFTER:
                self.enough.set()
        return True


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*_mailgate(), "serve", "--no-workers"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for_port(port, proc, limit=30)
    return proc


def test_sigkill_loses_nothing_acknowledged(store_url: str, tmp_path: Path) -> None:
    """Every Message-ID that got 250 is stored exactly once after a SIGKILL and a restart."""
    smtp_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "MAILGATE_DATA_DIR": str(tmp_path / "data"),
        "MAILGATE_DATABASE_URL": store_url,
        "MAILGATE_SECRET_KEY": "crash-test-key-Qw8Er4Ty6Ui2Op0As5Df7Gh",
        "MAILGATE_SMTP": f"127.0.0.1:{smtp_port}",
        "MAILGATE_HTTP": f"127.0.0.1:{http_port}",
    }
    settings = Settings.from_env(env)
    app = build(settings)
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
    add_address(app, ws.id, ADDRESS)

    ledger = Ledger()
    ids = [f"crash-{s}-{i}@client.example.org" for s in range(SENDERS) for i in range(PER_SENDER)]
    log = tmp_path / "serve.log"
    proc = _serve(env, smtp_port, log)

    def sender(s: int) -> list[str]:
        failed = []
        for i in range(PER_SENDER):
            mid = ids[s * PER_SENDER + i]
            if not ledger.send(smtp_port, mid):
                failed.append(mid)
        return failed

    with ThreadPoolExecutor(SENDERS) as pool:
        futures = [pool.submit(sender, s) for s in range(SENDERS)]
        ledger.enough.wait(120)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-stream: senders are still sending
        proc.wait()
        failed = [mid for f in futures for mid in f.result()]
    assert ledger.enough.is_set(), log.read_text()
    assert failed, "the kill came after every send finished: nothing was interrupted"

    proc = _serve(env, smtp_port, log)
    try:
        for mid in failed:  # the senders retry what got no 250
            assert ledger.send(smtp_port, mid), log.read_text()
    finally:
        stop_process_group(proc)

    stored: Counter[str] = Counter()
    with app.sessions() as session:
        rows = session.scalars(select(MessageRow).where(MessageRow.direction == "in")).all()
        for row in rows:
            assert row.workspace_id == ws.id
            found = re.search(
                rb"^Message-ID: <([^>]+)>", app.blobs.get(session, row.blob_key), re.M
            )
            assert found is not None
            stored[found.group(1).decode()] += 1
    app.dispose()

    assert set(ids) == ledger.acked  # after the retries every send got its 250
    for mid in ledger.first_try_acked:
        assert stored[mid] == 1, mid  # acknowledged once: stored once, never lost
    for mid in ids:
        # A send cut off by the kill may have committed without its 250; its retry
        # then adds one copy. Never more copies than attempts, never none.
        assert 1 <= stored[mid] <= ledger.attempts[mid], mid
