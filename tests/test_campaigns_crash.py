"""A worker SIGKILLed while dispatching a campaign loses nobody; a kill repeats a few at most."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailgate.campaigns import dispatch
from mailgate.runtime import build
from mailgate.services import campaigns as csvc
from mailgate.services import tenancy
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.store.models import Campaign, CampaignRecipient
from tests.helpers import wait_for
from tests.servers.mailgate import make_settings
from tests.servers.smtpsink import SmtpSink

MAILGATE = str(Path(sys.executable).parent / "mailgate")
COUNT = 300
KILLS = 3


def test_killed_campaign_worker_loses_nobody(
    store_url: str, tmp_path: Path, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    """Three SIGKILLs mid-dispatch: everyone is sent, nobody more than once per kill."""
    # ~30 s a store: within the suite's time budget once (it passes on PostgreSQL too:
    # MAILGATE_TEST_CRASH_PG=1 runs it there).
    if not store_url.startswith("sqlite") and not os.environ.get("MAILGATE_TEST_CRASH_PG"):
        pytest.skip("SQLite only by default; MAILGATE_TEST_CRASH_PG=1 for PostgreSQL")
    sink = smtp_sink_factory()
    app = build(make_settings(tmp_path, store_url))
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            tsvc.create(
                session,
                app.secrets,
                ws.id,
                {
                    "name": "sink",
                    "kind": "smtp",
                    "default": True,
                    "sender": "news@acme.example.com",
                    "config": {"host": "127.0.0.1", "port": sink.port, "max_connections": 4},
                },
            )
            cid = csvc.create(
                session,
                ws,
                csvc.CampaignRequest(
                    name="crash", from_="news@acme.example.com", subject="n{{ n }}", text="x"
                ),
            ).id
        body = "email,n\n" + "".join(f"u{i:04d}@example.net,{i}\n" for i in range(COUNT))
        report = csvc.upload_recipients(app, ws.id, cid, "text/csv", [body.encode()])
        assert report.accepted == COUNT
        with transaction(app.sessions) as session:
            csvc.act(session, ws.id, cid, "start")
        env = {
            **os.environ,
            "MAILGATE_DATA_DIR": str(tmp_path),
            "MAILGATE_DATABASE_URL": store_url,
            "MAILGATE_SECRET_KEY": app.settings.secret_key,
            "MAILGATE_LEASE_SECONDS": "2",
            "MAILGATE_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
        }

        def delivered() -> int:
            return len(list(sink.dump_dir.glob("m.*")))

        def leased() -> int:
            with app.sessions() as session:
                q = select(func.count()).where(
                    CampaignRecipient.campaign_id == cid, CampaignRecipient.lease_owner.is_not(None)
                )
                return int(session.scalar(q) or 0)

        killed_mid_batch = 0
        for k in range(KILLS):
            worker = subprocess.Popen([MAILGATE, "worker"], env=env, start_new_session=True)
            try:
                floor = delivered()
                wait_for(lambda f=floor: delivered() > f + 10, what=f"deliveries before kill {k}")
            finally:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            killed_mid_batch += leased() > 0
        assert killed_mid_batch > 0  # at least one kill left leases behind
        last = subprocess.Popen([MAILGATE, "worker"], env=env, start_new_session=True)
        try:

            def done() -> bool:
                with app.sessions() as session:
                    return session.get(Campaign, cid).state == "done"  # type: ignore[union-attr]

            wait_for(done, limit=60, what="the campaign to finish")
        finally:
            os.killpg(last.pid, signal.SIGKILL)  # done: nothing left to lose, no wait to stop
            last.wait()
        with app.sessions() as session:
            states = dict(
                session.execute(
                    select(CampaignRecipient.state, func.count())
                    .where(CampaignRecipient.campaign_id == cid)
                    .group_by(CampaignRecipient.state)
                ).all()
            )
        assert states == {"sent": COUNT}
        copies = collections.Counter(m.rcpt_tos[0] for m in sink.messages(expect=COUNT))
        assert set(copies) == {f"u{i:04d}@example.net" for i in range(COUNT)}  # none lost
        assert max(copies.values()) <= 1 + KILLS  # at most one repeat per kill
        extra = sum(copies.values()) - COUNT
        # A kill repeats at most what was delivered and not yet recorded: two chunks a lane.
        assert extra <= KILLS * 2 * 2 * dispatch.CHUNK
    finally:
        app.dispose()
