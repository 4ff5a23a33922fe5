"""Warm-up: the daily quota grows each good day, holds on a bad one, and never fails mail."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailgate.core import warmup
from mailgate.core.limits import window
from mailgate.errors import InvalidInput
from mailgate.queue import warmup as queue_warmup
from mailgate.runtime import build
from mailgate.runtime.worker import Worker
from mailgate.services import limits
from mailgate.services import messages as msvc
from mailgate.store.models import Event, MessageRow, SendCounter, TransportRow, utcnow
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests import test_conversations as conv
from tests.helpers import smtp_transport
from tests.servers.mailgate import Server, make_settings
from tests.servers.smtpsink import SmtpSink
from tests.test_quotas import _closing, _deliver_at, _requests, _setup, _statuses

# The help-desk set-up of test_conversations: a transport and a support address.
desk, outbox = conv.desk, conv.outbox
SUPPORT = conv.SUPPORT

PLAN = {"start": 2, "growth": 2, "target": 8, "max_bounce_rate": 0.05}


def test_a_plan_grows_holds_and_ends() -> None:
    plan = warmup.plan_from(PLAN)
    assert [plan.quota(step) for step in range(5)] == [2, 4, 8, 8, 8]
    day = date(2026, 11, 30)
    state = warmup.initial(plan, day)
    assert (state["step"], state["quota"], state["status"]) == (0, 2, "warming")

    nothing = warmup.DayStats(sent=0, bounced=0, complained=0)
    same, event = warmup.roll(plan, state, day + timedelta(days=1), nothing)
    assert (same["step"], event) == (0, None) and "nothing was sent" in same["reason"]

    good = warmup.DayStats(sent=2, bounced=0, complained=0)
    state, event = warmup.roll(plan, state, day + timedelta(days=1), good)
    assert (state["step"], state["quota"], state["status"], event) == (
        1,
        4,
        "warming",
        "warmup.advanced",
    )
    bad = warmup.DayStats(sent=4, bounced=1, complained=0)
    held, event = warmup.roll(plan, state, day + timedelta(days=2), bad)
    assert (held["step"], held["quota"], held["status"], event) == (1, 4, "held", "warmup.held")
    assert "bounce rate 25.00%" in held["reason"] and held["bounce_rate"] == 0.25
    complaints = warmup.DayStats(sent=1000, bounced=0, complained=5)
    held, _ = warmup.roll(plan, state, day + timedelta(days=2), complaints)
    assert held["status"] == "held" and "complaint rate" in held["reason"]

    state, _ = warmup.roll(plan, held, day + timedelta(days=3), good)
    assert (state["quota"], state["status"]) == (8, "done")
    state, event = warmup.roll(plan, state, day + timedelta(days=4), bad)
    assert (state["status"], event) == ("done", None)  # a finished plan limits nothing


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("fast", "warmup"),
        ({"start": 0, "target": 10}, "warmup.start"),
        ({"start": 10, "target": 5}, "warmup.target"),
        ({"start": 1, "target": 5, "growth": 1.0}, "warmup.growth"),
        ({"start": 1, "target": 5, "growth": True}, "warmup.growth"),
        ({"start": 1, "target": 5, "max_bounce_rate": 2}, "warmup.max_bounce_rate"),
        ({"start": 1, "target": 5, "speed": 3}, "warmup.speed"),
    ],
)
def test_bad_plans_are_refused_naming_the_field(data: object, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        warmup.plan_from(data)
    assert e.value.field == field


def test_the_quota_grows_each_good_day_and_holds_after_bounces(
    store_url: str, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    app = build(make_settings(tmp_path, store_url))

    async def main() -> None:
        ws, tid = _setup(app, smtp_sink.port, tz="Asia/Shanghai", warmup=PLAN)
        await msvc.accept(app, ws, _requests(9))
        await Worker(app).drain()
        assert _statuses(app) == {"sent": 2, "held": 7}  # day 0: start
        with app.sessions() as session:
            held = session.scalars(select(MessageRow).where(MessageRow.status == "held"))
            assert {m.last_error for m in held} == {"quota_exceeded"}
            quota = limits.quota(session, session.get(TransportRow, tid))
        assert quota is not None and (quota["daily"], quota["used_today"]) == (2, 2)
        assert quota["warmup"]["status"] == "warming" and quota["warmup"]["plan"]["target"] == 8

        day1 = window("day", utcnow(), "Asia/Shanghai").end + timedelta(seconds=1)
        assert await _deliver_at(app, day1) == 4  # a clean day: twice as many
        assert _statuses(app) == {"sent": 6, "held": 3}

        # Two of day 1's messages bounce hard (as routing counts proven bounces).
        with app.sessions.begin() as session:
            out = session.scalars(select(MessageRow).where(MessageRow.status == "sent")).first()
            assert out is not None
            queue_warmup.record_feedback(session, out, "bounced", 2, day1)
        day2 = window("day", day1, "Asia/Shanghai").end + timedelta(seconds=1)
        assert await _deliver_at(app, day2) == 3  # held at 4 a day: only 3 were left
        with app.sessions() as session:
            types = list(
                session.scalars(
                    select(Event.type).where(Event.type.like("warmup.%")).order_by(Event.created_at)
                )
            )
            state = session.get(TransportRow, tid).warmup_state  # type: ignore[union-attr]
        assert types == ["warmup.advanced", "warmup.held"]
        assert (state["step"], state["quota"], state["status"]) == (1, 4, "held")
        assert state["bounce_rate"] == 0.5 and "clean the list" in state["reason"]
        smtp_sink.messages(expect=9)

    try:
        asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_the_api_sets_shows_and_removes_a_plan(server: Server) -> None:
    with server.client() as c:
        tid = c.post("/v1/transports", json=smtp_transport(2525, name="relay")).json()["id"]
        r = c.patch(f"/v1/transports/{tid}", json={"warmup": {"start": 50, "target": 10}})
        assert r.status_code == 422 and r.json()["error"]["field"] == "warmup.target"
        r = c.patch(f"/v1/transports/{tid}", json={"warmup": {"start": 50, "target": 5000}})
        assert r.status_code == 200, r.text
        got = c.get(f"/v1/transports/{tid}").json()
        assert got["warmup"]["growth"] == 1.5 and got["quota"]["daily"] == 50
        assert c.patch(f"/v1/transports/{tid}", json={"warmup": None}).status_code == 200
        got = c.get(f"/v1/transports/{tid}").json()
        assert got["warmup"] is None and got["quota"] is None


def test_a_proven_bounce_counts_against_the_plan(desk: Server, outbox: ScriptedSMTPServer) -> None:
    """Routing counts a proven hard bounce for the sending transport's warm-up day."""
    with desk.client() as c:
        [tid] = [t["id"] for t in c.get("/v1/transports").json()["items"]]
        plan = {"start": 100, "target": 1000}
        assert c.patch(f"/v1/transports/{tid}", json={"warmup": plan}).status_code == 200
        sent = c.post(
            "/v1/messages", json={"from": SUPPORT, "to": ["gone@customer.example.org"], "text": "x"}
        ).json()
        assert sent["status"] == "sent"
    dsn = (
        "From: MAILER-DAEMON@customer.example.org\r\n"
        f"To: {SUPPORT}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-w@customer.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example.org\r\n\r\n"
        "Final-Recipient: rfc822; gone@customer.example.org\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{sent['message_id']}>\r\nSubject: x\r\n\r\n--B--\r\n"
    ).encode()
    assert conv.processed(desk, conv.deliver_in(desk, dsn, rcpt=SUPPORT))["kind"] == "bounce"
    with desk.app.sessions() as session:
        counted = session.scalars(
            select(SendCounter.count).where(SendCounter.scope_key == f"bounced:transport:{tid}")
        ).all()
    assert counted == [1]
