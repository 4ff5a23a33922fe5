"""Read models the console needs that the API serves inline: the dashboard's figures,
received mail by status (dead letters), a conversation search. Workspace-scoped like
every service; the console (web/) holds no SQL of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailgate.errors import InvalidInput
from mailgate.services.conversations import assignee_clause
from mailgate.store.models import (
    Conversation,
    MessageRow,
    Recipient,
    SendingDomain,
    Source,
    SupportAddress,
    Team,
    Workspace,
    utcnow,
)

INBOUND_STATUSES = ("received", "processing", "processed", "dead")
PENDING = ("queued", "sending", "deferred", "held")


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _day_start(tz: str | None, now: datetime) -> datetime:
    local = now.astimezone(_zone(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def dashboard(session: Session, workspace_id: str, tz: str | None = None) -> dict[str, Any]:
    """Today's outbound mail by outcome (the day in ``tz``, else the workspace's),
    the queue's depth, the sources and their state, domains needing attention and
    the newest dead letters."""
    ws = session.get(Workspace, workspace_id)
    now = utcnow()
    since = _day_start(tz or (ws.timezone if ws else None), now)
    counts = dict(
        session.execute(
            select(MessageRow.status, func.count())
            .where(
                MessageRow.workspace_id == workspace_id,
                MessageRow.direction == "out",
                MessageRow.updated_at >= since,
                MessageRow.status.in_(("sent", "failed", "deferred")),
            )
            .group_by(MessageRow.status)
        ).all()
    )
    depth = session.scalar(
        select(func.count()).where(
            MessageRow.workspace_id == workspace_id,
            MessageRow.direction == "out",
            MessageRow.status.in_(PENDING),
        )
    )
    sources = list(
        session.scalars(
            select(Source).where(Source.workspace_id == workspace_id).order_by(Source.name)
        )
    )
    domains = list(
        session.scalars(
            select(SendingDomain)
            .where(SendingDomain.workspace_id == workspace_id, SendingDomain.state != "verified")
            .order_by(SendingDomain.name)
        )
    )
    dead, _ = inbound(session, workspace_id, "dead", limit=5)
    return {
        "since": since,
        "sent": counts.get("sent", 0),
        "failed": counts.get("failed", 0),
        "deferred": counts.get("deferred", 0),
        "queue_depth": depth or 0,
        "sources": sources,
        "domains": domains,
        "dead_letters": dead,
    }


def inbound(
    session: Session, workspace_id: str, status: str, *, limit: int = 50, before: str | None = None
) -> tuple[list[MessageRow], str | None]:
    """Received mail of one status, newest first (``dead``: the dead letters)."""
    if status not in INBOUND_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(INBOUND_STATUSES)}", field="status")
    q = select(MessageRow).where(
        MessageRow.workspace_id == workspace_id,
        MessageRow.status == status,
        MessageRow.direction == "in",
    )
    if before:
        q = q.where(MessageRow.id < before)
    rows = list(session.scalars(q.order_by(MessageRow.id.desc()).limit(limit + 1)))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], nxt


def search_conversations(
    session: Session,
    workspace_id: str,
    *,
    status: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    me: str | None = None,
    query: str | None = None,
    limit: int = 50,
) -> list[Conversation]:
    """The agents' inbox: newest activity first, filtered by status, team and assignee
    (a user id, ``me`` or ``none``), and a search on the subject and the
    correspondents' addresses."""
    q = select(Conversation).where(Conversation.workspace_id == workspace_id)
    if assignee:
        q = q.where(assignee_clause(assignee, me))
    if status:
        q = q.where(Conversation.status == status)
    if team == "none":
        q = q.where(Conversation.team_id.is_(None))
    elif team:
        q = q.where(Conversation.team_id == team)
    if query and query.strip():
        like = "%" + query.strip().lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
        senders = (
            select(MessageRow.conversation_id)
            .where(
                MessageRow.workspace_id == workspace_id,
                func.lower(MessageRow.from_addr).like(like),
            )
            .scalar_subquery()
        )
        q = q.where(
            or_(
                func.lower(Conversation.subject).like(like),
                Conversation.id.in_(senders),
                Conversation.address_id.in_(
                    select(SupportAddress.id).where(func.lower(SupportAddress.address).like(like))
                ),
            )
        )
    q = q.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit)
    return list(session.scalars(q))



def teams(session: Session, workspace_id: str) -> list[Team]:
    """The workspace's teams, by name (conversation filters and assignment)."""
    return list(
        session.scalars(select(Team).where(Team.workspace_id == workspace_id).order_by(Team.name))
    )


def search_journal(
    session: Session,
    workspace_id: str,
    *,
    status: str | None = None,
    transport_id: str | None = None,
    address: str | None = None,
    day: str | None = None,
    tz: str | None = None,
    limit: int = 50,
    before: str | None = None,
) -> tuple[list[MessageRow], str | None]:
    """The outbound journal filtered as the console's form asks: a journal of
    ``services.journal.JOURNALS``, a transport, an address (sender or recipient,
    part of it) and a day (``YYYY-MM-DD`` in ``tz``). Newest first; ``before`` pages."""
    from datetime import date, timedelta

    from mailgate.services.journal import JOURNALS

    if status and status not in JOURNALS:
        raise InvalidInput(f"status must be one of {', '.join(JOURNALS)}", field="status")
    q = select(MessageRow).where(
        MessageRow.workspace_id == workspace_id, MessageRow.direction == "out"
    )
    if status:
        q = q.where(MessageRow.status.in_(JOURNALS[status]))
    if transport_id:
        q = q.where(MessageRow.transport_id == transport_id)
    if address and address.strip():
        like = "%" + address.strip().lower().replace("%", "").replace("_", "\\_") + "%"
        to = select(Recipient.message_pk).where(func.lower(Recipient.address).like(like, "\\"))
        q = q.where(
            or_(func.lower(MessageRow.from_addr).like(like, "\\"), MessageRow.id.in_(to))
        )
    if day:
        try:
            first = date.fromisoformat(day)
        except ValueError:
            raise InvalidInput("a day is written YYYY-MM-DD", field="date") from None
        start = datetime(first.year, first.month, first.day, tzinfo=_zone(tz))
        q = q.where(MessageRow.created_at >= start, MessageRow.created_at < start + timedelta(1))
    if before:
        q = q.where(MessageRow.id < before)
    rows = list(session.scalars(q.order_by(MessageRow.id.desc()).limit(limit + 1)))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], nxt
