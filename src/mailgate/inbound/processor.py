"""The inbound worker: take received rows under a lease, parse, classify, route.

The raw bytes are already durable, so this step may run again after a crash or
after a parser fix: it reads the bytes, never the network.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr
from typing import Any

from mailgate.core.parse import parse_message
from mailgate.inbound import authentication, observe
from mailgate.inbound.breaker import Limits
from mailgate.inbound.routing import route
from mailgate.inbound.suppression import SoftBounceLimits
from mailgate.queue import lease
from mailgate.queue.backoff import next_attempt
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.eventlog import emit_many
from mailgate.store.models import MessageRow, utcnow

log = logging.getLogger(__name__)
#: What :func:`process` answers when another worker holds the message now.
STALE = "stale"


def claim(app: Context, owner: str, limit: int) -> list[str]:
    """Lease up to ``limit`` received messages to ``owner`` (retries after new mail)."""
    now = utcnow()
    inbound = MessageRow.direction == "in"
    walks = [
        lease.Walk(
            (MessageRow.status == "received", MessageRow.next_attempt_at <= now, inbound),
            MessageRow.next_attempt_at,
        ),
        lease.Walk(  # its worker died holding the lease
            (MessageRow.status == "processing", MessageRow.lease_until < now, inbound),
            MessageRow.next_attempt_at,
        ),
    ]
    with transaction(app.sessions) as session:
        rows = lease.claim(
            session,
            MessageRow,
            owner,
            walks,
            limit=limit,
            lease_seconds=app.settings.lease_seconds,
            values={"status": "processing"},
            now=now,
        )
    return [r.id for r in rows]


def heartbeat(app: Context, owner: str, ids: list[str]) -> lease.Heartbeat:
    """Keep the lease on a claimed batch while it is processed one by one."""
    return lease.Heartbeat(
        app.sessions, MessageRow, owner, ids, lease_seconds=app.settings.lease_seconds
    )


def process(app: Context, message_pk: str, owner: str) -> str:
    """Parse and route one received message ``owner`` leased; returns its new status.

    The row is checked (and locked) as still leased to ``owner`` first: if the lease
    ran out and another worker took the message over, this one leaves it alone
    (``"stale"``), so a slow parse can never route a message twice.
    """
    try:
        auth = _authenticate(app, message_pk, owner)
        if auth is None:
            return STALE
        with transaction(app.sessions) as session:
            if not lease.held(session, MessageRow, {message_pk: owner}, what="inbound"):
                return STALE
            row = session.get_one(MessageRow, message_pk)
            row.auth = auth  # routing reads it: a DMARC failure joins no thread by header
            parsed = parse_message(app.blobs.get(session, row.blob_key))
            now = utcnow()
            events = route(
                session, app.secrets, row, parsed, now, limits=_limits(app), soft_bounces=_soft(app)
            )
            row.status = "processed"
            row.lease_owner = row.lease_until = None
            row.updated_at = now
            emit_many(session, events)
            observe.routed(session, row, events)  # counted and logged once committed
            return row.status
    except Exception as e:  # dead-letter with the reason; the bytes stay re-processable
        log.exception("processing inbound %s failed", message_pk)
        return _failed(app, message_pk, owner, e)


def _authenticate(app: Context, message_pk: str, owner: str) -> dict[str, Any] | None:
    """The SPF/DKIM/DMARC verdicts of a leased message; None if the lease was lost.

    The DNS look-ups run between two short transactions, holding no row lock. A message
    processed again keeps the verdicts it got when it arrived: keys rotate and records
    change, and the verdict is about the moment of receipt.
    """
    with transaction(app.sessions) as session:
        if not lease.held(session, MessageRow, {message_pk: owner}, what="inbound"):
            return None
        row = session.get_one(MessageRow, message_pk)
        if row.auth:
            return row.auth
        raw = app.blobs.get(session, row.blob_key)
        source, mail_from, peer_ip, helo = row.source or "", row.mail_from, row.peer_ip, row.helo
    return authentication.verdicts(
        app.settings, raw, source=source, mail_from=mail_from, peer_ip=peer_ip, helo=helo
    )


def _failed(app: Context, message_pk: str, owner: str, error: Exception) -> str:
    """Count a failed attempt: back off and retry, or dead-letter once attempts run out."""
    s = app.settings
    with transaction(app.sessions) as session:
        if not lease.held(session, MessageRow, {message_pk: owner}, what="inbound"):
            return STALE
        row = session.get_one(MessageRow, message_pk)
        now = utcnow()
        row.attempts += 1
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        row.lease_owner = row.lease_until = None
        row.updated_at = now
        if not row.from_addr and not row.subject:
            # The dead-letter list shows who sent what; the parse that fills these failed.
            row.from_addr, row.subject = _header_hint(app.blobs.get(session, row.blob_key))
        if row.attempts >= s.inbound_max_attempts:
            row.status = "dead"
        else:
            row.status = "received"
            row.next_attempt_at = next_attempt(
                now, row.attempts, base=s.inbound_retry_seconds, cap=s.retry_max_seconds
            )
        observe.failed(session, row)
        return row.status


def _header_hint(raw: bytes) -> tuple[str, str]:
    """From address and Subject read leniently from the raw header, for the operator."""
    try:
        msg = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
        sender = parseaddr(str(make_header(decode_header(msg.get("From", "")))))[1]
        subject = str(make_header(decode_header(msg.get("Subject", ""))))
    except Exception:  # the header is what broke the parser: show nothing rather than fail
        return "", ""
    return sender[:320], " ".join(subject.split())[:998]


def _soft(app: Context) -> SoftBounceLimits:
    s = app.settings
    return SoftBounceLimits(
        s.soft_bounce_limit, s.soft_bounce_window_days, s.soft_bounce_suppress_days
    )


def _limits(app: Context) -> Limits:
    return Limits(app.settings.automatic_limit, app.settings.automatic_window_seconds)


def reprocess(app: Context, message_pk: str) -> str:
    """Run a stored message through the pipeline again (after a fix, or a dead letter)."""
    owner = lease.new_owner("reprocess")
    now = utcnow()
    with transaction(app.sessions) as session:
        row = session.get_one(MessageRow, message_pk)
        row.status = "processing"
        row.attempts = 0
        row.lease_owner = owner
        row.lease_until = now + timedelta(seconds=app.settings.lease_seconds)
    return process(app, message_pk, owner)
