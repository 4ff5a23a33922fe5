"""The one way in: every source ends here, and nothing is acknowledged before commit.

``store_many`` writes raw bytes and inbound rows (and, for pollers and webhooks,
what was taken: a UID, a UIDL, a token) in the caller's transaction. Only after
that transaction commits may a source answer ``250``, set ``\\Deleted``, send
``DELE`` or return HTTP 200. Parsing and routing happen afterwards, from the
stored bytes, in the worker (:mod:`mailgate.inbound.processor`): a parser fix can
always re-process what was received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.inbound import observe
from mailgate.store.context import Context
from mailgate.store.db import insert_rows, transaction
from mailgate.store.models import MessageRow, SourceItem, new_id, utcnow


@dataclass(slots=True)
class Incoming:
    """One message as a source took it."""

    workspace_id: str
    raw: bytes
    source: str  # smtp | lmtp | imap | pop3 | mailgun | api
    mail_from: str = ""
    rcpt_to: Sequence[str] = field(default_factory=list)
    item: tuple[str, str] | None = None  # (source id, item key): taken once only
    peer_ip: str | None = None  # the SMTP client's address (SPF), when there is one
    helo: str | None = None


@dataclass(slots=True)
class Received:
    id: str
    duplicate: bool = False


def store_many(session: Session, app: Context, items: Sequence[Incoming]) -> list[Received]:
    """Store raw bytes and rows in the caller's transaction; known items are not stored again."""
    answers: list[Received | None] = [None] * len(items)
    keyed = {it.item: i for i, it in enumerate(items) if it.item is not None}
    if keyed:
        for sid, key, mpk in session.execute(
            select(SourceItem.source_id, SourceItem.item_key, SourceItem.message_pk).where(
                SourceItem.source_id.in_({s for s, _ in keyed}),
                SourceItem.item_key.in_({k for _, k in keyed}),
            )
        ):
            if (sid, key) in keyed:
                answers[keyed[(sid, key)]] = Received(mpk or "", duplicate=True)
    todo = [i for i, a in enumerate(answers) if a is None]
    keys = app.blobs.put_many(session, [items[i].raw for i in todo])
    now = utcnow()
    rows, taken = [], []
    for i, key in zip(todo, keys, strict=True):
        it = items[i]
        mid = new_id("msg")
        rows.append(
            {
                "id": mid,
                "workspace_id": it.workspace_id,
                "direction": "in",
                "status": "received",
                "kind": "normal",
                "blob_key": key,
                "size": len(it.raw),
                "source": it.source,
                "mail_from": it.mail_from,
                "rcpt_to": list(it.rcpt_to),
                "peer_ip": it.peer_ip,
                "helo": (it.helo or None) and it.helo[:255],
                "references": [],
                "summary": {},
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
        if it.item is not None:
            taken.append({"source_id": it.item[0], "item_key": it.item[1], "message_pk": mid})
        answers[i] = Received(mid)
    insert_rows(session, MessageRow, rows)
    insert_rows(session, SourceItem, [{**t, "taken_at": now} for t in taken])
    stored = [a for a in answers if a is not None]
    observe.received(session, items, stored)  # counted and logged once committed
    return stored


def receive(app: Context, items: Sequence[Incoming]) -> list[Received]:
    """Store in one transaction, commit, then wake the workers to process."""
    with transaction(app.sessions) as session:
        answers = store_many(session, app, items)
    app.wake_workers()
    return answers
