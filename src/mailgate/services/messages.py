"""Sending: validate → compose → sender policy → choose transport → store → deliver.

The API, the console, the CLI and campaigns all send through :func:`accept`;
nothing is acknowledged before the outbox row and the raw bytes are committed.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.policy
import re
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import Parser
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailgate.core.addresses import parse_address, parse_address_list
from mailgate.core.compose import compose
from mailgate.core.headers import caller_headers, check_header
from mailgate.core.message import Attachment, Draft
from mailgate.core.sender_policy import apply_sender_policy
from mailgate.errors import InvalidInput, MailgateError, MessageTooLarge
from mailgate.inbound import markers, suppression, tokens
from mailgate.queue.delivery import IMMEDIATE_OWNER, DeliveryContext, deliver_held
from mailgate.services import transports as transport_service
from mailgate.store.context import Context
from mailgate.store.db import insert_rows, transaction
from mailgate.store.executors import run_in
from mailgate.store.models import (
    MessageRow,
    Recipient,
    SupportAddress,
    TransportRow,
    Workspace,
    new_id,
    utcnow,
)

OWN_HEADER = markers.HEADER
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


@dataclass(slots=True)
class SendRequest:
    """The ``POST /v1/messages`` body (see docs/api.md), plus the Idempotency-Key."""

    to: list[str]
    subject: str = ""
    from_: str | None = None
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    text: str | None = None
    html: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    transport: str | None = None
    mode: str | None = None
    team: str | None = None
    auto: bool = False
    idempotency_key: str | None = None
    category: str = "transactional"  # or "bulk": List-Unsubscribe, bulk suppressions apply
    unsubscribe: bool = False  # List-Unsubscribe on a transactional message too
    # Set by conversations (threading) — not part of the public send body.
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    conversation_id: str | None = None


@dataclass(slots=True)
class Prepared:
    """A composed message ready to store: the row, its recipients and bytes."""

    row: dict[str, Any]
    recipients: list[tuple[str, str]]  # (address, field)
    raw: bytes
    mode: str
    existing: str | None = None  # id of an earlier message with the same idempotency key


def _attachments(items: list[dict[str, Any]]) -> list[Attachment]:
    out = []
    for i, item in enumerate(items):
        where = f"attachments[{i}]"
        filename = str(item.get("filename") or "")
        ctype = str(item.get("content_type") or "application/octet-stream").lower()
        if not _CONTENT_TYPE.match(ctype):
            raise InvalidInput(f"{ctype!r} is not a MIME type", field=f"{where}.content_type")
        check_header("Content-Type", filename, field=f"{where}.filename")
        try:
            data = base64.b64decode(item.get("content_base64") or "", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("not valid base64", field=f"{where}.content_base64") from None
        cid = item.get("content_id")
        if cid:
            check_header("Content-ID", str(cid), field=f"{where}.content_id")
        out.append(
            Attachment(
                filename=filename,
                content_type=ctype,
                data=data,
                content_id=str(cid).strip("<>") if cid else None,
                inline=bool(item.get("inline", bool(cid))),
            )
        )
    return out


def explain(
    session: Session,
    app: Context,
    workspace: Workspace,
    *,
    from_: str | None,
    team: str | None = None,
    transport: str | None = None,
    reply_to: list[str] | None = None,
) -> dict[str, Any]:
    """What sending from ``from_`` would do, without sending: the transport, the sender
    policy, the final From/Sender/Reply-To and envelope sender, and every rule that
    decided them. It composes a message exactly as ``POST /v1/messages`` does (and
    stores nothing), so the answer cannot drift from what is stored on each message."""
    req = SendRequest(
        to=["recipient@example.com"],  # never sent: prepare() only composes
        from_=from_,
        team=team,
        transport=transport,
        reply_to=list(reply_to or []),
        text="",
    )
    prepared = prepare(session, app, workspace, req)
    head = Parser(policy=email.policy.default).parsestr(prepared.row["headers"], headersonly=True)
    row = prepared.row
    chosen = session.get(TransportRow, row["transport_id"])
    return {
        "transport": {"id": row["transport_id"], "name": chosen.name if chosen else None},
        "sender_policy": chosen.sender_policy if chosen else None,
        "from": _header(head, "From"),
        "sender": _header(head, "Sender"),
        "reply_to": _header(head, "Reply-To"),
        "envelope_from": row["mail_from"],
        "rules": row["summary"]["routing"],
    }


def _header(head: email.message.Message, name: str) -> str | None:
    value = head.get(name)
    return None if value is None else str(value)


def _resolve(
    session: Session,
    workspace_id: str,
    req: SendRequest,
    chosen: dict[tuple[str | None, str | None, str], transport_service.Choice] | None,
) -> transport_service.Choice:
    """The transport choice for ``req``, cached per batch by (transport, team, From domain)."""
    from_addr = parse_address(req.from_, field="from").address if req.from_ else None
    key = (req.transport, req.team, (from_addr or "").rpartition("@")[2].lower())
    found = (chosen or {}).get(key)
    if found is None:
        found = transport_service.resolve(
            session, workspace_id, transport_id=req.transport, team_id=req.team, from_addr=from_addr
        )
        if chosen is not None:
            chosen[key] = found
    return found


def _policy_rule(policy: str, draft: Draft, mail_from: str) -> str:
    sender = f", Sender {draft.sender.address}" if draft.sender else ""
    reply = ", Reply-To " + ", ".join(a.address for a in draft.reply_to) if draft.reply_to else ""
    return (
        f"sender policy {policy}: From {draft.from_.address}{sender}{reply}, "
        f"envelope sender {mail_from}"
    )


def _default_sender(session: Session, workspace_id: str, team_id: str | None) -> str | None:
    """The team's (else the workspace's) verified default address (services/addresses.py)."""
    q = select(SupportAddress.address, SupportAddress.team_id).where(
        SupportAddress.workspace_id == workspace_id,
        SupportAddress.is_default.is_(True),
        SupportAddress.verified_at.is_not(None),
        SupportAddress.disconnected_at.is_(None),
    )
    found = {team: address for address, team in session.execute(q)}
    return found.get(team_id) or found.get(None)


def _check_recipients(req: SendRequest, most: int) -> None:
    """At most MAILGATE_MAX_RECIPIENTS per message, counted before any address is parsed."""
    total = len(req.to) + len(req.cc) + len(req.bcc)
    if total <= most:
        return
    # Name the list that crosses the limit: to, then cc, then bcc.
    where = "to" if len(req.to) > most else "cc" if len(req.to) + len(req.cc) > most else "bcc"
    raise InvalidInput(
        f"{total} recipients (to + cc + bcc); a message may have at most {most} "
        "(MAILGATE_MAX_RECIPIENTS): send several messages or a batch",
        field=where,
    )


# RFC 3834 §5 keywords (and RFC 3798's auto-notified) a caller may use to refine the marker.
_AUTOMATIC = ("auto-generated", "auto-replied", "auto-notified")


def _check_automatic_headers(headers: dict[str, str]) -> None:
    """Automatic mail keeps its marker: a caller cannot turn it into ``Auto-Submitted: no``."""
    for name, value in headers.items():
        key = name.lower()
        if key == "auto-submitted" and value.partition(";")[0].strip().lower() not in _AUTOMATIC:
            raise InvalidInput(
                f"this message is automatic (auto, or no from) so it says so (RFC 3834 §5): "
                f"Auto-Submitted may be {', '.join(_AUTOMATIC)}, not {value!r}",
                field=f"headers.{name}",
            )
        if key == "x-auto-response-suppress":
            raise InvalidInput(
                "mailgate writes X-Auto-Response-Suppress: All on automatic mail",
                field=f"headers.{name}",
            )


def _check_parts(draft: Draft, limit: int) -> None:
    """Refuse a part that alone is over the message limit, naming it, before composing."""
    for name, value in (("text", draft.text), ("html", draft.html)):
        # A character is 1 to 4 UTF-8 bytes: encode only a text that may be over.
        if value is not None and len(value) * 4 > limit and len(value.encode()) > limit:
            raise MessageTooLarge(
                f"the {name} is {len(value.encode())} bytes; a whole message may be at most "
                f"{limit} bytes (MAILGATE_MAX_MESSAGE_BYTES)",
                field=name,
            )
    total = 0
    for i, att in enumerate(draft.attachments):
        total += len(att.data)
        if total > limit:
            raise MessageTooLarge(
                f"the attachments reach {total} bytes at attachments[{i}]; a whole message may "
                f"be at most {limit} bytes (MAILGATE_MAX_MESSAGE_BYTES)",
                field=f"attachments[{i}]",
            )


def _largest_part(draft: Draft) -> str:
    """Which field made an oversized message large: text, html or attachments."""
    sizes = {
        "text": len(draft.text or ""),
        "html": len(draft.html or ""),
        # base64 grows a file by a third in the message
        "attachments": sum(len(a.data) for a in draft.attachments) * 4 // 3,
    }
    return max(sizes, key=lambda k: sizes[k])


def prepare(
    session: Session,
    app: Context,
    workspace: Workspace,
    req: SendRequest,
    chosen: dict[tuple[str | None, str | None, str], transport_service.Choice] | None = None,
) -> Prepared:
    """Validate and compose one message; raises InvalidInput naming the field.

    ``chosen`` caches the transport choice across a batch (one query, not one each).
    """
    if req.mode not in (None, "immediate", "queued"):
        raise InvalidInput("mode must be 'immediate', 'queued' or null", field="mode")
    if req.category not in suppression.CATEGORIES:
        raise InvalidInput("category must be 'transactional' or 'bulk'", field="category")
    _check_recipients(req, app.settings.max_recipients)
    to = parse_address_list(req.to, field="to")
    cc = parse_address_list(req.cc, field="cc")
    bcc = parse_address_list(req.bcc, field="bcc")
    if not (to or cc or bcc):
        raise InvalidInput("a message needs at least one recipient", field="to")
    reply_to = parse_address_list(req.reply_to, field="reply_to")
    check_header("Subject", req.subject, field="subject")
    if req.text is None and req.html is None and not req.attachments:
        raise InvalidInput("a message needs text, html or an attachment", field="text")
    headers = caller_headers(req.headers)
    for name in headers:
        if name.lower() == OWN_HEADER.lower():
            raise InvalidInput(f"mailgate writes the {name} header itself", field=f"headers.{name}")
    pk = new_id("msg")
    # Marks mail as this workspace's (HMAC over workspace and message): if it comes back
    # to the same workspace it is a loop; another workspace takes it as ordinary mail.
    headers[OWN_HEADER] = markers.marker(app.secrets, workspace.id, pk)
    choice = _resolve(session, workspace.id, req, chosen)
    row = choice.row
    rules = list(choice.rules)
    alias = choice.alias
    if not reply_to and alias is not None and alias.catchall and alias.reply_to:
        reply_to = [parse_address(alias.reply_to, field="reply_to")]
        rules.append(f"no Reply-To given: the alias domain's catch-all {alias.reply_to}")
    account = parse_address(row.sender, field="transport.sender") if row.sender else None
    auto = req.auto or req.from_ is None
    if req.from_ is not None:
        sender = parse_address(req.from_, field="from")
    elif account is not None:
        sender = account
    elif default := _default_sender(session, workspace.id, req.team):
        sender = parse_address(default, field="from")
    else:
        raise InvalidInput(
            "no from address, and neither the transport's sender nor a default address "
            "(PATCH /v1/addresses/{id} {\"default\": true}) to use instead",
            field="from",
        )
    if auto:
        _check_automatic_headers(headers)
    draft = Draft(
        from_=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        subject=req.subject,
        text=req.text,
        html=req.html,
        attachments=_attachments(req.attachments),
        headers=headers,
        message_id=req.message_id,
        in_reply_to=req.in_reply_to,
        references=req.references,
        auto_submitted=auto,
    )
    draft, mail_from = apply_sender_policy(
        draft,
        policy=row.sender_policy,
        account=account or sender,
        bounce_address=row.bounce_address,
        workspace_name=workspace.name,
    )
    rules.append(_policy_rule(row.sender_policy, draft, mail_from))
    if row.bounce_address and mail_from == row.bounce_address:
        # VERP: a bounce to this envelope sender names the message it is about.
        mail_from = tokens.verp_address(app.secrets, row.bounce_address, pk)
    if req.category == "bulk" or req.unsubscribe:
        draft.headers.update(
            _list_unsubscribe(app, workspace.id, req, draft, pk, row.bounce_address)
        )
    _check_parts(draft, app.settings.max_message_bytes)
    composed = compose(draft, domain=draft.from_.domain)
    if len(composed.raw) > app.settings.max_message_bytes:
        raise MessageTooLarge(
            f"the message is {len(composed.raw)} bytes once encoded; the limit is "
            f"{app.settings.max_message_bytes} (MAILGATE_MAX_MESSAGE_BYTES)",
            field=_largest_part(draft),
        )
    now = utcnow()
    mode = req.mode or row.mode
    return Prepared(
        row={
            "id": pk,
            "workspace_id": workspace.id,
            "direction": "out",
            "status": "sending" if mode == "immediate" else "queued",
            "kind": "auto" if auto else "normal",
            "conversation_id": req.conversation_id,
            "transport_id": row.id,
            "message_id": composed.message_id,
            "in_reply_to": req.in_reply_to,
            "references": req.references,
            "subject": req.subject,
            "from_addr": draft.from_.address,
            "mail_from": mail_from,
            "headers": composed.headers,
            "size": len(composed.raw),
            # Why this transport and these senders: the same words /v1/transports/resolve says.
            "summary": {"transport_kind": row.kind, "routing": rules},
            "idempotency_key": req.idempotency_key,
            "category": req.category,
            "attempts": 0,
            "next_attempt_at": now,
            "expires_at": now + timedelta(seconds=app.settings.message_lifetime_seconds),
            "created_at": now,
            "updated_at": now,
            # Immediate mode: this process holds the lease while it delivers.
            "lease_owner": IMMEDIATE_OWNER if mode == "immediate" else None,
            "lease_until": (
                now + timedelta(seconds=app.settings.lease_seconds) if mode == "immediate" else None
            ),
        },
        recipients=[
            (a.address, f) for f, lst in (("to", to), ("cc", cc), ("bcc", bcc)) for a in lst
        ],
        raw=composed.raw,
        mode=mode,
    )


_LIST_HEADERS = ("list-unsubscribe", "list-unsubscribe-post")


def _list_unsubscribe(
    app: Context, workspace_id: str, req: SendRequest, draft: Draft, pk: str, bounce: str | None
) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe (HTTPS and mailto) and RFC 8058 one-click, for one person.

    Every link names its recipient, and a message is one MIME shared by all its
    recipients: so a message with these headers has exactly one recipient (send bulk
    mail as one message per person, e.g. ``POST /v1/messages/batch``).
    """
    people = {a.address.lower() for a in (*draft.to, *draft.cc, *draft.bcc)}
    if len(people) != 1:
        raise InvalidInput(
            f"a {'bulk' if req.category == 'bulk' else 'unsubscribe'} message carries its "
            f"recipient's own unsubscribe link, so it has exactly one recipient (to + cc + "
            f"bcc), not {len(people)}: send one message per recipient (POST /v1/messages/batch)",
            field="to",
        )
    for name in draft.headers:
        if name.lower() in _LIST_HEADERS:
            raise InvalidInput(
                f"mailgate writes {name} itself on bulk and unsubscribe messages",
                field=f"headers.{name}",
            )
    (address,) = people
    token = tokens.unsubscribe_token(app.secrets, workspace_id, address, req.category)
    links = [f"<{app.settings.public_base}/u/{token}>"]
    if bounce and "@" in bounce:
        # The bounce domain receives mail for mailgate (its MX points at the listener).
        domain = bounce.rpartition("@")[2]
        links.append(f"<mailto:{tokens.unsubscribe_address(app.secrets, pk, domain)}>")
    return {
        "List-Unsubscribe": ", ".join(links),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def store(session: Session, app: Context, prepared: list[Prepared]) -> None:
    """Write rows, recipients and raw bytes in the caller's transaction."""
    if not prepared:
        return
    keys = app.blobs.put_many(session, [p.raw for p in prepared])
    ws = prepared[0].row["workspace_id"]
    now = utcnow()
    suppressed = {
        category: suppression.blocked(
            session,
            ws,
            {a.lower() for p in prepared if p.row["category"] == category for a, _ in p.recipients},
            category,
            now,
        )
        for category in suppression.CATEGORIES
    }
    rows, recipients = [], []
    for p, key in zip(prepared, keys, strict=True):
        rows.append({**p.row, "blob_key": key})
        seen: set[str] = set()
        for address, fld in p.recipients:
            if address.lower() in seen:
                continue
            seen.add(address.lower())
            blocked = address.lower() in suppressed[p.row["category"]]
            recipients.append(
                {
                    "message_pk": p.row["id"],
                    "address": address,
                    "field": fld,
                    "status": "suppressed" if blocked else "pending",
                    "text": "on the workspace's suppression list" if blocked else None,
                    "updated_at": now,
                }
            )
    insert_rows(session, MessageRow, rows)
    insert_rows(session, Recipient, recipients)


@dataclass(slots=True)
class Accepted:
    """One item's answer: the message id and status, or the error that refused it."""

    id: str | None = None
    status: str | None = None
    error: MailgateError | None = None
    delivered_now: bool = False  # immediate mode: status is the delivery's outcome


async def accept(
    app: DeliveryContext, workspace: Workspace, requests: list[SendRequest]
) -> list[Accepted]:
    """Store every valid request in one transaction; deliver the immediate ones now."""
    answers, immediate = await run_in(
        app.executors.api, _accept_sync, app, workspace, requests
    )
    if any(a.status == "queued" for a in answers):
        app.wake_workers()
    if immediate:
        # The outcome of this attempt, not a re-read: a deferred message may already
        # be back in a worker's hands ("sending") by the time the answer is written.
        status = await deliver_now(app, immediate)
        for a in answers:
            if a.id in status:
                a.status, a.delivered_now = status[a.id], True
    return answers


def _accept_sync(
    app: Context, workspace: Workspace, requests: list[SendRequest]
) -> tuple[list[Accepted], list[str]]:
    answers: list[Accepted] = []
    try:
        with transaction(app.sessions) as session:
            prepared: list[Prepared] = []
            chosen: dict[tuple[str | None, str | None, str], transport_service.Choice] = {}
            for req in requests:
                existing = _idempotent(session, workspace.id, req.idempotency_key)
                if existing is not None:
                    answers.append(Accepted(existing.id, existing.status))
                    continue
                try:
                    p = prepare(session, app, workspace, req, chosen)
                except MailgateError as e:
                    answers.append(Accepted(error=e))
                    continue
                prepared.append(p)
                answers.append(Accepted(p.row["id"], p.row["status"]))
            store(session, app, prepared)
    except IntegrityError:
        # Two requests raced with one Idempotency-Key: the other one won; answer with it.
        if len(requests) == 1 and requests[0].idempotency_key:
            with app.sessions() as session:
                existing = _idempotent(session, workspace.id, requests[0].idempotency_key)
            if existing is not None:
                return [Accepted(existing.id, existing.status)], []
        raise
    immediate = [p.row["id"] for p in prepared if p.mode == "immediate"]
    return answers, immediate


def _idempotent(session: Session, workspace_id: str, key: str | None) -> MessageRow | None:
    if not key:
        return None
    return session.scalar(
        select(MessageRow).where(
            MessageRow.workspace_id == workspace_id, MessageRow.idempotency_key == key
        )
    )


async def deliver_now(app: DeliveryContext, ids: list[str]) -> dict[str, str]:
    """Immediate mode: deliver messages this process holds the lease on; id → outcome."""
    return await deliver_held(app, ids, IMMEDIATE_OWNER)
