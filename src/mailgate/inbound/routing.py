"""Where a received message goes: verification, loop, bounce, complaint, conversation.

Exact first, heuristic second (STYLE.md): a signed reply/VERP token names its
conversation or message outright; then In-Reply-To/References against every
Message-ID mailgate sent or received; then a subject tag; else a new conversation.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailgate.core.message import Address
from mailgate.core.parse import ParsedMessage
from mailgate.crypto import SecretBox
from mailgate.inbound import tokens
from mailgate.store.eventlog import event
from mailgate.store.models import (
    Conversation,
    MessageRow,
    Recipient,
    SupportAddress,
    Suppression,
)

_TAG = re.compile(r"\[#([0-9a-z]{10})\]")
VERIFY_HEADER = "X-Mailgate-Verify"
_VERIFY_BODY = re.compile(r"mailgate-verify:([0-9A-Za-z_-]{20,})")
_TAG_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_tag() -> str:
    return "".join(secrets.choice(_TAG_ALPHABET) for _ in range(10))


def subject_tag(tag: str) -> str:
    return f"[#{tag}]"


def route(
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage, now: datetime
) -> list[dict[str, Any]]:
    """Apply ``parsed`` to the store; returns the events to emit."""
    c = parsed.classification
    _describe(row, parsed)
    address = _verification(session, row, parsed, now)
    if address is not None:
        row.kind = "verification"
        payload = {"address": address.address, "id": address.id, "message": row.id}
        return [event(row.workspace_id, "address.verified", payload, message_pk=row.id, now=now)]
    if c.loop_suspected:
        row.kind = "loop"
        row.last_error = c.loop_reason
        return []
    if parsed.kind == "complaint":
        return _complaint(session, box, row, parsed, now)
    if parsed.kind == "bounce" or (parsed.bounce and parsed.kind == "auto_reply"):
        events = _bounce(session, box, row, parsed, now)
        if parsed.kind == "bounce":
            return events
    return _thread(session, box, row, parsed, now)


def _describe(row: MessageRow, parsed: ParsedMessage) -> None:
    row.message_id = parsed.message_id
    row.in_reply_to = parsed.in_reply_to
    row.references = parsed.references
    row.subject = parsed.subject
    row.from_addr = parsed.from_[0].address if parsed.from_ else ""
    row.kind = parsed.kind
    row.summary = parsed.to_json()


def _verification(
    session: Session, row: MessageRow, parsed: ParsedMessage, now: datetime
) -> SupportAddress | None:
    token = parsed.header(VERIFY_HEADER)
    if not token:
        m = _VERIFY_BODY.search(parsed.text or "")
        token = m.group(1) if m else None
    if not token:
        return None
    address = session.scalar(
        select(SupportAddress).where(
            SupportAddress.workspace_id == row.workspace_id,
            SupportAddress.verify_token == token.strip(),
        )
    )
    if address is not None and address.verified_at is None:
        address.verified_at = now
    return address


def _outbound_for(
    session: Session, box: SecretBox, row: MessageRow, original_message_id: str | None
) -> MessageRow | None:
    for rcpt in row.rcpt_to or []:
        token = tokens.parse(box, str(rcpt))
        if token and token[0] == "verp":
            found = session.get(MessageRow, token[1])
            if found is not None and found.workspace_id == row.workspace_id:
                return found
    if original_message_id:
        return session.scalar(
            select(MessageRow).where(
                MessageRow.workspace_id == row.workspace_id,
                MessageRow.direction == "out",
                MessageRow.message_id == original_message_id.strip("<>"),
            )
        )
    return None


def _suppress(
    session: Session, workspace_id: str, address: str, reason: str, source: str, now: datetime
) -> None:
    values = {
        "workspace_id": workspace_id,
        "address": address.lower(),
        "reason": reason,
        "source_message_id": source,
        "created_at": now,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Suppression).values(**values).on_conflict_do_nothing())


def _bounce(
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage, now: datetime
) -> list[dict[str, Any]]:
    out = _outbound_for(session, box, row, parsed.classification.original_message_id)
    reported = (parsed.bounce or {}).get("recipients", [])
    failed = [r for r in reported if r.get("action") == "failed"]
    if out is not None:
        row.conversation_id = out.conversation_id
        by_address = {
            r.address.lower(): r
            for r in session.scalars(select(Recipient).where(Recipient.message_pk == out.id))
        }
        for r in failed:
            rec = by_address.get(str(r.get("address", "")).lower())
            if rec is not None:
                rec.status = "bounced"
                rec.text = r.get("diagnostic") or r.get("status") or "bounced"
                rec.updated_at = now
    for r in failed:
        status = str(r.get("status") or "")
        if status.startswith("5") and r.get("address"):
            _suppress(session, row.workspace_id, r["address"], "hard_bounce", row.id, now)
    if not failed:
        return []  # a delay warning: recorded on the message, nobody fails
    payload = {"message": out.id if out else None, "bounce": row.id, "recipients": failed}
    return [event(row.workspace_id, "message.bounced", payload, message_pk=row.id, now=now)]


def _complaint(
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage, now: datetime
) -> list[dict[str, Any]]:
    c = parsed.classification
    report = c.complaint or {}
    out = _outbound_for(session, box, row, c.original_message_id)
    complainants: list[str] = []
    if report.get("original_rcpt_to"):
        complainants.append(str(report["original_rcpt_to"]).strip("<>"))
    elif out is not None:
        complainants += [
            a
            for a in session.scalars(
                select(Recipient.address).where(Recipient.message_pk == out.id)
            )
        ]
    for address in complainants:
        _suppress(session, row.workspace_id, address, "complaint", row.id, now)
    payload = {
        "message": out.id if out else None,
        "complaint": row.id,
        "addresses": complainants,
        "feedback_type": report.get("feedback_type"),
    }
    return [event(row.workspace_id, "message.complained", payload, message_pk=row.id, now=now)]


def requester(parsed: ParsedMessage, own: set[str]) -> Address | None:
    """Who to answer: Reply-To (unless it points at us), else From.

    A server that auto-forwards (Zendesk's set-up) rewrites the envelope, not the
    headers, so the headers still name the customer.
    """
    for a in [*parsed.reply_to, *parsed.from_]:
        if a.address and a.address.lower() not in own:
            return a
    return None


def _thread(
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage, now: datetime
) -> list[dict[str, Any]]:
    ws = row.workspace_id
    addresses = [str(a) for a in row.rcpt_to or []] + [a.address for a in parsed.to + parsed.cc]
    conv: Conversation | None = None
    for a in addresses:
        token = tokens.parse(box, a)
        if token and token[0] == "reply":
            conv = session.scalar(
                select(Conversation).where(
                    Conversation.tag == token[1], Conversation.workspace_id == ws
                )
            )
            if conv:
                break
    if conv is None:
        refs = [r for r in [parsed.in_reply_to, *reversed(parsed.references)] if r]
        if refs:
            found = session.execute(
                select(MessageRow.message_id, MessageRow.conversation_id).where(
                    MessageRow.workspace_id == ws,
                    MessageRow.message_id.in_(refs),
                    MessageRow.conversation_id.is_not(None),
                    MessageRow.id != row.id,
                )
            ).all()
            by_mid = {mid: cid for mid, cid in found}
            for r in refs:  # the nearest ancestor first
                if r in by_mid:
                    conv = session.get(Conversation, by_mid[r])
                    break
    if conv is None:
        m = _TAG.search(parsed.subject or "")
        if m:
            conv = session.scalar(
                select(Conversation).where(
                    Conversation.tag == m.group(1), Conversation.workspace_id == ws
                )
            )
    events: list[dict[str, Any]] = []
    support = _support_address(session, ws, addresses)
    own = {a.lower() for a in addresses if tokens.parse(box, a)} | (
        {support.address.lower()} if support else set()
    )
    if conv is None:
        if parsed.kind == "auto_reply":
            return []  # an out-of-office never opens a conversation, and is never answered
        who = requester(parsed, own)
        conv = Conversation(
            id=_new_conversation_id(),
            workspace_id=ws,
            address_id=support.id if support else None,
            team_id=support.team_id if support else None,
            subject=parsed.subject,
            tag=new_tag(),
            status="open",
            participants=_participants(who, parsed, own),
            message_count=0,
            created_at=now,
            updated_at=now,
        )
        session.add(conv)
        session.flush()
        events.append(
            event(ws, "conversation.created", _conv_payload(conv), conversation_id=conv.id, now=now)
        )
    else:
        known = {p["address"].lower() for p in conv.participants}
        who = requester(parsed, own)
        extra = [p for p in _participants(who, parsed, own) if p["address"].lower() not in known]
        if extra:
            conv.participants = [*conv.participants, *extra]
        if parsed.kind == "normal" and conv.status == "closed":
            conv.status = "open"
    row.conversation_id = conv.id
    conv.message_count += 1
    conv.updated_at = now
    events.append(
        event(
            ws,
            "message.received",
            {
                "message": row.id,
                "conversation": conv.id,
                "kind": row.kind,
                "from": row.from_addr,
                "subject": row.subject,
                "reply_text": parsed.reply_text,
                "reference": _reference(conv),
            },
            message_pk=row.id,
            conversation_id=conv.id,
            now=now,
        )
    )
    return events


def _new_conversation_id() -> str:
    from mailgate.store.models import new_id

    return new_id("cv")


def _support_address(session: Session, ws: str, addresses: list[str]) -> SupportAddress | None:
    lowered = [a.lower() for a in addresses]
    if not lowered:
        return None
    found = session.scalars(
        select(SupportAddress).where(
            SupportAddress.workspace_id == ws, func.lower(SupportAddress.address).in_(lowered)
        )
    ).all()
    by = {a.address.lower(): a for a in found}
    return next((by[a] for a in lowered if a in by), None)


def _participants(
    who: Address | None, parsed: ParsedMessage, own: set[str]
) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for a in [*([who] if who else []), *parsed.cc]:
        key = a.address.lower()
        if key and key not in own and key not in seen:
            seen.add(key)
            out.append({"name": a.name, "address": a.address})
    return out


def _reference(conv: Conversation) -> dict[str, str] | None:
    if conv.reference_type and conv.reference_id:
        return {"type": conv.reference_type, "id": conv.reference_id}
    return None


def _conv_payload(conv: Conversation) -> dict[str, Any]:
    return {
        "conversation": conv.id,
        "subject": conv.subject,
        "participants": conv.participants,
        "reference": _reference(conv),
    }
