"""SIGKILL the IMAP poller mid-way, restart it: each message stored once, none skipped.

The poller runs in its own process (the worker's :class:`PollerSupervisor`, as
``mailgate worker`` runs it) over ~200 messages in small batches, and is killed
several times while it works. Whatever point each kill hits — mid-fetch,
mid-transaction, between the commit and the flag/expunge — the restarted poller
must store every message exactly once and acknowledge every stored one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from mailgate.inbound.base import SourceRef, store_taken
from mailgate.inbound.pollers import build_poller
from mailgate.runtime import Mailgate
from mailgate.services import sources, tenancy
from mailgate.store.db import transaction
from mailgate.store.models import SourceItem
from tests.helpers import wait_for
from tests.servers.dovecot import Dovecot
from tests.servers.mailbox import flags, maildir_files, make_mail, stored_ids

TOTAL = 200

CHILD = """
import asyncio, sys
from pathlib import Path
from mailgate.runtime import build
from mailgate.config import Settings
from mailgate.inbound.pollers import PollerSupervisor

settings = Settings(data_dir=Path(sys.argv[1]), database_url=sys.argv[2], secret_key=sys.argv[3])
# A killed child holds the source's lease: its successor takes over once it runs out.
settings.source_lease_seconds = 1.5
settings.allow_private_networks = ("127.0.0.0/8",)
app = build(settings, run_migrations=False)
asyncio.run(PollerSupervisor(app, refresh_seconds=0.2, backoff_base=0.05).run(asyncio.Event()))
"""


def add_source(app: Mailgate, dovecot: Dovecot, **config: object) -> tuple[str, str]:
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        row = sources.create(
            session,
            app.secrets,
            ws.id,
            {
                "name": "inbox",
                "kind": "imap",
                "config": {
                    "host": dovecot.host,
                    "port": dovecot.imap_port,
                    "security": "none",
                    "username": dovecot.user,
                    "password": dovecot.password,
                    "idle": False,
                    "poll_interval": 0.05,
                    "batch_size": 2,
                    **config,
                },
            },
        )
    return ws.id, row.id


def taken_count(app: Mailgate, sid: str) -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count()).where(SourceItem.source_id == sid)) or 0)


def start_child(app: Mailgate, log: Path) -> subprocess.Popen[bytes]:
    s = app.settings
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-c", CHILD, str(s.data_dir), s.database_url, s.secret_key],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("after", ["flag", "delete"])
def test_sigkill_mid_way_stores_each_once_and_acknowledges_all(
    mailgate_app: Mailgate, dovecot: Dovecot, tmp_path: Path, after: str
) -> None:
    """Three SIGKILLs while taking 200 messages: each stored exactly once, all acknowledged."""
    app = mailgate_app
    _, sid = add_source(app, dovecot, after=after)
    for i in range(TOTAL):
        dovecot.add_message(make_mail(i, tag="crash"))
    log = tmp_path / "poller.log"
    for kill_at in (30, 90, 150):
        proc = start_child(app, log)
        try:
            wait_for(
                lambda: proc.poll() is not None or taken_count(app, sid) >= kill_at,  # noqa: B023
                limit=120,
                what=f"{kill_at} messages taken",
            )
            assert proc.poll() is None, log.read_text()
        finally:
            kill(proc)
    proc = start_child(app, log)
    try:
        wait_for(lambda: taken_count(app, sid) >= TOTAL, limit=120, what="all taken")

        def acknowledged() -> bool:
            files = maildir_files(dovecot.maildir)
            if after == "delete":
                return files == []
            return len(files) == TOTAL and all("S" in flags(p) for p in files)

        wait_for(acknowledged, limit=120, what="every stored message acknowledged")
    finally:
        kill(proc)
    ids = Counter(stored_ids(app, sid))
    assert ids == Counter(f"<crash-{i}@example.test>" for i in range(TOTAL))
    assert taken_count(app, sid) == TOTAL


def test_committed_but_unacknowledged_is_acknowledged_not_retaken(
    mailgate_app: Mailgate, dovecot: Dovecot
) -> None:
    """The exact state a kill between commit and EXPUNGE leaves: the next pass only expunges."""
    app = mailgate_app
    ws_id, sid = add_source(app, dovecot, after="delete")
    raw = make_mail(1)
    dovecot.add_message(raw)
    with IMAPClient(dovecot.host, dovecot.imap_port, ssl=False) as client:
        client.login(dovecot.user, dovecot.password)
        info = client.select_folder("INBOX", readonly=True)
        [uid] = client.search("ALL")
        key = f"{int(info[b'UIDVALIDITY'])}:{uid}"
    assert store_taken(app, SourceRef(sid, ws_id, "imap"), [(key, raw)]) == 1
    with app.sessions() as session:
        row = sources.get(session, ws_id, sid)
    result = build_poller(app, row).poll_once()
    assert (result.taken, result.acknowledged) == (0, 1)
    assert maildir_files(dovecot.maildir) == []
    assert stored_ids(app, sid) == ["<t-1@example.test>"]
