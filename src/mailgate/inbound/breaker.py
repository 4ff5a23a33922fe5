"""A rate breaker per correspondent (RFC 3834 §2): automatic mail must not ping-pong.

RFC 3834 §2 asks a responder to limit what it sends automatically to one
correspondent. mailgate sends no automatic answers itself, but each new
conversation is what a business app acknowledges automatically, and an
auto-reply answering our mail is half of a loop. So per workspace and sender,
every message that is automatic (an auto-reply) or would open a conversation is
counted; past ``limit`` of them in ``window_seconds`` the breaker trips: until
it resets, that correspondent opens no conversation and no auto-reply of theirs
enters one. Their mail is still stored; ``correspondent.throttled`` says so once
per trip. A person answering in an existing thread is not counted and still
threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailgate.store.eventlog import event
from mailgate.store.models import CorrespondentBreaker

THROTTLED = "correspondent.throttled"


@dataclass(frozen=True, slots=True)
class Limits:
    """``MAILGATE_AUTOMATIC_LIMIT`` messages per ``MAILGATE_AUTOMATIC_WINDOW`` seconds; 0 is off."""

    limit: int = 10
    window_seconds: int = 3600


def tick(
    session: Session,
    workspace_id: str,
    address: str,
    now: datetime,
    limits: Limits,
    *,
    message_pk: str,
) -> tuple[bool, list[dict[str, Any]]]:
    """Count one automatic message from ``address``: (held back?, events to emit)."""
    if limits.limit <= 0 or not address:
        return False, []
    address = address.lower()[:320]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(CorrespondentBreaker)
        .values(workspace_id=workspace_id, address=address, window_start=now, count=0)
        .on_conflict_do_nothing()
    )
    q = select(CorrespondentBreaker).where(
        CorrespondentBreaker.workspace_id == workspace_id, CorrespondentBreaker.address == address
    )
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()  # two lanes with mail from one sender count one after the other
    b = session.scalars(q).one()
    window = timedelta(seconds=limits.window_seconds)
    if b.tripped_until is not None and b.tripped_until > now:
        return True, []  # still tripped: announced when it tripped
    if b.tripped_until is not None or b.window_start + window <= now:
        b.window_start, b.count, b.tripped_until = now, 0, None
    b.count += 1
    if b.count <= limits.limit:
        return False, []
    b.tripped_until = now + window
    payload = {
        "address": address,
        "limit": limits.limit,
        "window_seconds": limits.window_seconds,
        "until": b.tripped_until.isoformat(),
        "message": message_pk,
    }
    return True, [event(workspace_id, THROTTLED, payload, message_pk=message_pk, now=now)]
