"""``/v1/conversations`` and ``/v1/addresses``: threads of mail and where they arrive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from mailgate.api.deps import AppDep, CallerDep, SessionDep, WorkspaceDep
from mailgate.api.limits import page_limit
from mailgate.api.schemas import AttachmentIn, Strict
from mailgate.core.parse import parse_message
from mailgate.errors import NotFound
from mailgate.services import addresses as address_service
from mailgate.services import conversations as svc
from mailgate.services import journal
from mailgate.store.db import transaction
from mailgate.store.models import utcnow

router = APIRouter(tags=["conversations"])


class Reference(Strict):
    type: str
    id: str


class ReplyIn(Strict):
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list)
    author: str | None = None


class ConversationIn(ReplyIn):
    to: list[str]
    subject: str = ""
    address: str | None = None
    team: str | None = None
    reference: Reference | None = None
    #: A console user (admin or agent) of this workspace to work it from the start.
    assignee_id: str | None = None


class ConversationPatch(Strict):
    status: str | None = None
    team: str | None = None
    reference: Reference | None = None
    #: A console user (admin or agent) of this workspace; null unassigns.
    assignee_id: str | None = None


class AddressIn(Strict):
    address: str
    transport: str | None = None
    team: str | None = None
    default: bool = False


class AddressPatch(Strict):
    transport: str | None = None
    team: str | None = None
    default: bool | None = None


@router.get("/v1/conversations")
def list_(
    ws: WorkspaceDep,
    session: SessionDep,
    status: str | None = None,
    address: str | None = None,
    assignee: str | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
    updated_since: datetime | None = None,
    limit: Annotated[int, Depends(page_limit(50))] = 50,
    next: str | None = None,
) -> dict[str, Any]:
    """``assignee``: a console user's id, or ``none`` for the unassigned ones."""
    rows, nxt = svc.listing(
        session,
        ws.id,
        status=status,
        address=address,
        assignee=assignee,
        reference_type=reference_type,
        reference_id=reference_id,
        updated_since=updated_since,
        limit=limit,
        cursor=next,
    )
    return {"items": [svc.public(session, r) for r in rows], "next": nxt}


@router.post("/v1/conversations", status_code=201)
async def start(body: ConversationIn, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    data = body.model_dump(exclude_none=True)
    data["attachments"] = [a.model_dump(exclude_none=True) for a in body.attachments]
    conv_id, answer = await svc.start(app, ws, data)
    with app.sessions() as session:
        out = svc.detail(session, app, svc.get(session, ws.id, conv_id))
    out["message"] = {"id": answer.id, "status": answer.status}
    return out


@router.get("/v1/conversations/{conversation_id}")
def get(conversation_id: str, app: AppDep, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return svc.detail(session, app, svc.get(session, ws.id, conversation_id))


@router.patch("/v1/conversations/{conversation_id}")
def patch(
    conversation_id: str, body: ConversationPatch, app: AppDep, ws: WorkspaceDep
) -> dict[str, Any]:
    with transaction(app.sessions) as session:
        conv = svc.get(session, ws.id, conversation_id)
        svc.update(session, conv, body.model_dump(exclude_unset=True))
        return svc.public(session, conv)


@router.post("/v1/conversations/{conversation_id}/replies", status_code=202)
async def reply(
    conversation_id: str, body: ReplyIn, app: AppDep, ws: WorkspaceDep
) -> dict[str, Any]:
    data = body.model_dump(exclude_none=True)
    data["attachments"] = [a.model_dump(exclude_none=True) for a in body.attachments]
    answer = await svc.reply(app, ws, conversation_id, data)
    assert answer.id is not None
    with app.sessions() as session:
        row = journal.get(session, ws.id, answer.id)
        return {"message": {**svc.message_view(session, app, row), "status": row.status}}


@router.get("/v1/messages/{message_id}/attachments/{index}", tags=["messages"])
def attachment(
    message_id: str, index: int, app: AppDep, ws: WorkspaceDep, session: SessionDep
) -> Response:
    row = journal.get(session, ws.id, message_id)
    parsed = parse_message(app.blobs.get(session, row.blob_key))
    if not 0 <= index < len(parsed.attachments):
        raise NotFound(f"message {message_id} has no attachment {index}", field="index")
    att = parsed.attachments[index]
    disposition = f"attachment; filename*=utf-8''{quote(att.filename)}"
    return Response(
        att.data, media_type=att.content_type, headers={"Content-Disposition": disposition}
    )


@router.post("/v1/addresses", status_code=201, tags=["addresses"])
def create_address(
    body: AddressIn, app: AppDep, ws: WorkspaceDep, caller: CallerDep
) -> dict[str, Any]:
    """Register an address on a receiving domain of this workspace (409 if not available)."""
    with transaction(app.sessions) as session:
        row = address_service.create(session, ws.id, body.model_dump(), operator=caller.operator)
        return address_service.public(row, session)


@router.get("/v1/addresses", tags=["addresses"])
def list_addresses(ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    rows = address_service.listing(session, ws.id)
    return {"items": [address_service.public(r, session) for r in rows]}


@router.get("/v1/addresses/{address_id}", tags=["addresses"])
def get_address(address_id: str, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    """``state``: pending | verified | failed | disconnected, with ``last_check``."""
    return address_service.public(address_service.get(session, ws.id, address_id), session)


@router.patch("/v1/addresses/{address_id}", tags=["addresses"])
def patch_address(
    address_id: str, body: AddressPatch, app: AppDep, ws: WorkspaceDep
) -> dict[str, Any]:
    """Change the address's mail server (its credentials) or team, or make it the default
    sender; the verification is kept. An unverified address cannot be the default (422)."""
    data = body.model_dump(exclude_unset=True)
    with transaction(app.sessions) as session:
        row = address_service.update(session, ws.id, address_id, data)
        return address_service.public(row, session)


@router.post("/v1/addresses/{address_id}/disconnect", tags=["addresses"])
def disconnect_address(address_id: str, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    """Stop sending through the address's own server; mail to it is still received."""
    with transaction(app.sessions) as session:
        row = address_service.disconnect(session, ws.id, address_id, utcnow())
        return address_service.public(row, session)


@router.delete("/v1/addresses/{address_id}", status_code=204, tags=["addresses"])
def delete_address(address_id: str, app: AppDep, ws: WorkspaceDep) -> Response:
    with transaction(app.sessions) as session:
        session.delete(address_service.get(session, ws.id, address_id))
    return Response(status_code=204)


@router.post("/v1/addresses/{address_id}/verify", status_code=202, tags=["addresses"])
async def verify_address(address_id: str, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    answer = await address_service.send_verification(app, ws, address_id)
    return {"message": {"id": answer.id, "status": answer.status}}
