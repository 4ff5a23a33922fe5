"""Conversations: read them, start one from the business app, answer one.

Every answer carries In-Reply-To and References to the last message and a signed
Reply-To (``reply+TAG.SIG@domain``), so the customer's next mail lands in the same
conversation whatever client they use.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from mailgate.core.addresses import parse_address
from mailgate.core.parse import parse_message
from mailgate.errors import Conflict, Forbidden, InvalidInput, NotFound
from mailgate.inbound import tokens
from mailgate.inbound.routing import new_tag
from mailgate.queue.delivery import DeliveryContext
from mailgate.services import messages as message_service
from mailgate.services import tenancy
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.store.eventlog import emit
from mailgate.store.models import (
    ConsoleUser,
    Conversation,
    MessageRow,
    ReceivingDomain,
    SupportAddress,
    TransportRow,
    Workspace,
    new_id,
    utcnow,
)

STATUSES = ("open", "pending", "closed")
MAX_REFERENCES = 20


def get(session: Session, workspace_id: str, conversation_id: str) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.workspace_id != workspace_id:
        raise NotFound(f"no conversation {conversation_id}", field="id")
    return conv


def public(session: Session, conv: Conversation) -> dict[str, Any]:
    address = session.get(SupportAddress, conv.address_id) if conv.address_id else None
    assignee = session.get(ConsoleUser, conv.assignee_id) if conv.assignee_id else None
    return {
        "id": conv.id,
        "subject": conv.subject,
        "status": conv.status,
        "address": address.address if address else None,
        "team": conv.team_id,
        # The console user working it (docs/conversations.md#assignees); null: nobody.
        "assignee": {"id": assignee.id, "email": assignee.email} if assignee else None,
        "reference": (
            {"type": conv.reference_type, "id": conv.reference_id}
            if conv.reference_type and conv.reference_id
            else None
        ),
        "participants": conv.participants,
        # The thread a non-participant quoted when their mail opened this one.
        "related": conv.related_id,
        # Why it was opened instead of joining ``related``: its From failed DMARC.
        "auth_warning": conv.auth_warning,
        "message_count": conv.message_count,
        "created_at": conv.created_at.isoformat(),
        "updated_at": conv.updated_at.isoformat(),
    }


# --- assignees ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who changes an assignment: a console user (``user_id``, ``role``); an API key is
    ``None`` where an ``Actor`` is asked for, and acts like the workspace's admin."""

    user_id: str
    role: str


def assignable(session: Session, workspace_id: str, user_id: Any) -> ConsoleUser:
    """The enabled admin or agent of this workspace ``user_id`` names, else a 422 on
    ``assignee_id``: another workspace's user reads as unknown (nothing leaks across)."""
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidInput(
            "assignee_id must be a user id, or null to unassign", field="assignee_id"
        )
    user = session.get(ConsoleUser, user_id.strip())
    if user is not None and user.role == "operator":
        raise InvalidInput(
            "an operator account belongs to no workspace: it cannot be assigned conversations",
            field="assignee_id",
        )
    if user is None or user.workspace_id != workspace_id:
        raise InvalidInput(f"no user {user_id!r} in this workspace", field="assignee_id")
    if user.disabled_at is not None:
        raise InvalidInput(f"user {user.email} is disabled", field="assignee_id")
    return user


def assign(
    session: Session, conv: Conversation, assignee_id: str | None, actor: Actor | None = None
) -> bool:
    """Give ``conv`` to ``assignee_id`` (None: nobody). Admins and API keys assign anyone
    of the workspace; an agent only takes it ("assign to me") or gives up their own.
    Emits ``conversation.assigned`` when the assignee changes; returns whether it did."""
    user = None if assignee_id is None else assignable(session, conv.workspace_id, assignee_id)
    new = user.id if user else None
    previous = conv.assignee_id
    if new == previous:
        return False
    # An agent's change is theirs alone: taking it, or giving up their own.
    if actor is not None and actor.role == "agent" and actor.user_id != (new or previous):
        raise Forbidden(
            "an agent takes a conversation (assign to me) or gives up their own; "
            "an admin assigns it to others",
            field="assignee_id",
        )
    conv.assignee_id = new
    conv.updated_at = utcnow()
    emit(
        session,
        conv.workspace_id,
        "conversation.assigned",
        {
            "conversation": conv.id,
            "assignee": {"id": user.id, "email": user.email} if user else None,
            "previous": previous,
            "by": actor.user_id if actor else None,
        },
        conversation_id=conv.id,
    )
    return True


def release(session: Session, user_id: str) -> int:
    """Unassign every conversation of a user who is disabled or deleted (one
    ``conversation.assigned`` event each, ``by`` null); returns how many."""
    convs = session.scalars(select(Conversation).where(Conversation.assignee_id == user_id))
    return sum(assign(session, conv, None) for conv in convs.all())


def assignee_clause(value: str, me: str | None = None) -> ColumnElement[bool]:
    """The filter ``assignee=<user id>|me|none``: an unknown or another workspace's id
    matches nothing (the query is scoped to the workspace already)."""
    value = value.strip()
    if value == "none":
        return Conversation.assignee_id.is_(None)
    if value == "me":
        if me is None:
            raise InvalidInput(
                "assignee=me means the signed-in console user; an API key names a user id",
                field="assignee",
            )
        value = me
    return Conversation.assignee_id == value


def assignees(session: Session, workspace_id: str) -> list[ConsoleUser]:
    """Whom this workspace's conversations can be given: its enabled admins and agents."""
    return list(
        session.scalars(
            select(ConsoleUser)
            .where(
                ConsoleUser.workspace_id == workspace_id,
                ConsoleUser.role.in_(("admin", "agent")),
                ConsoleUser.disabled_at.is_(None),
            )
            .order_by(ConsoleUser.email)
        )
    )


def listing(
    session: Session,
    workspace_id: str,
    *,
    status: str | None = None,
    address: str | None = None,
    assignee: str | None = None,
    me: str | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
    updated_since: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Conversation], str | None]:
    """Newest activity first; ``cursor`` is the ``next`` of the previous page."""
    q = select(Conversation).where(Conversation.workspace_id == workspace_id)
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
        q = q.where(Conversation.status == status)
    if address:
        q = q.join(SupportAddress, SupportAddress.id == Conversation.address_id).where(
            SupportAddress.address == address.lower()
        )
    if assignee:
        q = q.where(assignee_clause(assignee, me))
    if reference_type:
        q = q.where(Conversation.reference_type == reference_type)
    if reference_id:
        q = q.where(Conversation.reference_id == reference_id)
    if updated_since:
        q = q.where(Conversation.updated_at >= updated_since)
    if cursor:
        stamp, _, cid = cursor.partition("|")
        try:
            at = datetime.fromisoformat(stamp)
        except ValueError:
            raise InvalidInput("not a cursor this API gave out", field="next") from None
        q = q.where(
            or_(
                Conversation.updated_at < at,
                and_(Conversation.updated_at == at, Conversation.id < cid),
            )
        )
    rows = list(
        session.scalars(
            q.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit + 1)
        )
    )
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = f"{last.updated_at.isoformat()}|{last.id}"
    return rows[:limit], nxt


def message_view(session: Session, app: DeliveryContext, row: MessageRow) -> dict[str, Any]:
    """A message as the conversation API shows it (parsed from the stored bytes if needed)."""
    summary = (
        row.summary if row.direction == "in" and row.summary.get("subject") is not None else None
    )
    if summary is None:
        summary = parse_message(app.blobs.get(session, row.blob_key)).to_json()
    return {
        "id": row.id,
        "direction": row.direction,
        "kind": row.kind,
        "status": row.status,
        "from": summary.get("from", []),
        "to": summary.get("to", []),
        "cc": summary.get("cc", []),
        "subject": summary.get("subject", row.subject),
        "text": summary.get("text", ""),
        "html": summary.get("html"),
        "reply_text": summary.get("reply_text", ""),
        "message_id": row.message_id,
        # Inbound: SPF/DKIM/DMARC verdicts (docs/conversations.md); None when sent.
        "auth": row.auth if row.direction == "in" else None,
        "attachments": [
            {
                "id": str(i),
                "filename": a["filename"],
                "content_type": a["content_type"],
                "size": a["size"],
                "url": f"/v1/messages/{row.id}/attachments/{i}",
            }
            for i, a in enumerate(summary.get("attachments", []))
        ],
        "created_at": row.created_at.isoformat(),
    }


def detail(session: Session, app: DeliveryContext, conv: Conversation) -> dict[str, Any]:
    rows = session.scalars(
        select(MessageRow)
        .where(MessageRow.conversation_id == conv.id, MessageRow.workspace_id == conv.workspace_id)
        .order_by(MessageRow.created_at, MessageRow.id)
    ).all()
    return {**public(session, conv), "messages": [message_view(session, app, r) for r in rows]}


def update(
    session: Session, conv: Conversation, data: dict[str, Any], actor: Actor | None = None
) -> None:
    if "status" in data:
        if data["status"] not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
        conv.status = data["status"]
    if "reference" in data:
        ref = data["reference"] or {}
        conv.reference_type, conv.reference_id = ref.get("type"), ref.get("id")
    if "team" in data:
        # null clears the team; "" is refused rather than guessed at (it used to reach the
        # foreign key and answer 500).
        if data["team"] is not None and not str(data["team"]).strip():
            raise InvalidInput("team must be a team id, or null to clear it", field="team")
        if data["team"]:
            tenancy.get_team(session, conv.workspace_id, data["team"])
        conv.team_id = data["team"]
    if "assignee_id" in data:
        assign(session, conv, data["assignee_id"], actor)
    conv.updated_at = utcnow()


def _address(session: Session, workspace_id: str, value: str | None) -> SupportAddress | None:
    if not value:
        return session.scalar(
            select(SupportAddress)
            .where(SupportAddress.workspace_id == workspace_id)
            .order_by(SupportAddress.created_at)
            .limit(1)
        )
    found = session.scalar(
        select(SupportAddress).where(
            SupportAddress.workspace_id == workspace_id,
            or_(SupportAddress.id == value, SupportAddress.address == value.lower()),
        )
    )
    if found is None:
        raise NotFound(f"no support address {value!r} in this workspace", field="address")
    return found


def _subject(subject: str) -> str:
    return (
        subject
        if subject.lower().startswith(("re:", "回复：", "回复:", "答复:"))
        else f"Re: {subject}"
    )


async def start(
    app: DeliveryContext, workspace: Workspace, body: dict[str, Any]
) -> tuple[str, message_service.Accepted]:
    """Open a conversation from the business app (e.g. about ticket 42) and send its first mail."""
    to = body.get("to") or []
    if not to:
        raise InvalidInput("a conversation needs someone to write to", field="to")
    recipients = [parse_address(a, field=f"to[{i}]") for i, a in enumerate(to)]
    ref = body.get("reference") or {}
    with transaction(app.sessions) as session:
        address = _address(session, workspace.id, body.get("address"))
        if body.get("team"):
            tenancy.get_team(session, workspace.id, body["team"])
        now = utcnow()
        conv = Conversation(
            id=new_id("cv"),
            workspace_id=workspace.id,
            address_id=address.id if address else None,
            team_id=body.get("team") or (address.team_id if address else None),
            subject=body.get("subject") or "",
            tag=new_tag(),
            status="open",
            reference_type=ref.get("type"),
            reference_id=None if ref.get("id") is None else str(ref.get("id")),
            participants=[{"name": a.name, "address": a.address} for a in recipients],
            message_count=0,
            created_at=now,
            updated_at=now,
        )
        session.add(conv)
        session.flush()
        emit(
            session,
            workspace.id,
            "conversation.created",
            {"conversation": conv.id, "subject": conv.subject, "reference": ref or None},
            conversation_id=conv.id,
        )
        if body.get("assignee_id") is not None:
            assign(session, conv, body["assignee_id"])
        conv_id = conv.id
    answer = await reply(
        app, workspace, conv_id, {**body, "subject": body.get("subject") or ""}, first=True
    )
    return conv_id, answer


async def reply(
    app: DeliveryContext,
    workspace: Workspace,
    conversation_id: str,
    body: dict[str, Any],
    *,
    first: bool = False,
) -> message_service.Accepted:
    """Send an agent's or the app's answer into a conversation."""
    with app.sessions() as session:
        conv = get(session, workspace.id, conversation_id)
        address = session.get(SupportAddress, conv.address_id) if conv.address_id else None
        # Opened through a catch-all, a Mailgun route or an unregistered mailbox, the
        # conversation has no support address: answer from the address the customer
        # wrote to, so the reply is normal mail with a signed Reply-To (not automatic).
        received = address.address if address else _received_at(session, app, conv)
        transport_id = (
            address.transport_id
            if address and address.transport_id
            else _transport_for(session, workspace.id, received)
        )
        if received is None:
            received = transport_service.choose(
                session, workspace.id, transport_id=transport_id, team_id=conv.team_id
            ).sender
        last = session.scalars(
            select(MessageRow)
            .where(
                MessageRow.conversation_id == conv.id,
                MessageRow.workspace_id == workspace.id,
                MessageRow.message_id.is_not(None),
            )
            .order_by(MessageRow.created_at.desc(), MessageRow.id.desc())
            .limit(1)
        ).first()
    to = [p["address"] for p in conv.participants[:1]]
    cc = [p["address"] for p in conv.participants[1:]]
    if not to:
        raise Conflict("this conversation has nobody to answer", field="id")
    author = (body.get("author") or "").strip()
    from_ = None
    reply_to: list[str] = []
    if received:
        from_ = f'"{author}" <{received}>' if author else received
        domain = received.rpartition("@")[2]
        reply_to = [tokens.reply_address(app.secrets, conv.tag, domain)]
    references: list[str] = []
    in_reply_to = None
    if last is not None and last.message_id:
        in_reply_to = last.message_id
        references = [*(last.references or []), last.message_id][-MAX_REFERENCES:]
    req = message_service.SendRequest(
        to=to,
        cc=cc,
        from_=from_,
        reply_to=reply_to,
        subject=str(body.get("subject") or "") if first else _subject(conv.subject),
        text=body.get("text"),
        html=body.get("html"),
        attachments=body.get("attachments") or [],
        transport=transport_id,
        team=conv.team_id,
        in_reply_to=in_reply_to,
        references=references,
        conversation_id=conv.id,
        idempotency_key=body.get("idempotency_key"),
    )
    [answer] = await message_service.accept(app, workspace, [req])
    if answer.error is not None:
        raise answer.error
    with transaction(app.sessions) as session:
        conv = get(session, workspace.id, conversation_id)
        conv.message_count += 1
        conv.updated_at = utcnow()
        if conv.status == "closed":
            conv.status = "open"
    return answer


def _received_at(session: Session, app: DeliveryContext, conv: Conversation) -> str | None:
    """The address the customer first wrote to: the envelope recipient, else To/Cc.

    Signed tokens (ours) and the participants themselves are skipped.
    """
    first = session.scalars(
        select(MessageRow)
        .where(
            MessageRow.conversation_id == conv.id,
            MessageRow.workspace_id == conv.workspace_id,
            MessageRow.direction == "in",
        )
        .order_by(MessageRow.created_at, MessageRow.id)
        .limit(1)
    ).first()
    if first is None:
        return None
    people = {p["address"].lower() for p in conv.participants}
    summary = first.summary or {}
    headers = [str(a.get("address", "")) for a in [*summary.get("to", []), *summary.get("cc", [])]]
    candidates = [
        c
        for c in (raw.strip().strip("<>") for raw in [*map(str, first.rcpt_to or []), *headers])
        if "@" in c and c.lower() not in people and tokens.parse(app.secrets, c) is None
    ]
    # The customer may have written to others too: prefer a domain this workspace receives.
    ours = {
        d.lower()
        for d in session.scalars(
            select(ReceivingDomain.domain).where(ReceivingDomain.workspace_id == conv.workspace_id)
        )
    } | {
        a.rpartition("@")[2].lower()
        for a in session.scalars(
            select(SupportAddress.address).where(SupportAddress.workspace_id == conv.workspace_id)
        )
    }
    for candidate in candidates:
        if candidate.rpartition("@")[2].lower() in ours:
            return candidate
    return candidates[0] if candidates else None


def _transport_for(session: Session, workspace_id: str, address: str | None) -> str | None:
    """The transport for mail from ``address``: its own, else its domain's; None: the default.

    Its own is a support address's transport; its domain's is that of a support
    address on the same domain, else an enabled transport of the workspace whose
    sender is on the domain.
    """
    if not address:
        return None
    lowered = address.lower()
    domain = lowered.rpartition("@")[2]
    on_domain = session.scalars(
        select(SupportAddress)
        .where(
            SupportAddress.workspace_id == workspace_id,
            SupportAddress.transport_id.is_not(None),
            func.lower(SupportAddress.address).endswith(f"@{domain}", autoescape=True),
        )
        .order_by(SupportAddress.created_at)
    ).all()
    exact = [a for a in on_domain if a.address.lower() == lowered]
    if exact or on_domain:
        return (exact or on_domain)[0].transport_id
    senders = session.scalars(
        select(TransportRow)
        .where(
            TransportRow.workspace_id == workspace_id,
            TransportRow.enabled.is_(True),
            func.lower(TransportRow.sender).endswith(f"@{domain}", autoescape=True),
        )
        .order_by(TransportRow.is_default.desc(), TransportRow.created_at)
    ).first()
    return senders.id if senders else None


def new_verify_token() -> str:
    return secrets.token_urlsafe(24)
