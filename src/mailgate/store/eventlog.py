"""The event log: one model for every source, and the webhook deliveries it fans out to.

Events are written in the same transaction as the change they describe, and so
are the delivery rows for every matching subscription: an event is never lost
between "it happened" and "the business app will be told".

Vocabulary: ``message.sent``, ``message.deferred``, ``message.failed``,
``message.bounced``, ``message.complained``, ``message.received``,
``conversation.created``, ``conversation.assigned``, ``address.verified``, ``bounce.unmatched``,
``complaint.unmatched``, ``correspondent.throttled``, ``domain.verified``,
``domain.degraded``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.store.db import insert_rows
from mailgate.store.models import Event, WebhookDelivery, WebhookSubscription, new_id, utcnow

EVENT_TYPES = (
    "message.sent",
    "message.deferred",
    "message.failed",
    "message.bounced",
    "message.complained",
    # Provider event webhooks (events/providers.py): what Mailgun or SendCloud saw later.
    "message.delivered",
    "message.soft_bounced",
    "message.opened",
    "message.clicked",
    "provider_event.unmatched",
    "message.received",
    "conversation.created",
    # A conversation was given to a console user, or unassigned (docs/conversations.md).
    "conversation.assigned",
    "address.verified",
    # Inbound we could not tie to our own mail, and the RFC 3834 breaker: kept, changing nothing.
    "bounce.unmatched",
    "complaint.unmatched",
    "correspondent.throttled",
    # A daily quota ran out: the rest of the day's mail is held (queue/limits.py).
    "quota.exhausted",
    # A sending domain's records: all required ones found (again), or one lost (docs/domains.md).
    "domain.verified",
    "domain.degraded",
    # A receiver's DMARC aggregate report about a sending domain (inbound/dmarc_reports.py).
    "domain.dmarc_report",
    # Warm-up (core/warmup.py): the day's quota grew, or held because bounces/complaints rose.
    "warmup.advanced",
    "warmup.held",
    # An unsubscribe (List-Unsubscribe one-click or mailto:): the address leaves bulk mail.
    "suppression.unsubscribed",
    # A campaign's counts (every few seconds at most while it sends), and its end.
    "campaign.progress",
    "campaign.done",
    # An OAuth2 connection's health changed: ok | refreshing | reauth_required (docs/oauth.md).
    "oauth.state_changed",
)


def event(
    workspace_id: str,
    type: str,
    payload: dict[str, Any],
    *,
    message_pk: str | None = None,
    conversation_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An event row ready for :func:`emit_many`."""
    return {
        "id": new_id("ev"),
        "workspace_id": workspace_id,
        "type": type,
        "message_pk": message_pk,
        "conversation_id": conversation_id,
        "payload": payload,
        "created_at": now or utcnow(),
    }


def emit_many(session: Session, events: list[dict[str, Any]]) -> None:
    """Insert events and one pending webhook delivery per matching subscription."""
    if not events:
        return
    insert_rows(session, Event, events)
    workspaces = {e["workspace_id"] for e in events}
    subs: dict[str, list[tuple[str, list[Any]]]] = defaultdict(list)
    for sid, ws, types in session.execute(
        select(WebhookSubscription.id, WebhookSubscription.workspace_id, WebhookSubscription.events)
        .where(WebhookSubscription.workspace_id.in_(workspaces))
        .where(WebhookSubscription.enabled.is_(True))
    ):
        subs[ws].append((sid, types))
    deliveries = [
        {
            "id": new_id("whd"),
            "subscription_id": sid,
            "event_id": e["id"],
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": e["created_at"],
            "created_at": e["created_at"],
            "updated_at": e["created_at"],
        }
        for e in events
        for sid, types in subs.get(e["workspace_id"], [])
        if "*" in types or e["type"] in types
    ]
    if deliveries:
        insert_rows(session, WebhookDelivery, deliveries)


def emit(session: Session, workspace_id: str, type: str, payload: dict[str, Any], **kw: Any) -> str:
    """Record one event (see :func:`event` for the keyword arguments); returns its id."""
    row = event(workspace_id, type, payload, **kw)
    emit_many(session, [row])
    return str(row["id"])
