"""The limits through the API: set on transports, shown with today's quota, refused by name."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from mailgate.core.limits import window
from mailgate.errors import NotFound
from mailgate.services import limits
from mailgate.store.db import transaction
from mailgate.store.models import SendingDomain, new_id, utcnow
from tests.helpers import smtp_transport, wait_for, wait_status
from tests.servers.mailgate import Server
from tests.servers.smtpsink import SmtpSink


def _error(r: Any) -> tuple[int, str | None]:
    return r.status_code, r.json()["error"].get("field")


def test_quota_is_shown_and_held_mail_is_journaled(server: Server, smtp_sink: SmtpSink) -> None:
    """daily_quota 2 of 3 messages: GET shows the quota, ?status=held lists the third."""
    with server.client() as c:
        assert (
            c.patch("/v1/workspace", json={"timezone": "Asia/Shanghai"}).json()["timezone"]
            == "Asia/Shanghai"
        )
        body = smtp_transport(smtp_sink.port, daily_quota=2, rate_per_minute=600)
        created = c.post("/v1/transports", json=body).json()
        assert (created["daily_quota"], created["rate_per_minute"]) == (2, 600)
        for i in range(3):
            r = c.post("/v1/messages", json={"to": [f"r{i}@example.net"], "text": "x"})
            assert r.status_code in (200, 201, 202), r.text

        def settled() -> list[dict[str, Any]] | None:
            held = c.get("/v1/messages", params={"status": "held"}).json()["items"]
            sent = c.get("/v1/messages", params={"status": "sent"}).json()["items"]
            return held if len(held) == 1 and len(sent) == 2 else None

        (held,) = wait_for(settled, what="two sent and one held")
        day = window("day", utcnow(), "Asia/Shanghai")
        assert held["last_error"] == "quota_exceeded"
        assert held["next_attempt_at"] == day.end.isoformat()
        quota = c.get(f"/v1/transports/{created['id']}").json()["quota"]
        assert quota == {
            "daily": 2,
            "used_today": 2,
            "resets_at": day.end.isoformat(),
            "timezone": "Asia/Shanghai",
        }
        # Lifting the quota lets the held mail go at once, not at midnight.
        assert (
            c.patch(f"/v1/transports/{created['id']}", json={"daily_quota": None}).status_code
            == 200
        )
        assert c.get(f"/v1/transports/{created['id']}").json()["quota"] is None
        wait_status(c, held["id"], "sent")


def test_bad_limits_and_time_zones_are_refused_by_name(server: Server) -> None:
    """422 naming the field: not a number, zero, a typo-sized number, an unknown zone."""
    with server.client() as c:
        tid = c.post("/v1/transports", json=smtp_transport(2525)).json()["id"]
        for field, value in (
            ("daily_quota", "ten"),
            ("daily_quota", 0),
            ("rate_per_second", -5),
            ("rate_per_minute", 1.5),
            ("max_connections", 1000),
        ):
            r = c.patch(f"/v1/transports/{tid}", json={field: value})
            assert _error(r) == (422, field), (field, value, r.text)
        for zone in ("Mars/Olympus", "../../etc/passwd", "", 5):
            r = c.patch("/v1/workspace", json={"timezone": zone})
            assert _error(r) == (422, "timezone"), (zone, r.text)


def test_sending_domain_limits_are_the_workspaces_own(server: Server) -> None:
    """set_limits changes the workspace's own domain and finds no other workspace's."""
    other_ws, _ = server.new_workspace("other")
    with transaction(server.app.sessions) as session:
        mine = SendingDomain(
            id=new_id("dom"), workspace_id=server.workspace_id, name="news.acme.test"
        )
        theirs = SendingDomain(id=new_id("dom"), workspace_id=other_ws, name="news.other.test")
        session.add_all([mine, theirs])
    with transaction(server.app.sessions) as session:
        row = limits.set_limits(session, server.workspace_id, mine.id, {"daily_quota": 100})
        assert row.daily_quota == 100
        with pytest.raises(NotFound) as refused:
            limits.set_limits(session, server.workspace_id, theirs.id, {"daily_quota": 1})
        assert refused.value.field == "id"
    with server.app.sessions() as session:
        assert (
            session.scalars(
                select(SendingDomain.daily_quota).where(SendingDomain.id == theirs.id)
            ).one()
            is None
        )
