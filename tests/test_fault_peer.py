"""Faults of the receiving SMTP server, through the real worker lane: deferred, retried, never lost.

Each test sends one message through the outbox lane (``Worker.run_once``: claim,
deliver over ``SmtpTransport``, record) to ``tests/servers/faultpeer.py`` while it
misbehaves, checks what was recorded, lets the server recover and checks that the
retry delivers. The outcomes are the table in docs/queue.md ("Faults of the
receiving server").
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from mailgate.runtime import Mailgate, build
from mailgate.runtime.worker import Worker
from mailgate.services import messages as msvc
from mailgate.services import tenancy
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.store.models import Attempt, MessageRow, Recipient
from tests.helpers import smtp_transport
from tests.servers.faultpeer import FaultPeer
from tests.servers.mailgate import make_settings

#: The client's reply timeout; the peer holds a reply four times as long.
TIMEOUT = 0.5


@dataclass(frozen=True)
class Expected:
    code: int | None
    reason: str  # in the attempt's text, with {peer} for 127.0.0.1:port
    throttled: bool = False
    copies: int = 1  # complete message texts the server received in all


OUTCOMES = {
    "drop_in_data": Expected(None, "connection to {peer} closed unexpectedly (deliver)"),
    "421_mid_session": Expected(421, "4.3.2 faultpeer.test shutting down", throttled=True),
    "tls_handshake": Expected(None, "TLS handshake with {peer} failed"),
    # The held text arrived complete; the server never answered, so it never accepted it.
    "hold_reply": Expected(None, "timed out talking to {peer} (deliver)", copies=2),
    "hold_greeting": Expected(None, "timed out talking to {peer} (connect)"),
    # The server had the whole text and hung up before its 250: the retry is a duplicate.
    "close_after_data": Expected(
        None, "connection to {peer} closed unexpectedly (deliver)", copies=2
    ),
}


@pytest.mark.parametrize("fault", list(OUTCOMES))
def test_a_fault_defers_with_its_reason_and_the_retry_delivers(
    fault: str, store_url: str, tmp_path: Path, fault_peer: FaultPeer
) -> None:
    """Deferred (never failed, never lost) with the reason recorded; the retry delivers."""
    fault_peer.hold_seconds = TIMEOUT * 4
    app = build(
        make_settings(tmp_path, store_url, throttle_base_seconds=0.05, throttle_max_seconds=0.2)
    )
    try:
        asyncio.run(_fault_then_recovery(app, fault_peer, fault, OUTCOMES[fault]))
    finally:
        app.dispose()


async def _fault_then_recovery(
    app: Mailgate, peer: FaultPeer, fault: str, expected: Expected
) -> None:
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            config = {"timeout": TIMEOUT, "max_connections": 1}
            if fault == "tls_handshake":
                config |= {"security": "starttls", "verify_tls": False}
            tsvc.create(session, app.secrets, ws.id, smtp_transport(peer.port, config=config))
        request = msvc.SendRequest(to=["rcpt@example.net"], subject=f"fault {fault}", text="x")
        (answer,) = await msvc.accept(app, ws, [request])
        peer.reset(fault)
        worker = Worker(app)

        assert await worker.run_once() == 1
        assert peer.faults[fault] == 1
        message, recipient, attempts = _state(app, answer.id)
        reason = expected.reason.format(peer=f"127.0.0.1:{peer.port}")
        assert message.status == "deferred"
        assert message.next_attempt_at is not None  # a retry is scheduled
        assert reason in (message.last_error or "")
        assert (recipient.status, recipient.code) == ("deferred", expected.code)
        assert reason in (recipient.text or "")
        (first,) = attempts
        assert (first.code, first.transient, first.throttled) == (
            expected.code,
            True,
            expected.throttled,
        )
        assert reason in first.text

        peer.fault = None  # the server recovers
        deadline = time.monotonic() + 10
        while _state(app, answer.id)[0].status != "sent":
            assert time.monotonic() < deadline, "the retry never delivered"
            await worker.run_once()
            await asyncio.sleep(0.02)
        message, recipient, attempts = _state(app, answer.id)
        assert (recipient.status, recipient.code) == ("sent", 250)
        assert [a.transient for a in attempts] == [True, False]
        assert message.message_id is not None
        mid = message.message_id.encode()
        assert peer.count(mid, accepted=True) == 1
        assert peer.count(mid) == expected.copies
    finally:
        await app.aclose()


def _state(app: Mailgate, message_id: str) -> tuple[MessageRow, Recipient, list[Attempt]]:
    with app.sessions() as session:
        message = session.get(MessageRow, message_id)
        assert message is not None
        recipient = session.scalars(
            select(Recipient).where(Recipient.message_pk == message_id)
        ).one()
        attempts = session.scalars(
            select(Attempt).where(Attempt.recipient_id == recipient.id).order_by(Attempt.id)
        ).all()
        session.expunge_all()
        return message, recipient, list(attempts)
