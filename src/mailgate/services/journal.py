"""Reading what was sent: one message with its attempts, the journals, retry, raw bytes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.errors import Conflict, InvalidInput, NotFound
from mailgate.store.context import Context
from mailgate.store.models import Attempt, MessageRow, Recipient, utcnow


def get(session: Session, workspace_id: str, message_pk: str) -> MessageRow:
    row = session.get(MessageRow, message_pk)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no message {message_pk}", field="id")
    return row


def public(session: Session, row: MessageRow, *, detail: bool = True) -> dict[str, Any]:
    """The API view of a message; with ``detail``, recipients and their attempts."""
    out: dict[str, Any] = {
        "id": row.id,
        "direction": row.direction,
        "status": row.status,
        "kind": row.kind,
        "category": row.category,
        "message_id": row.message_id,
        "transport": row.transport_id,
        "conversation": row.conversation_id,
        "from": row.from_addr,
        "subject": row.subject,
        "size": row.size,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at)
        if row.status in ("queued", "deferred", "held")
        else None,
        "last_error": row.last_error,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }
    if not detail:
        return out
    recipients = session.scalars(
        select(Recipient).where(Recipient.message_pk == row.id).order_by(Recipient.id)
    ).all()
    attempts: dict[int, list[dict[str, Any]]] = {r.id: [] for r in recipients}
    for a in session.scalars(
        select(Attempt).where(Attempt.recipient_id.in_(attempts)).order_by(Attempt.id)
    ):
        attempts[a.recipient_id].append(
            {
                "at": _iso(a.at),
                "code": a.code,
                "enhanced_status": a.enhanced_status,
                "text": a.text,
                "transient": a.transient,
                "throttled": a.throttled,
                # An HTTP provider's id and answer (outbound/http.py).
                "provider_message_id": a.provider_message_id,
                "provider_response": a.provider_response,
            }
        )
    out["headers"] = row.headers
    if row.direction == "out":
        # Why this transport and these senders (services/transports.resolve).
        out["routing"] = (row.summary or {}).get("routing", [])
    out["recipients"] = [
        {
            "address": r.address,
            "field": r.field,
            "status": r.status,
            "code": r.code,
            "enhanced_status": r.enhanced_status,
            "text": r.text,
            # What the provider's events said later (events/providers.py).
            "provider_message_id": r.provider_message_id,
            "provider_status": r.provider_status,
            "provider_event_at": _iso(r.provider_event_at),
            "attempts": attempts[r.id],
        }
        for r in recipients
    ]
    return out


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


JOURNALS = {
    "sent": ("sent",),
    "pending": ("queued", "sending", "deferred", "held"),
    "queued": ("queued",),
    # A quota ran out: held until it resets, then sent (queue/limits.py).
    "held": ("held",),
    "sending": ("sending",),
    "deferred": ("deferred",),
    "failed": ("failed",),
}


def journal(
    session: Session,
    workspace_id: str,
    *,
    status: str | None,
    direction: str | None = "out",
    transport_id: str | None = None,
    limit: int = 50,
    before: str | None = None,
) -> tuple[list[MessageRow], str | None]:
    """A page of messages, newest first; ``before`` is the cursor (the last id seen).

    A journal of several statuses (``pending``) is read one status at a time, each an
    ordered walk of ``ix_messages_ws_status`` stopping at the page size, then merged:
    one query with ``status IN (…)`` made SQLite sort the whole queue for every page.
    """
    if status and status not in JOURNALS:
        raise InvalidInput(f"status must be one of {', '.join(JOURNALS)}", field="status")
    q = select(MessageRow).where(MessageRow.workspace_id == workspace_id)
    if direction:
        q = q.where(MessageRow.direction == direction)
    if transport_id:
        q = q.where(MessageRow.transport_id == transport_id)
    if before:
        q = q.where(MessageRow.id < before)
    q = q.order_by(MessageRow.id.desc()).limit(limit + 1)
    if status:
        rows = [
            row
            for one in JOURNALS[status]
            for row in session.scalars(q.where(MessageRow.status == one))
        ]
        rows = sorted(rows, key=lambda r: r.id, reverse=True)[: limit + 1]
    else:
        rows = list(session.scalars(q))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], nxt


def retry(session: Session, workspace_id: str, message_pk: str) -> MessageRow:
    """Queue a failed message again: its failed recipients get a fresh lifetime."""
    row = get(session, workspace_id, message_pk)
    if row.direction != "out" or row.status != "failed":
        raise Conflict(f"only failed outbound messages can be retried; this one is {row.status}")
    failed = session.scalars(
        select(Recipient).where(Recipient.message_pk == row.id, Recipient.status == "failed")
    ).all()
    for r in failed:
        r.status = "pending"
    now = utcnow()
    row.status = "queued"
    row.next_attempt_at = now
    row.updated_at = now
    lifetime = row.expires_at - row.created_at if row.expires_at else timedelta(days=5)
    row.expires_at = now + lifetime
    return row


def raw(session: Session, app: Context, row: MessageRow) -> bytes:
    return app.blobs.get(session, row.blob_key)
