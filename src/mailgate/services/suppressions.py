"""The per-workspace suppression list: addresses sending skips (hard bounces, complaints)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.core.addresses import parse_address
from mailgate.errors import Conflict, NotFound
from mailgate.store.models import Suppression, utcnow

REASONS = ("hard_bounce", "complaint", "manual")


def public(row: Suppression) -> dict[str, Any]:
    return {
        "address": row.address,
        "reason": row.reason,
        "source_message": row.source_message_id,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


def listing(
    session: Session, workspace_id: str, *, reason: str | None, limit: int, after: str | None
) -> tuple[list[Suppression], str | None]:
    """Alphabetical by address; ``after`` is the last address of the previous page."""
    q = select(Suppression).where(Suppression.workspace_id == workspace_id)
    if reason:
        q = q.where(Suppression.reason == reason)
    if after:
        q = q.where(Suppression.address > after)
    rows = list(session.scalars(q.order_by(Suppression.address).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].address if len(rows) > limit else None)


def add(
    session: Session, workspace_id: str, address: str, *, expires_at: datetime | None = None
) -> Suppression:
    """Suppress an address by hand (an unsubscribe the business app learned of)."""
    value = parse_address(address, field="address").address.lower()
    if _find(session, workspace_id, value) is not None:
        raise Conflict(f"{value} is suppressed already", field="address")
    row = Suppression(
        workspace_id=workspace_id,
        address=value,
        reason="manual",
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def remove(session: Session, workspace_id: str, address: str) -> None:
    """Lift a suppression (the customer fixed their mailbox): sending reaches them again."""
    row = _find(session, workspace_id, address.strip().lower())
    if row is None:
        raise NotFound(f"{address} is not suppressed", field="address")
    session.delete(row)


def _find(session: Session, workspace_id: str, address: str) -> Suppression | None:
    return session.scalar(
        select(Suppression).where(
            Suppression.workspace_id == workspace_id, func.lower(Suppression.address) == address
        )
    )
