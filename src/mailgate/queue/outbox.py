"""The outbound queue: rows of ``messages`` claimed with a lease, results recorded.

A claim moves due rows to ``sending`` under a lease (:mod:`mailgate.queue.lease`:
owner, until), which a heartbeat renews while the batch is delivered. A worker
that dies leaves its lease to run out; the rows are then due again, so a crash
can repeat a delivery but never lose one. :func:`record` writes only the messages
still leased to the owner that delivered them: a stale owner's result is dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.outbound.base import RecipientResult
from mailgate.queue import lease
from mailgate.queue.backoff import next_attempt
from mailgate.store.db import insert_rows, update_rows
from mailgate.store.eventlog import emit_many, event
from mailgate.store.models import Attempt, MessageRow, Recipient, utcnow

#: Message statuses a worker may pick up (``sending`` only once its lease ran out,
#: ``held`` once the quota that held it reset).
DUE = ("queued", "deferred", "sending", "held")
FINAL_RECIPIENT = ("sent", "failed", "suppressed", "bounced")


@dataclass(slots=True)
class Claimed:
    """A message a worker holds the lease on, with what delivery needs."""

    id: str
    workspace_id: str
    transport_id: str | None
    mail_from: str
    blob_key: str
    attempts: int
    expires_at: datetime | None
    owner: str  # the lease owner: only its result is recorded
    #: transactional | bulk: an HTTP provider may send each through its own account.
    category: str = "transactional"
    conversation_id: str | None = None  # for the delivery log line (queue/observe.py)
    recipients: dict[str, int] = field(default_factory=dict)  # address → recipient row id
    raw: bytes = b""
    #: (key, size): deliveries at once for its sending domain's max_connections (queue/limits.py).
    slot: tuple[str, int] | None = None


@dataclass(slots=True)
class Outcome:
    """What one delivery attempt produced, per recipient."""

    message: Claimed
    results: list[RecipientResult]


def claim(
    session: Session, owner: str, *, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[Claimed]:
    """Take up to ``limit`` due outbound messages under a lease."""
    now = now or utcnow()
    rows = lease.claim(
        session,
        MessageRow,
        owner,
        _walks(now),
        limit=limit,
        lease_seconds=lease_seconds,
        values={"status": "sending", "updated_at": now},
        returning=_CLAIMED,
        now=now,
    )
    return _with_recipients(session, rows)


def due_ids(session: Session, now: datetime, limit: int) -> list[str]:
    """Ids of due messages: retries first, then new mail, then expired leases.

    One query per status, each an ordered walk of ``ix_messages_due`` that stops at
    ``limit``; a single OR over the statuses made SQLite sort every due row on
    every claim (20,000 rows queued: most of a claim's time).
    """
    return lease.due_ids(session, MessageRow, _walks(now), limit)


def _walks(now: datetime) -> list[lease.Walk]:
    out = MessageRow.direction == "out"
    return [
        lease.Walk(
            (MessageRow.status == status, ready, out),
            MessageRow.next_attempt_at,
        )
        for status, ready in (
            ("deferred", MessageRow.next_attempt_at <= now),
            ("queued", MessageRow.next_attempt_at <= now),
            ("held", MessageRow.next_attempt_at <= now),  # a quota reset (queue/limits.py)
            ("sending", MessageRow.lease_until < now),  # its worker died holding the lease
        )
    ]


def held(session: Session, ids: list[str], owner: str) -> list[Claimed]:
    """Messages ``owner`` already holds the lease on (immediate mode stores them leased)."""
    rows = session.execute(
        select(*_CLAIMED).where(MessageRow.id.in_(ids), MessageRow.lease_owner == owner)
    ).all()
    return _with_recipients(session, rows)


_CLAIMED = (
    MessageRow.id,
    MessageRow.workspace_id,
    MessageRow.transport_id,
    MessageRow.mail_from,
    MessageRow.blob_key,
    MessageRow.attempts,
    MessageRow.expires_at,
    MessageRow.lease_owner,
    MessageRow.category,
    MessageRow.conversation_id,
)


def _with_recipients(session: Session, rows: Sequence[Any]) -> list[Claimed]:
    """Claimed messages with the recipients still to deliver (not yet final)."""
    claimed = {r.id: Claimed(*r) for r in rows}
    if not claimed:
        return []
    pending = session.execute(
        select(Recipient.message_pk, Recipient.address, Recipient.id).where(
            Recipient.message_pk.in_(claimed), Recipient.status.not_in(FINAL_RECIPIENT)
        )
    )
    for message_pk, address, rid in pending:
        claimed[message_pk].recipients[address] = rid
    return list(claimed.values())


def record(
    session: Session,
    outcomes: list[Outcome],
    *,
    retry_base: float,
    retry_cap: float,
    now: datetime | None = None,
    not_before: dict[str, datetime] | None = None,
) -> dict[str, str]:
    """Write every attempt, move recipients and messages on; returns id → new status.

    ``not_before``: message id → the earliest retry (a throttling receiver, queue/throttling.py).

    Only messages still leased to the owner that delivered them are written: if a
    lease ran out and another worker took the message over, its result counts and
    this one is logged and dropped (the message is left out of the answer).
    """
    now = now or utcnow()
    mine = lease.held(
        session, MessageRow, {o.message.id: o.message.owner for o in outcomes}, what="message"
    )
    outcomes = [o for o in outcomes if o.message.id in mine]
    attempts: list[dict[str, object]] = []
    recipient_updates: list[dict[str, object]] = []
    provider_ids: list[dict[str, object]] = []
    statuses: dict[str, str] = {}
    for outcome in outcomes:
        msg = outcome.message
        count = msg.attempts + 1
        expired = msg.expires_at is not None and msg.expires_at <= now
        deferred_any = accepted_any = False
        for res in outcome.results:
            rid = msg.recipients.get(res.address)
            if rid is None:
                continue
            if res.accepted:
                status, accepted_any = "sent", True
            elif res.permanent or expired:
                status = "failed"
            else:
                status, deferred_any = "deferred", True
            text = res.text
            if status == "failed" and not res.permanent:
                text = f"expired after {count} attempts; last: {res.text}"
            attempts.append(
                {
                    "recipient_id": rid,
                    "at": now,
                    "code": res.code,
                    "enhanced_status": res.enhanced_status,
                    "text": res.text,
                    "transient": not res.accepted and not res.permanent,
                    "throttled": res.throttled,
                    # HTTP providers (outbound/http.py): their id and answer, kept.
                    "provider_message_id": res.provider_message_id,
                    "provider_response": res.response,
                }
            )
            recipient_updates.append(
                {
                    "id": rid,
                    "status": status,
                    "code": res.code,
                    "enhanced_status": res.enhanced_status,
                    "text": text,
                    "updated_at": now,
                }
            )
            if res.provider_message_id:  # provider events find the recipient by it
                provider_ids.append({"id": rid, "provider_message_id": res.provider_message_id})
        # Anyone accepted now: sent, whatever the others did; else _final_statuses decides.
        statuses[msg.id] = "deferred" if deferred_any else "sent" if accepted_any else ""
        msg.attempts = count
    if attempts:
        insert_rows(session, Attempt, attempts)
        update_rows(session, Recipient, recipient_updates)
        update_rows(session, Recipient, provider_ids)
    final = _final_statuses(session, [m for m, s in statuses.items() if not s])
    events: list[dict[str, object]] = []
    message_updates: list[dict[str, object]] = []
    for outcome in outcomes:
        msg = outcome.message
        status = statuses[msg.id] or final.get(msg.id, "sent")
        statuses[msg.id] = status
        last_error = next((r.text for r in outcome.results if not r.accepted), None)
        nxt = (
            next_attempt(now, msg.attempts, base=retry_base, cap=retry_cap)
            if status == "deferred"
            else None
        )
        if nxt is not None and not_before and msg.id in not_before:
            nxt = max(nxt, not_before[msg.id])
        if nxt is not None and msg.expires_at is not None and nxt > msg.expires_at:
            nxt = msg.expires_at  # one last try at the end of the lifetime
        message_updates.append(
            {
                "id": msg.id,
                "status": status,
                "attempts": msg.attempts,
                "next_attempt_at": nxt,
                "lease_owner": None,
                "lease_until": None,
                "last_error": last_error,
                "updated_at": now,
            }
        )
        events.append(
            event(
                msg.workspace_id,
                f"message.{status}",
                {
                    "message": msg.id,
                    "status": status,
                    "recipients": [
                        {
                            "address": r.address,
                            "accepted": r.accepted,
                            "code": r.code,
                            "enhanced_status": r.enhanced_status,
                            "text": r.text,
                            "permanent": r.permanent,
                        }
                        for r in outcome.results
                    ],
                },
                message_pk=msg.id,
                now=now,
            )
        )
    if message_updates:
        update_rows(session, MessageRow, message_updates)
        emit_many(session, events)
    return statuses


def _final_statuses(session: Session, ids: list[str]) -> dict[str, str]:
    """A message none of whose recipients is still due: sent if anyone got it, else failed."""
    if not ids:
        return {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for mid, status in session.execute(
        select(Recipient.message_pk, Recipient.status).where(Recipient.message_pk.in_(ids))
    ):
        counts[mid][status] += 1
    return {mid: ("sent" if c.get("sent") else "failed") for mid, c in counts.items()}
