"""The per-workspace suppression list: addresses sending skips.

Each entry has a scope: ``all`` (hard bounces, complaints, soft-bounce pauses, and
manual entries by default) blocks every message; ``bulk`` (unsubscribes) blocks only
``"category": "bulk"`` mail. An address may have one entry of each scope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.core.addresses import parse_address
from mailgate.errors import Conflict, InvalidInput, NotFound
from mailgate.inbound.suppression import SCOPES, suppress
from mailgate.inbound.tokens import Unsubscribe
from mailgate.services import campaigns
from mailgate.store.eventlog import emit
from mailgate.store.models import Suppression, Workspace, utcnow

REASONS = ("hard_bounce", "complaint", "manual", "unsubscribe", "soft_bounce")


def public(row: Suppression) -> dict[str, Any]:
    return {
        "address": row.address,
        "reason": row.reason,
        "scope": row.scope,
        "source_message": row.source_message_id,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


def _check_scope(scope: str | None) -> None:
    if scope is not None and scope not in SCOPES:
        raise InvalidInput("scope must be 'all' or 'bulk'", field="scope")


def listing(
    session: Session,
    workspace_id: str,
    *,
    reason: str | None,
    limit: int,
    after: str | None,
    scope: str | None = None,
) -> tuple[list[Suppression], str | None]:
    """By address, then scope; ``after`` is the previous page's ``next``.

    ``next`` is ``address|scope`` (an address has up to two entries, and a page may
    end between them); a bare address is accepted too and starts after its entries.
    """
    _check_scope(scope)
    q = select(Suppression).where(Suppression.workspace_id == workspace_id)
    if reason:
        q = q.where(Suppression.reason == reason)
    if scope:
        q = q.where(Suppression.scope == scope)
    if after:
        address, _, last_scope = after.rpartition("|")
        if address and last_scope in SCOPES:
            q = q.where(
                (Suppression.address > address)
                | ((Suppression.address == address) & (Suppression.scope > last_scope))
            )
        else:
            q = q.where(Suppression.address > after)
    order = (Suppression.address, Suppression.scope)
    rows = list(session.scalars(q.order_by(*order).limit(limit + 1)))
    last = rows[limit - 1] if len(rows) > limit else None
    return rows[:limit], (f"{last.address}|{last.scope}" if last else None)


def add(
    session: Session,
    workspace_id: str,
    address: str,
    *,
    expires_at: datetime | None = None,
    scope: str = "all",
) -> Suppression:
    """Suppress an address by hand (an unsubscribe the business app learned of)."""
    _check_scope(scope)
    value = parse_address(address, field="address").address.lower()
    if any(r.scope == scope for r in _find(session, workspace_id, value)):
        raise Conflict(f"{value} is suppressed already (scope {scope})", field="address")
    row = Suppression(
        workspace_id=workspace_id,
        address=value,
        reason="manual",
        scope=scope,
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def remove(session: Session, workspace_id: str, address: str, scope: str | None = None) -> None:
    """Lift a suppression (the customer fixed their mailbox): sending reaches them again.

    Without ``scope`` every entry of the address goes; with it, only that one.
    """
    _check_scope(scope)
    rows = [
        r
        for r in _find(session, workspace_id, address.strip().lower())
        if scope is None or r.scope == scope
    ]
    if not rows:
        raise NotFound(f"{address} is not suppressed", field="address")
    for row in rows:
        session.delete(row)


def unsubscribe(session: Session, facts: Unsubscribe, *, via: str) -> bool:
    """Apply a genuine unsubscribe token: the address leaves the workspace's bulk mail.

    False when the workspace is gone (the link outlived it). The token was signed
    for exactly this workspace and address, so it touches nothing else.
    """
    if session.get(Workspace, facts.workspace_id) is None:
        return False
    now = utcnow()
    if suppress(
        session, facts.workspace_id, facts.address, reason="unsubscribe", scope="bulk", now=now
    ):
        payload = {"address": facts.address.lower(), "scope": "bulk", "via": via}
        campaigns.note_unsubscribe(session, facts.workspace_id, facts.address)
        emit(session, facts.workspace_id, "suppression.unsubscribed", payload, now=now)
    return True


def _find(session: Session, workspace_id: str, address: str) -> list[Suppression]:
    return list(
        session.scalars(
            select(Suppression).where(
                Suppression.workspace_id == workspace_id,
                func.lower(Suppression.address) == address,
            )
        )
    )
