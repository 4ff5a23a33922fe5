"""Where a received message goes: verification, loop, bounce, complaint, conversation.

Exact first, heuristic second (STYLE.md): a signed reply/VERP token names its
conversation or message outright; then In-Reply-To/References against every
Message-ID mailgate sent or received; then a subject tag; else a new conversation.

Inbound mail is evidence, not authority (docs/conversations.md):

* a loop is only our own signed mark coming back to the workspace that wrote it;
* a bounce or complaint changes state only when it proves which message of this
  workspace it is about (VERP, signed mark, or Message-ID of the returned copy)
  and the address it names was a recipient of that message; anything else is
  stored with ``bounce.unmatched`` / ``complaint.unmatched`` and changes nothing;
* a sender who is not a participant joins a thread only with its signed reply
  address: quoting a Message-ID or a subject tag opens a new conversation linked
  to it (``related_id``), unless the workspace admits anyone;
* a correspondent sending automatic mail too fast trips a breaker (``breaker.py``);
* a message whose From fails DMARC (``row.auth``, ``authentication.py``) joins no
  thread by Message-ID or subject tag: anyone can write that From and quote those.
  It opens a new conversation linked to the one it named, with ``auth_warning``;
  only the signed reply address still threads it.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.core.classify import MAX_RECEIVED
from mailgate.core.message import Address
from mailgate.core.parse import ParsedMessage
from mailgate.crypto import SecretBox
from mailgate.inbound import (
    breaker,
    campaign_feedback,
    dmarc_reports,
    markers,
    suppression,
    tokens,
)
from mailgate.queue import warmup
from mailgate.store.eventlog import event
from mailgate.store.models import (
    Conversation,
    MessageRow,
    Recipient,
    SupportAddress,
    Workspace,
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
    session: Session,
    box: SecretBox,
    row: MessageRow,
    parsed: ParsedMessage,
    now: datetime,
    *,
    limits: breaker.Limits | None = None,
    soft_bounces: suppression.SoftBounceLimits | None = None,
) -> list[dict[str, Any]]:
    """Apply ``parsed`` to the store; returns the events to emit."""
    _describe(row, parsed)
    address = _verification(session, row, parsed, now)
    if address is not None:
        row.kind = "verification"
        payload = {"address": address.address, "id": address.id, "message": row.id}
        return [event(row.workspace_id, "address.verified", payload, message_pk=row.id, now=now)]
    loop = _loop(box, row, parsed)
    if loop is not None:
        row.kind = "loop"
        row.last_error = loop
        return []
    reports = dmarc_reports.file(session, box, row, parsed, now)
    if reports is not None:
        return reports
    unsubscribed = _unsubscribe(session, box, row, parsed, now)
    if unsubscribed is not None:
        return unsubscribed
    if parsed.kind == "complaint":
        return _complaint(session, box, row, parsed, now)
    events: list[dict[str, Any]] = []
    if parsed.kind == "bounce" or (parsed.bounce and parsed.kind == "auto_reply"):
        events = _bounce(session, box, row, parsed, now, soft_bounces)
        if parsed.kind == "bounce":
            return events
    return events + _thread(session, box, row, parsed, now, limits or breaker.Limits())


def _loop(box: SecretBox, row: MessageRow, parsed: ParsedMessage) -> str | None:
    """Why this is a loop, or None. An unsigned or another workspace's mark is not one."""
    if parsed.received_count > MAX_RECEIVED:
        return f"{parsed.received_count} Received fields (more than {MAX_RECEIVED}): runaway chain"
    marker = parsed.classification.marker
    if marker and markers.verify(box, row.workspace_id, marker):
        return f"{markers.HEADER} {marker}: this workspace's own message came back"
    return None


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
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage
) -> MessageRow | None:
    """The message of this workspace a report proves it is about, or None.

    Proof, exact first: our signed VERP address as the report's recipient, our signed
    mark in the returned copy, then the returned copy's Message-ID among the mail
    this workspace sent. Another workspace's message never matches.
    """
    c = parsed.classification
    ws = row.workspace_id
    for rcpt in [*(row.rcpt_to or []), *(a.address for a in parsed.to)]:
        token = tokens.parse(box, str(rcpt))
        if token and token[0] == "verp":
            found = session.get(MessageRow, token[1])
            if found is not None and found.workspace_id == ws and found.direction == "out":
                return found
    pk = markers.verify(box, ws, c.original_marker)
    if pk is not None:
        found = session.get(MessageRow, pk)
        if found is not None and found.workspace_id == ws and found.direction == "out":
            return found
    if c.original_message_id:
        return session.scalars(
            select(MessageRow)
            .where(
                MessageRow.workspace_id == ws,
                MessageRow.direction == "out",
                MessageRow.message_id == c.original_message_id.strip("<>"),
            )
            .limit(1)
        ).first()
    return None


_NO_MATCH = (
    "no message of this workspace matched: no VERP address, signed X-Mailgate-Id "
    "or Message-ID of ours in the report"
)


def _suppress(
    session: Session, workspace_id: str, address: str, reason: str, source: str, now: datetime
) -> None:
    suppression.suppress(
        session, workspace_id, address, reason=reason, scope="all", now=now, source=source
    )


def _unsubscribe(
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage, now: datetime
) -> list[dict[str, Any]] | None:
    """A mail to a List-Unsubscribe ``mailto:`` of ours: suppress that message's recipient
    from bulk mail, as the HTTPS one-click does. None when it is not addressed to one.

    The signed token is the authority (RFC 8058's links carry no other proof either);
    it names a message of this workspace, which had exactly one recipient.
    """
    for rcpt in [*(row.rcpt_to or []), *(a.address for a in parsed.to)]:
        token = tokens.parse(box, str(rcpt))
        if not token or token[0] != "unsubscribe":
            continue
        out = session.get(MessageRow, token[1])
        if out is None or out.workspace_id != row.workspace_id or out.direction != "out":
            continue
        q = select(Recipient.address).where(Recipient.message_pk == out.id)
        addresses = list(session.scalars(q))
        if len(addresses) != 1:
            continue
        address = addresses[0].lower()
        row.kind = "unsubscribe"
        changed = suppression.suppress(
            session,
            row.workspace_id,
            address,
            reason="unsubscribe",
            scope="bulk",
            now=now,
            source=out.id,
        )
        if not changed:
            return []  # unsubscribed already: handled, nothing new to tell
        payload = {"address": address, "scope": "bulk", "message": out.id, "via": "mailto"}
        kind = "suppression.unsubscribed"
        return [event(row.workspace_id, kind, payload, message_pk=row.id, now=now)]
    return None


def _bounce(
    session: Session,
    box: SecretBox,
    row: MessageRow,
    parsed: ParsedMessage,
    now: datetime,
    soft_bounces: suppression.SoftBounceLimits | None = None,
) -> list[dict[str, Any]]:
    out = _outbound_for(session, box, row, parsed)
    reported = (parsed.bounce or {}).get("recipients", [])
    failed = [r for r in reported if r.get("action") == "failed"]
    ws = row.workspace_id
    if out is None:
        campaign = campaign_feedback.bounce(session, box, row, parsed, failed, now)
        if campaign is not None:  # campaign mail has no messages row (docs/campaigns.md)
            return campaign
        if parsed.kind != "bounce" or (reported and not failed):
            return []  # an unmatched delay or success notice: nothing to tell
        return [_unmatched(row, "bounce.unmatched", _NO_MATCH, None, failed, now)]
    row.conversation_id = out.conversation_id
    by_address = {
        r.address.lower(): r
        for r in session.scalars(select(Recipient).where(Recipient.message_pk == out.id))
    }
    proven: list[dict[str, Any]] = []
    strangers: list[dict[str, Any]] = []
    for r in failed:
        rec = by_address.get(str(r.get("address", "")).lower())
        if rec is None:
            strangers.append(r)  # the report names someone this message never went to
            continue
        proven.append(r)
        rec.status = "bounced"
        rec.text = r.get("diagnostic") or r.get("status") or "bounced"
        rec.updated_at = now
        if str(r.get("status") or "").startswith("5"):
            _suppress(session, ws, rec.address, "hard_bounce", row.id, now)
    for r in reported:  # 4.x.x, failed or delayed: counted towards a pause (docs/unsubscribe.md)
        rec = by_address.get(str(r.get("address", "")).lower())
        if rec is not None and str(r.get("status") or "").startswith("4"):
            limits = soft_bounces or suppression.SoftBounceLimits()
            suppression.soft_bounce(session, ws, rec.address, out.id, now, limits)
    hard = sum(1 for r in proven if str(r.get("status") or "").startswith("5"))
    warmup.record_feedback(session, out, "bounced", hard, now)
    events = []
    if proven:
        payload = {"message": out.id, "bounce": row.id, "recipients": proven}
        events.append(event(ws, "message.bounced", payload, message_pk=row.id, now=now))
    if strangers:
        reason = f"not a recipient of {out.id}"
        events.append(_unmatched(row, "bounce.unmatched", reason, out, strangers, now))
    return events  # empty for a delay warning: recorded on the message, nobody fails


def _unmatched(
    row: MessageRow,
    kind: str,
    reason: str,
    out: MessageRow | None,
    recipients: list[Any],
    now: datetime,
) -> dict[str, Any]:
    """The event for a report we cannot tie to our mail: kept, and it changes nothing."""
    key = "recipients" if kind == "bounce.unmatched" else "addresses"
    payload = {
        "message": out.id if out else None,
        kind.split(".")[0]: row.id,
        "reason": reason,
        key: recipients,
    }
    return event(row.workspace_id, kind, payload, message_pk=row.id, now=now)


def _complaint(
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage, now: datetime
) -> list[dict[str, Any]]:
    c = parsed.classification
    report = c.complaint or {}
    named = [str(a).strip("<>") for a in report.get("original_rcpt_to_all") or [] if a]
    if not named and report.get("original_rcpt_to"):
        named = [str(report["original_rcpt_to"]).strip("<>")]
    out = _outbound_for(session, box, row, parsed)
    if out is None:
        campaign = campaign_feedback.complaint(session, box, row, parsed, now)
        if campaign is not None:
            return campaign
        return [_unmatched(row, "complaint.unmatched", _NO_MATCH, None, named, now)]
    recipients = {
        a.lower(): a
        for a in session.scalars(select(Recipient.address).where(Recipient.message_pk == out.id))
    }
    if named:
        complainants = [recipients[a.lower()] for a in named if a.lower() in recipients]
        strangers = [a for a in named if a.lower() not in recipients]
        reason = f"not a recipient of {out.id}"
    else:
        # A redacted report: only a message with one recipient says who complained.
        complainants = list(recipients.values()) if len(recipients) == 1 else []
        strangers = []
        reason = f"the report names no recipient and {out.id} had several"
    events = []
    warmup.record_feedback(session, out, "complained", len(complainants), now)
    for address in complainants:
        _suppress(session, row.workspace_id, address, "complaint", row.id, now)
    if complainants:
        payload = {
            "message": out.id,
            "complaint": row.id,
            "addresses": complainants,
            "feedback_type": report.get("feedback_type"),
        }
        events.append(
            event(row.workspace_id, "message.complained", payload, message_pk=row.id, now=now)
        )
    if strangers or not complainants:
        events.append(_unmatched(row, "complaint.unmatched", reason, out, strangers, now))
    return events


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
    session: Session,
    box: SecretBox,
    row: MessageRow,
    parsed: ParsedMessage,
    now: datetime,
    limits: breaker.Limits,
) -> list[dict[str, Any]]:
    ws = row.workspace_id
    addresses = [str(a) for a in row.rcpt_to or []] + [a.address for a in parsed.to + parsed.cc]
    conv: Conversation | None = None
    signed = False  # found through our signed reply address: whoever holds it may post
    for a in addresses:
        token = tokens.parse(box, a)
        if token and token[0] == "reply":
            conv = session.scalar(
                select(Conversation).where(
                    Conversation.tag == token[1], Conversation.workspace_id == ws
                )
            )
            if conv:
                signed = True
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
    sender = _sender(row, parsed)
    related: Conversation | None = None
    guest = False  # in the thread by the workspace's leave, not as a participant
    forged = _dmarc_failure(row)
    if conv is not None and not signed and forged:
        related, conv = conv, None  # a From anyone could have written proves nothing
    if conv is not None and not signed and not _participant(conv, sender):
        workspace = session.get(Workspace, ws)
        if workspace is not None and workspace.thread_admission == "anyone":
            guest = True
        else:
            related, conv = conv, None  # quoting a Message-ID or tag is no invitation
    if parsed.kind == "auto_reply" or conv is None:
        held, tripped = breaker.tick(session, ws, sender, now, limits, message_pk=row.id)
        events += tripped
        if held:
            row.last_error = f"{sender} sends automatic mail too fast (RFC 3834 §2): not routed"
            return events
    if conv is None:
        if parsed.kind == "auto_reply":
            return events  # an out-of-office never opens a conversation, and is never answered
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
            related_id=related.id if related else None,
            auth_warning=forged,
            message_count=0,
            created_at=now,
            updated_at=now,
        )
        session.add(conv)
        session.flush()
        events.append(
            event(ws, "conversation.created", _conv_payload(conv), conversation_id=conv.id, now=now)
        )
    elif not guest:
        # A participant (or the holder of the signed reply address) may bring people in.
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
                "auth": row.auth,
            },
            message_pk=row.id,
            conversation_id=conv.id,
            now=now,
        )
    )
    return events


def _dmarc_failure(row: MessageRow) -> str | None:
    """What the conversation shows when the From failed DMARC; None when it did not."""
    found = (row.auth or {}).get("dmarc") or {}
    if found.get("result") != "fail":
        return None
    policy = f" (p={found['policy']})" if found.get("policy") else ""
    return (
        f"the From domain {found.get('domain')} failed DMARC{policy}: it may be forged, so "
        "this message did not join a conversation by Message-ID or subject tag"
    )


def _sender(row: MessageRow, parsed: ParsedMessage) -> str:
    """Who wrote it, for admission and the breaker: the From address, else the envelope."""
    for a in parsed.from_:
        if a.address:
            return a.address.lower()
    return (row.mail_from or "").lower()


def _participant(conv: Conversation, sender: str) -> bool:
    return bool(sender) and any(
        str(p.get("address", "")).lower() == sender for p in conv.participants
    )


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
        "related": conv.related_id,
        "auth_warning": conv.auth_warning,
    }
