"""Daily quotas and rates: the excess is held or delayed, never failed, and leaves on reset."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mailgate.core.limits import window
from mailgate.queue import lease
from mailgate.queue.delivery import claim_batch, deliver, record
from mailgate.runtime import Mailgate, build
from mailgate.runtime.worker import Worker
from mailgate.services import limits, tenancy
from mailgate.services import messages as msvc
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.store.models import (
    Event,
    MessageRow,
    SendCounter,
    SendingDomain,
    TransportRow,
    Workspace,
    new_id,
    utcnow,
)
from mailgate.testing import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import make_settings
from tests.servers.smtpsink import SmtpSink

MAILGATE = str(Path(sys.executable).parent / "mailgate")


async def _closing(app: Mailgate, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work``, then close the transports' pools in the same loop, even on failure."""
    try:
        await work
    finally:
        await app.aclose()


def _setup(app: Mailgate, port: int, tz: str = "UTC", **limits_: Any) -> tuple[Workspace, str]:
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        limits.set_timezone(session, ws.id, tz)
        row = tsvc.create(session, app.secrets, ws.id, smtp_transport(port, **limits_))
        return ws, row.id


def _requests(n: int, start: int = 0) -> list[msvc.SendRequest]:
    return [
        msvc.SendRequest(to=[f"u{i}@example.net"], subject=f"n{i}", text="quota test")
        for i in range(start, start + n)
    ]


def _statuses(app: Mailgate) -> dict[str, int]:
    with app.sessions() as session:
        q = select(MessageRow.status, func.count()).group_by(MessageRow.status)
        return {s: n for s, n in session.execute(q)}


def _exhausted_events(app: Mailgate) -> int:
    with app.sessions() as session:
        q = select(func.count()).where(Event.type == "quota.exhausted")
        return int(session.scalar(q) or 0)


async def _deliver_at(app: Mailgate, now: Any) -> int:
    """One claim as the worker makes it, at ``now`` (the clock the quota window reads)."""
    claimed = await asyncio.to_thread(claim_batch, app, lease.new_owner("t"), 100, now=now)
    await asyncio.to_thread(record, app, await deliver(app, claimed))
    return len(claimed)


def test_daily_quota_holds_the_rest_until_the_day_resets(
    store_url: str, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """Over quota: held with quota_exceeded until local midnight, one event; then sent."""
    app = build(make_settings(tmp_path, store_url))

    async def main() -> None:
        ws, tid = _setup(app, smtp_sink.port, tz="Pacific/Auckland", daily_quota=3)
        await msvc.accept(app, ws, _requests(5))
        await Worker(app).drain()
        assert _statuses(app) == {"sent": 3, "held": 2}
        day = window("day", utcnow(), "Pacific/Auckland")
        with app.sessions() as session:
            held = session.scalars(select(MessageRow).where(MessageRow.status == "held")).all()
            assert {m.last_error for m in held} == {"quota_exceeded"}
            assert {m.next_attempt_at for m in held} == {day.end}
            # The lifetime clock stops while held: it still has its whole lifetime after reset.
            life = timedelta(seconds=app.settings.message_lifetime_seconds)
            assert all(m.expires_at and m.expires_at >= day.end + life * 0.99 for m in held)
            quota = limits.quota(session, session.get(TransportRow, tid))
        assert quota is not None
        assert (quota["daily"], quota["used_today"]) == (3, 3)
        assert quota["resets_at"] == day.end.isoformat()
        assert _exhausted_events(app) == 1

        await msvc.accept(app, ws, _requests(2, start=5))
        await Worker(app).drain()
        assert _statuses(app) == {"sent": 3, "held": 4}
        assert _exhausted_events(app) == 1  # once per scope and day

        # The day ends: the held mail leaves, up to the new day's quota.
        assert await _deliver_at(app, day.end + timedelta(seconds=1)) == 3
        assert _statuses(app) == {"sent": 6, "held": 1}
        smtp_sink.messages(expect=6)

    try:
        asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_rates_delay_to_the_next_window_without_failing(
    store_url: str, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """rate_per_minute: the excess waits for the next minute (queued, not held or failed)."""
    app = build(make_settings(tmp_path, store_url))

    async def main() -> None:
        ws, _ = _setup(app, smtp_sink.port, rate_per_minute=2, rate_per_second=50)
        await msvc.accept(app, ws, _requests(5))
        now = utcnow()
        assert await _deliver_at(app, now) == 2
        assert await _deliver_at(app, now) == 0  # the rest waits for the next minute
        minute = window("minute", now)
        with app.sessions() as session:
            waiting = session.scalars(select(MessageRow).where(MessageRow.status == "queued"))
            rows = list(waiting)
        assert len(rows) == 3
        assert {m.next_attempt_at for m in rows} == {minute.end}
        assert all("2 per minute" in (m.last_error or "") for m in rows)
        assert await _deliver_at(app, minute.end) == 2
        with app.sessions() as session:
            counts = dict(
                session.execute(
                    select(SendCounter.window, func.sum(SendCounter.count)).group_by(
                        SendCounter.window
                    )
                ).all()
            )
        # Only what was handed over is counted, in every window of the scope.
        assert counts == {"minute": 4, "second": 4}

    try:
        asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_limits_are_refused_with_the_field_named(tmp_path: Path) -> None:
    """Bad limits and time zones name their field; null removes a limit."""
    with pytest.raises(Exception) as e:
        limits.validated({"daily_quota": 0})
    assert getattr(e.value, "field", None) == "daily_quota"
    for bad in ("ten", 1.5, True, -1):
        with pytest.raises(Exception) as e:
            limits.validated({"rate_per_second": bad})
        assert getattr(e.value, "field", None) == "rate_per_second"
    assert limits.validated({"daily_quota": None, "max_connections": 2}) == {
        "daily_quota": None,
        "max_connections": 2,
    }


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_two_workers_never_exceed_the_daily_quota(
    store_url: str, tmp_path: Path, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    """Two `mailgate worker` processes share one quota in PostgreSQL: 5 sent, the rest held."""
    sink = smtp_sink_factory()
    # Small batches so both workers claim, and count, in turns.
    app = build(make_settings(tmp_path, store_url, worker_batch=2))
    total, quota = 14, 5
    env = {
        **os.environ,
        "MAILGATE_DATA_DIR": str(tmp_path),
        "MAILGATE_DATABASE_URL": store_url,
        "MAILGATE_SECRET_KEY": app.settings.secret_key,
        "MAILGATE_WORKER_BATCH": "2",
        "MAILGATE_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
    }

    async def main() -> None:
        ws, _ = _setup(app, sink.port, daily_quota=quota)
        await msvc.accept(app, ws, _requests(total))
        workers = [
            subprocess.Popen([MAILGATE, "worker"], env=env, start_new_session=True)
            for _ in range(2)
        ]
        try:

            def settled() -> bool:
                s = _statuses(app)
                return s.get("sent", 0) + s.get("held", 0) == total

            await asyncio.to_thread(wait_for, settled, limit=60, what="every message settled")
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(20)
        assert _statuses(app) == {"sent": quota, "held": total - quota}
        assert len(sink.messages(expect=quota)) == quota
        assert _exhausted_events(app) == 1
        # The next day: another quota's worth leaves.
        reset = window("day", utcnow()).end
        assert await _deliver_at(app, reset + timedelta(seconds=1)) == quota
        assert Counter(_statuses(app)) == Counter({"sent": 2 * quota, "held": total - 2 * quota})

    try:
        asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_max_connections_caps_the_smtp_pool(store_url: str, tmp_path: Path) -> None:
    """max_connections 1 on the transport: a batch of five shares one connection."""
    app = build(make_settings(tmp_path, store_url))
    server = ScriptedSMTPServer()

    async def main() -> None:
        # The config alone would allow 8 at once; the transport's limit wins.
        ws, _ = _setup(app, server.port, max_connections=1, config={"max_connections": 8})
        await msvc.accept(app, ws, _requests(5))
        assert await _deliver_at(app, utcnow()) == 5
        assert len(server.messages) == 5
        assert server.connections == 1

    try:
        with server:
            asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_immediate_mode_answers_held_over_quota(
    store_url: str, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """Immediate mode obeys the quota too: the answer says held, and the message waits."""
    app = build(make_settings(tmp_path, store_url))

    async def main() -> None:
        ws, _ = _setup(app, smtp_sink.port, daily_quota=1, mode="immediate")
        answers = await msvc.accept(app, ws, _requests(2))
        assert sorted(a.status for a in answers) == ["held", "sent"]
        assert _statuses(app) == {"sent": 1, "held": 1}

    try:
        asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_a_sending_domains_quota_holds_mail_from_it(
    store_url: str, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """A daily quota on the From domain's sending domain holds the excess; others pass."""
    app = build(make_settings(tmp_path, store_url))

    async def main() -> None:
        ws, _ = _setup(app, smtp_sink.port)
        with transaction(app.sessions) as session:
            domain = SendingDomain(id=new_id("dom"), workspace_id=ws.id, name="news.acme.test")
            session.add(domain)
            session.flush()
            limits.set_limits(session, ws.id, domain.id, {"daily_quota": 1})
        news = [
            msvc.SendRequest(to=[f"n{i}@example.net"], from_="info@news.acme.test", text="x")
            for i in range(2)
        ]
        await msvc.accept(app, ws, [*news, *_requests(2)])  # the last two: the transport's From
        await Worker(app).drain()
        with app.sessions() as session:
            rows = session.execute(select(MessageRow.from_addr, MessageRow.status)).all()
        by_status = Counter((f.rpartition("@")[2], s) for f, s in rows)
        assert by_status == Counter(
            {
                ("news.acme.test", "sent"): 1,
                ("news.acme.test", "held"): 1,
                ("acme.example.com", "sent"): 2,
            }
        )

    try:
        asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_a_sending_domains_max_connections_bounds_its_deliveries(
    store_url: str, tmp_path: Path
) -> None:
    """max_connections 1 on the From domain: its five messages share one connection."""
    app = build(make_settings(tmp_path, store_url))
    server = ScriptedSMTPServer()

    async def main() -> None:
        ws, _ = _setup(app, server.port, config={"max_connections": 8})
        with transaction(app.sessions) as session:
            domain = SendingDomain(id=new_id("dom"), workspace_id=ws.id, name="acme.example.com")
            session.add(domain)
            session.flush()
            limits.set_limits(session, ws.id, domain.id, {"max_connections": 1})
        await msvc.accept(app, ws, _requests(5))  # From: the transport's noreply@acme.example.com
        assert await _deliver_at(app, utcnow()) == 5
        assert len(server.messages) == 5
        assert server.connections == 1

    try:
        with server:
            asyncio.run(_closing(app, main()))
    finally:
        app.dispose()
