"""Throttling replies slow the receiving domain down instead of retrying at full speed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailgate.core.throttle import classify
from mailgate.queue import lease
from mailgate.queue.delivery import claim_batch, deliver, record
from mailgate.runtime import Mailgate, build
from mailgate.services import messages as msvc
from mailgate.services import tenancy
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.store.models import (
    Attempt,
    DestinationThrottle,
    MessageRow,
    Recipient,
    Workspace,
    utcnow,
)
from mailgate.testing import ScriptedSMTPServer
from tests.helpers import smtp_transport
from tests.servers.mailgate import make_settings
from tests.servers.smtpsink import SmtpSink

GMAIL = (
    "421 4.7.28 [127.0.0.1] Our system has detected an unusual rate of unsolicited mail "
    "originating from your IP address. To protect our users, mail sent from your IP "
    "address has been temporarily rate limited."
)


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "provider"),
    [
        (421, None, GMAIL[4:], "gmail"),
        (450, "4.2.1", "The user you are trying to contact is receiving mail at a rate", "gmail"),
        (
            451,
            "4.7.500",
            "Server busy. Please try again later from [192.0.2.1]. (S77714)",
            "outlook",
        ),
        (
            451,
            "4.7.650",
            "The mail server [192.0.2.1] has been temporarily rate limited",
            "outlook",
        ),
        (421, "4.7.0", "[TSS04] Messages from 192.0.2.1 temporarily deferred", "yahoo"),
        (421, "4.7.0", "[TS01] Messages from 192.0.2.1 temporarily deferred", "yahoo"),
        (550, None, "Ip frequency limited. http://service.mail.qq.com/", "qq"),
        (550, None, "Domain frequency limited", "qq"),
        (421, None, "HL:IFC too many messages from this IP in a short time", "netease"),
        (451, None, "MI:SFQ sender over its 15-minute quota", "netease"),
        (421, None, "Service not available, closing transmission channel", "generic"),
        (452, "4.3.1", "Too many messages, slow down", "generic"),
    ],
)
def test_throttling_replies_are_recognised(
    code: int, enhanced: str | None, text: str, provider: str
) -> None:
    """Each provider's throttling text is a throttle, attributed to that provider."""
    throttle = classify(code, enhanced, text)
    assert throttle is not None and throttle.provider == provider


@pytest.mark.parametrize(
    ("code", "enhanced", "text"),
    [
        (550, None, "Mail content denied. http://service.mail.qq.com/"),  # content, permanent
        (550, "5.1.1", "no such user"),
        (550, "5.7.1", "rate limited, and you are on our blocklist"),  # 5xx stays permanent
        (451, "4.7.1", "Greylisted, please try again later"),  # one ordinary retry
        (450, "4.2.0", "Mailbox busy"),
        (250, "2.0.0", "OK"),
    ],
)
def test_other_replies_are_not_throttles(code: int, enhanced: str | None, text: str) -> None:
    """Ordinary failures, content rejections and greylisting are not throttles."""
    assert classify(code, enhanced, text) is None


def test_yahoo_ts03_backs_off_hardest() -> None:
    """[TS03] says retrying soon will not work: the longest backoff."""
    throttle = classify(421, "4.7.0", "[TS03] All messages from 192.0.2.1 will be deferred")
    assert throttle is not None and throttle.severity == "block"


async def _closing(app: Mailgate, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work``, then close the transports' pools in the same loop, even on failure."""
    try:
        await work
    finally:
        await app.aclose()


def _setup(app: Mailgate, port: int) -> tuple[Workspace, str]:
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        row = tsvc.create(session, app.secrets, ws.id, smtp_transport(port))
        return ws, row.id


async def _round(app: Mailgate, now: object = None) -> list[str]:
    claimed = await asyncio.to_thread(claim_batch, app, lease.new_owner("t"), 100, now=now)
    await asyncio.to_thread(record, app, await deliver(app, claimed))
    return [c.id for c in claimed]


def test_a_throttling_domain_is_backed_off_and_recorded(store_url: str, tmp_path: Path) -> None:
    """Gmail's 4.7.28: attempt flagged, domain backed off, nothing sent to it until then."""
    app = build(make_settings(tmp_path, store_url, throttle_base_seconds=120))
    server = ScriptedSMTPServer(
        rcpt_replies={
            "first@gmail.example": GMAIL,
            "q@qq.example": "550 Ip frequency limited. http://service.mail.qq.com/",
            "c@qq.example": "550 Mail content denied. http://service.mail.qq.com/",
        }
    )

    async def main() -> None:
        ws, tid = _setup(app, server.port)
        first, qq, content = await msvc.accept(
            app,
            ws,
            [
                msvc.SendRequest(to=["first@gmail.example"], subject="a", text="x"),
                msvc.SendRequest(to=["q@qq.example"], subject="q", text="x"),
                msvc.SendRequest(to=["c@qq.example"], subject="c", text="x"),
            ],
        )
        before = utcnow()
        await _round(app)
        with app.sessions() as session:
            status = {m.id: m for m in session.scalars(select(MessageRow))}
            # QQ's 550 frequency limit lifts: deferred, not failed; its content refusal fails.
            assert status[qq.id].status == "deferred"
            assert status[content.id].status == "failed"
            assert status[first.id].status == "deferred"
            throttle = session.scalars(
                select(DestinationThrottle).where(DestinationThrottle.domain == "gmail.example")
            ).one()
            assert throttle.transport_id == tid and throttle.strikes == 1
            assert throttle.until >= before + timedelta(seconds=120)
            assert throttle.concurrency == app.settings.throttle_concurrency // 2
            assert "4.7.28" in throttle.reason
            assert status[first.id].next_attempt_at == throttle.until
            flags = dict(
                session.execute(
                    select(Recipient.address, Attempt.throttled).join(
                        Attempt, Attempt.recipient_id == Recipient.id
                    )
                ).all()
            )
        assert flags == {"first@gmail.example": True, "q@qq.example": True, "c@qq.example": False}

        # More mail to the throttled domain waits for `until`, without touching the server.
        server.rcpt_replies.clear()
        later, elsewhere = await msvc.accept(
            app,
            ws,
            [
                msvc.SendRequest(to=["second@gmail.example"], subject="b", text="x"),
                msvc.SendRequest(to=["someone@other.example"], subject="c", text="x"),
            ],
        )
        assert await _round(app) == [elsewhere.id]
        with app.sessions() as session:
            held_back = session.get(MessageRow, later.id)
            assert held_back is not None and held_back.status == "queued"
            assert held_back.next_attempt_at == throttle.until
            assert "4.7.28" in (held_back.last_error or "")
        assert [m.rcpt_tos for m in server.messages] == [["someone@other.example"]]

        # The receiver recovered ("for a while" is over): both go out after `until`.
        sent = await _round(app, throttle.until + timedelta(seconds=1))
        assert set(sent) >= {first.id, later.id}
        delivered = {r for m in server.messages for r in m.rcpt_tos}
        assert delivered >= {"first@gmail.example", "second@gmail.example"}

    try:
        with server:
            asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_concurrency_to_a_throttled_domain_is_cut(store_url: str, tmp_path: Path) -> None:
    """After the backoff, a claim takes at most `concurrency` messages for that domain."""
    app = build(make_settings(tmp_path, store_url))
    server = ScriptedSMTPServer()

    async def main() -> None:
        ws, tid = _setup(app, server.port)
        now = utcnow()
        with transaction(app.sessions) as session:
            session.add(
                DestinationThrottle(
                    transport_id=tid,
                    domain="busy.example",
                    until=now - timedelta(seconds=1),
                    cut_until=now + timedelta(hours=1),
                    concurrency=1,
                    strikes=3,
                    reason="throttled",
                    updated_at=now,
                )
            )
        await msvc.accept(
            app, ws, [msvc.SendRequest(to=[f"u{i}@busy.example"], text="x") for i in range(3)]
        )
        assert len(await _round(app)) == 1
        assert len(server.messages) == 1

    try:
        with server:
            asyncio.run(_closing(app, main()))
    finally:
        app.dispose()


def test_postfix_421_backs_the_domain_off(
    store_url: str, tmp_path: Path, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    """Postfix smtp-sink answering 421 and hanging up: deferred, throttled, not failed."""
    sink = smtp_sink_factory("-Q", "RCPT")
    app = build(make_settings(tmp_path, store_url))

    async def main() -> None:
        ws, tid = _setup(app, sink.port)
        (answer,) = await msvc.accept(
            app, ws, [msvc.SendRequest(to=["a@busy.example"], subject="s", text="x")]
        )
        await _round(app)
        with app.sessions() as session:
            msg = session.get(MessageRow, answer.id)
            assert msg is not None and msg.status == "deferred"
            attempt = session.scalars(select(Attempt)).one()
            assert attempt.code == 421 and attempt.throttled and attempt.transient
            throttle = session.scalars(select(DestinationThrottle)).one()
            assert (throttle.transport_id, throttle.domain) == (tid, "busy.example")

    try:
        asyncio.run(_closing(app, main()))
    finally:
        app.dispose()
