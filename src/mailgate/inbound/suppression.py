"""Writing and reading suppression entries, shared by routing, the API and sending.

An address has at most one entry per scope (``all``: nothing is sent to it; ``bulk``:
only transactional mail is). Bounces and complaints write ``all``; an unsubscribe
writes ``bulk``; repeated soft bounces write an ``all`` entry that expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailgate.store.models import SoftBounce, Suppression

SCOPES = ("all", "bulk")
CATEGORIES = ("transactional", "bulk")


def suppress(
    session: Session,
    workspace_id: str,
    address: str,
    *,
    reason: str,
    scope: str,
    now: datetime,
    source: str | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """Add (or strengthen) the ``scope`` entry for ``address``; True when anything changed.

    A permanent entry is never weakened by an expiring one; an expired entry is
    replaced; two expiring ones keep the later end. Safe against a concurrent writer:
    the insert does nothing on conflict and the row is then read and adjusted.
    """
    address = address.lower()
    values = {
        "workspace_id": workspace_id,
        "address": address,
        "scope": scope,
        "reason": reason,
        "source_message_id": source,
        "created_at": now,
        "expires_at": expires_at,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING.
    stmt = insert(Suppression).values(**values).on_conflict_do_nothing()
    if session.execute(stmt.returning(Suppression.id)).scalar() is not None:
        return True
    row = session.scalar(
        select(Suppression)
        .where(
            Suppression.workspace_id == workspace_id,
            Suppression.address == address,
            Suppression.scope == scope,
        )
        .with_for_update()
    )
    if row is None:
        return False
    expired = row.expires_at is not None and _aware(row.expires_at) <= now
    if expired or (row.expires_at is not None and expires_at is None):
        row.reason, row.source_message_id, row.created_at = reason, source, now
        row.expires_at = expires_at
        return True
    current = row.expires_at
    if current is not None and expires_at is not None and expires_at > _aware(current):
        row.expires_at = expires_at
        return True
    return False


def blocked(
    session: Session, workspace_id: str, addresses: set[str], category: str, now: datetime
) -> set[str]:
    """The lower-cased ``addresses`` a message of ``category`` must not go to now."""
    if not addresses:
        return set()
    scopes = ["all", "bulk"] if category == "bulk" else ["all"]
    # Entries are stored lower-cased (every writer lowers): a plain IN uses the index.
    q = select(Suppression.address).where(
        Suppression.workspace_id == workspace_id,
        Suppression.address.in_({a.lower() for a in addresses}),
        Suppression.scope.in_(scopes),
        or_(Suppression.expires_at.is_(None), Suppression.expires_at > now),
    )
    return set(session.scalars(q))


@dataclass(frozen=True, slots=True)
class SoftBounceLimits:
    """MAILGATE_SOFT_BOUNCE_LIMIT reports within _WINDOW days pause an address for
    _SUPPRESS_DAYS (0 for the limit: never)."""

    limit: int = 5
    window_days: int = 7
    suppress_days: int = 14


def soft_bounce(
    session: Session,
    workspace_id: str,
    address: str,
    message_pk: str,
    now: datetime,
    limits: SoftBounceLimits,
) -> bool:
    """Record one proven soft bounce; True when it crossed the limit and suppressed.

    A mailbox that is full or a server that defers for days is not gone: the entry
    expires, and a delivery after it starts the count again.
    """
    address = address.lower()
    session.add(
        SoftBounce(workspace_id=workspace_id, address=address, message_pk=message_pk, at=now)
    )
    session.flush()
    if limits.limit <= 0:
        return False
    since = now - timedelta(days=limits.window_days)
    mine = (SoftBounce.workspace_id == workspace_id) & (SoftBounce.address == address)
    session.execute(delete(SoftBounce).where(mine, SoftBounce.at < since))  # out of the window
    # Per message: one deferred message's repeated delay notices are one soft bounce.
    count = session.scalar(select(func.count(func.distinct(SoftBounce.message_pk))).where(mine))
    if (count or 0) < limits.limit:
        return False
    session.execute(delete(SoftBounce).where(mine))
    until = now + timedelta(days=limits.suppress_days)
    return suppress(
        session,
        workspace_id,
        address,
        reason="soft_bounce",
        scope="all",
        now=now,
        source=message_pk,
        expires_at=until,
    )


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
