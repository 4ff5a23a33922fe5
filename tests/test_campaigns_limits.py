"""Campaign dispatch and the sending limits: the quota waits, suppression at send time."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete, select, update

from mailgate.campaigns import dispatch
from mailgate.core.limits import window
from mailgate.runtime import Mailgate
from mailgate.services import campaigns as csvc
from mailgate.services import suppressions as ssvc
from mailgate.services import tenancy
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.store.models import (
    Campaign,
    Event,
    SendCounter,
    TransportRow,
    Workspace,
    utcnow,
)

ZONE = "Asia/Shanghai"


def _run(app: Mailgate, times: int) -> None:
    async def go() -> None:
        with ThreadPoolExecutor(2) as pool:
            for _ in range(times):
                await dispatch.dispatch_once(app, pool)
        await app.aclose()

    asyncio.run(go())


def test_daily_quota_waits_for_the_reset_and_unsubscribes_apply_mid_campaign(
    mailgate_app: Mailgate,
) -> None:
    """A full daily quota leaves the rest pending (waiting, not failed) until the reset;
    an address suppressed while the campaign runs is skipped."""
    app = mailgate_app
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        t = tsvc.create(
            session,
            app.secrets,
            ws.id,
            {"name": "cap", "kind": "capture", "default": True, "sender": "n@acme.example.com"},
        )
        session.execute(update(TransportRow).where(TransportRow.id == t.id).values(daily_quota=3))
        # The day is the workspace's, as for triggered mail: both count into one counter.
        session.execute(update(Workspace).where(Workspace.id == ws.id).values(timezone=ZONE))
        cid = csvc.create(
            session,
            ws,
            csvc.CampaignRequest(name="q", from_="n@acme.example.com", subject="s", text="t"),
        ).id
    body = "email\n" + "".join(f"p{i}@example.net\n" for i in range(6))
    assert csvc.upload_recipients(app, ws.id, cid, "text/csv", [body.encode()]).accepted == 6
    with transaction(app.sessions) as session:
        csvc.act(session, ws.id, cid, "start")
    _run(app, 3)
    with app.sessions() as session:
        shown = csvc.public(session, csvc.get(session, ws.id, cid))
    assert shown["state"] == "sending"
    assert shown["counts"]["sent"] == 3 and shown["counts"]["pending"] == 3
    assert "daily quota of transport 'cap'" in shown["waiting"]
    with app.sessions() as session:
        day = window("day", utcnow(), ZONE).start
        counted = session.execute(
            select(SendCounter.window_start, SendCounter.count).where(
                SendCounter.scope_key == f"transport:{t.id}", SendCounter.window == "day"
            )
        ).all()
        exhausted = session.scalars(select(Event.type).where(Event.type == "quota.exhausted"))
        assert len(list(exhausted)) == 1
    assert counted == [(day, 3)]
    # p4 unsubscribes while the campaign waits; then the day resets.
    with transaction(app.sessions) as session:
        ssvc.add(session, ws.id, "p4@example.net", scope="bulk")
        session.execute(delete(SendCounter))
        session.execute(update(Campaign).values(blocked_until=utcnow()))
    _run(app, 2)
    with app.sessions() as session:
        shown = csvc.public(session, csvc.get(session, ws.id, cid))
    assert shown["state"] == "done"
    assert shown["counts"]["sent"] == 5 and shown["counts"]["suppressed"] == 1


def test_cancel_stops_within_one_batch(mailgate_app: Mailgate) -> None:
    """After cancel, no further batch is claimed: the rest stays pending, never sent."""
    app = mailgate_app
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        tsvc.create(
            session,
            app.secrets,
            ws.id,
            {"name": "cap", "kind": "capture", "default": True, "sender": "n@acme.example.com"},
        )
        cid = csvc.create(
            session,
            ws,
            csvc.CampaignRequest(name="c", from_="n@acme.example.com", subject="s", text="t"),
        ).id
    n = dispatch.BATCH + 50
    body = "email\n" + "".join(f"p{i}@example.net\n" for i in range(n))
    assert csvc.upload_recipients(app, ws.id, cid, "text/csv", [body.encode()]).accepted == n

    async def one_batch_then_cancel() -> None:
        with ThreadPoolExecutor(2) as pool:
            await dispatch.dispatch_once(app, pool)  # activates and sends one batch
            with transaction(app.sessions) as session:
                csvc.act(session, ws.id, cid, "cancel")
            await dispatch.dispatch_once(app, pool)
        await app.aclose()

    with transaction(app.sessions) as session:
        csvc.act(session, ws.id, cid, "start")
    asyncio.run(one_batch_then_cancel())
    with app.sessions() as session:
        shown = csvc.public(session, csvc.get(session, ws.id, cid))
    assert shown["state"] == "cancelled"
    assert shown["counts"]["sent"] == dispatch.BATCH and shown["counts"]["pending"] == 50


def test_warm_up_plan_limits_a_campaign(mailgate_app: Mailgate) -> None:
    """A transport warming up (docs/domains.md) sends a campaign only today's warm-up quota."""
    app = mailgate_app
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        t = tsvc.create(
            session,
            app.secrets,
            ws.id,
            {"name": "cap", "kind": "capture", "default": True, "sender": "n@acme.example.com"},
        )
        plan = {"start": 50, "target": 5000}
        session.execute(update(TransportRow).where(TransportRow.id == t.id).values(warmup=plan))
        cid = csvc.create(
            session,
            ws,
            csvc.CampaignRequest(name="w", from_="n@acme.example.com", subject="s", text="t"),
        ).id
    body = "email\n" + "".join(f"p{i}@example.net\n" for i in range(60))
    csvc.upload_recipients(app, ws.id, cid, "text/csv", [body.encode()])
    with transaction(app.sessions) as session:
        csvc.act(session, ws.id, cid, "start")
    _run(app, 2)
    with app.sessions() as session:
        shown = csvc.public(session, csvc.get(session, ws.id, cid))
    assert shown["counts"]["sent"] == 50 and shown["counts"]["pending"] == 10
    assert "daily quota" in shown["waiting"]
