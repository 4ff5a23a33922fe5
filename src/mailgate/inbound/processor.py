"""The inbound worker: take received rows under a lease, parse, classify, route.

The raw bytes are already durable, so this step may run again after a crash or
after a parser fix: it reads the bytes, never the network.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select, update

from mailgate.core.parse import parse_message
from mailgate.inbound.breaker import Limits
from mailgate.inbound.routing import route
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.eventlog import emit_many
from mailgate.store.models import MessageRow, utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def claim(app: Context, owner: str, limit: int) -> list[str]:
    now = utcnow()
    with transaction(app.sessions) as session:
        due = (
            select(MessageRow.id)
            .where(
                MessageRow.direction == "in",
                or_(
                    and_(MessageRow.status == "received", MessageRow.next_attempt_at <= now),
                    and_(MessageRow.status == "processing", MessageRow.lease_until < now),
                ),
            )
            .order_by(MessageRow.next_attempt_at)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = session.scalars(
            update(MessageRow)
            .where(MessageRow.id.in_(due.scalar_subquery()))
            .values(
                status="processing",
                lease_owner=owner,
                lease_until=now + timedelta(seconds=app.settings.lease_seconds),
            )
            .returning(MessageRow.id)
        ).all()
    return list(ids)


def process(app: Context, message_pk: str) -> str:
    """Parse and route one received message; returns its new status."""
    try:
        with transaction(app.sessions) as session:
            row = session.get_one(MessageRow, message_pk)
            parsed = parse_message(app.blobs.get(session, row.blob_key))
            now = utcnow()
            events = route(session, app.secrets, row, parsed, now, limits=_limits(app))
            row.status = "processed"
            row.lease_owner = row.lease_until = None
            row.updated_at = now
            emit_many(session, events)
            return row.status
    except Exception as e:  # dead-letter with the reason; the bytes stay re-processable
        log.exception("processing inbound %s failed", message_pk)
        with transaction(app.sessions) as session:
            row = session.get_one(MessageRow, message_pk)
            row.attempts += 1
            row.last_error = f"{type(e).__name__}: {e}"
            row.lease_owner = row.lease_until = None
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "dead"
            else:
                row.status = "received"
                row.next_attempt_at = utcnow() + timedelta(seconds=30 * row.attempts)
            return row.status


def _limits(app: Context) -> Limits:
    return Limits(app.settings.automatic_limit, app.settings.automatic_window_seconds)


def reprocess(app: Context, message_pk: str) -> str:
    """Run a stored message through the pipeline again (after a fix, or a dead letter)."""
    with transaction(app.sessions) as session:
        row = session.get_one(MessageRow, message_pk)
        row.status = "processing"
        row.attempts = 0
    return process(app, message_pk)
