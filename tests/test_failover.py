"""Failover: after N transient failures a message goes out through the fallback transport."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailgate.errors import InvalidInput
from mailgate.queue import lease
from mailgate.queue.delivery import claim_batch, deliver, record
from mailgate.runtime import Mailgate, build
from mailgate.services import messages as msvc
from mailgate.services import tenancy
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow, utcnow
from mailgate.testing import ScriptedSMTPServer
from tests.helpers import smtp_transport
from tests.servers.mailgate import make_settings


async def _closing(app: Mailgate, work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    finally:
        await app.aclose()


async def _round(app: Mailgate, now: Any) -> None:
    claimed = await asyncio.to_thread(claim_batch, app, lease.new_owner("t"), 100, now=now)
    await asyncio.to_thread(record, app, await deliver(app, claimed))


def test_failover_after_n_transient_failures(store_url: str, tmp_path: Path) -> None:
    """Two 451s from the primary, then the fallback delivers; the primary never got it."""
    app = build(make_settings(tmp_path, store_url))
    primary = ScriptedSMTPServer(mail_reply="451 4.3.0 local problem, try later")
    backup = ScriptedSMTPServer()

    async def main() -> None:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            fb = tsvc.create(
                session,
                app.secrets,
                ws.id,
                smtp_transport(backup.port, name="backup", default=False),
            )
            tsvc.create(
                session,
                app.secrets,
                ws.id,
                smtp_transport(primary.port, fallback_transport=fb.id, failover_after=2),
            )
        (answer,) = await msvc.accept(app, ws, [msvc.SendRequest(to=["a@example.net"], text="x")])
        now = utcnow()
        for step in range(3):
            await _round(app, now + timedelta(hours=step))
        with app.sessions() as session:
            row = session.scalars(select(MessageRow).where(MessageRow.id == answer.id)).one()
            assert row.status == "sent" and row.attempts == 3
        assert primary.messages == [] and len(backup.messages) == 1

    try:
        with primary, backup:
            asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_a_fallback_must_be_this_workspaces_own(store_url: str, tmp_path: Path) -> None:
    """Another workspace's transport, itself, or a bad count are refused by field."""
    app = build(make_settings(tmp_path, store_url))
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            other = tenancy.create_workspace(session, "other")
            theirs = tsvc.create(session, app.secrets, other.id, smtp_transport(2525))
            mine = tsvc.create(session, app.secrets, ws.id, smtp_transport(2526))
            for data, field in (
                ({"fallback_transport": theirs.id}, "fallback_transport"),
                ({"fallback_transport": mine.id}, "fallback_transport"),
                ({"fallback_transport": "tr_nope"}, "fallback_transport"),
                ({"failover_after": 0}, "failover_after"),
                ({"failover_after": "3"}, "failover_after"),
            ):
                with pytest.raises(InvalidInput) as e:
                    tsvc.update(session, app.secrets, mine, data)
                assert e.value.field == field
    finally:
        app.dispose()
