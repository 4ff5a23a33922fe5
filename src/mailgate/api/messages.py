"""``/v1/messages``: send (one or a batch), read, the journals, retry, raw bytes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from fastapi.responses import JSONResponse

from mailgate.api.deps import AppDep, SessionDep, WorkspaceDep
from mailgate.api.errors import error_body
from mailgate.api.limits import page_limit
from mailgate.api.schemas import BatchIn, MessageIn
from mailgate.errors import Conflict
from mailgate.inbound import processor
from mailgate.services import journal
from mailgate.services import messages as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in

router = APIRouter(prefix="/v1/messages", tags=["messages"])


def to_request(body: MessageIn, idempotency_key: str | None = None) -> svc.SendRequest:
    reply_to = (
        body.reply_to
        if isinstance(body.reply_to, list)
        else ([body.reply_to] if body.reply_to else [])
    )
    return svc.SendRequest(
        from_=body.from_,
        to=body.to,
        cc=body.cc,
        bcc=body.bcc,
        reply_to=reply_to,
        subject=body.subject,
        text=body.text,
        html=body.html,
        attachments=[a.model_dump(exclude_none=True) for a in body.attachments],
        headers=body.headers,
        transport=body.transport,
        team=body.team,
        mode=body.mode,
        auto=body.auto,
        idempotency_key=idempotency_key,
        category=body.category,
        unsubscribe=body.unsubscribe,
    )


@router.post("", status_code=202, responses={200: {"description": "delivered (immediate mode)"}})
async def send(
    body: MessageIn,
    app: AppDep,
    ws: WorkspaceDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    [answer] = await svc.accept(app, ws, [to_request(body, idempotency_key)])
    if answer.error is not None:
        raise answer.error
    assert answer.id is not None
    if not answer.delivered_now:
        return JSONResponse({"id": answer.id, "status": answer.status}, status_code=202)
    with app.sessions() as session:
        detail = journal.public(session, journal.get(session, ws.id, answer.id))
    detail["status"] = answer.status  # this attempt's outcome (a retry may have begun)
    return JSONResponse(detail, status_code=200)


@router.post("/batch")
async def send_batch(body: BatchIn, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    answers = await svc.accept(app, ws, [to_request(m) for m in body.messages])
    items: list[dict[str, Any]] = []
    for a in answers:
        if a.error is not None:
            items.append(error_body(a.error.code, a.error.message, a.error.field))
        else:
            items.append({"id": a.id, "status": a.status})
    return {"items": items}


@router.get("")
def list_messages(
    ws: WorkspaceDep,
    session: SessionDep,
    status: str | None = None,
    direction: str | None = "out",
    transport: str | None = None,
    limit: Annotated[int, Depends(page_limit(50))] = 50,
    before: str | None = None,
) -> dict[str, Any]:
    rows, nxt = journal.journal(
        session,
        ws.id,
        status=status,
        direction=direction or None,
        transport_id=transport,
        limit=limit,
        before=before,
    )
    return {"items": [journal.public(session, r, detail=False) for r in rows], "next": nxt}


@router.get("/{message_id}")
def get(message_id: str, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return journal.public(session, journal.get(session, ws.id, message_id))


@router.get("/{message_id}/raw", response_class=Response)
def raw(message_id: str, app: AppDep, ws: WorkspaceDep, session: SessionDep) -> Response:
    row = journal.get(session, ws.id, message_id)
    return Response(journal.raw(session, app, row), media_type="message/rfc822")


@router.post("/{message_id}/retry", status_code=202)
def retry(message_id: str, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    with transaction(app.sessions) as session:
        row = journal.retry(session, ws.id, message_id)
    app.wake_workers()
    return {"id": row.id, "status": row.status}


@router.post("/{message_id}/reprocess")
async def reprocess(message_id: str, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    """Run a dead-lettered inbound message through the pipeline again (after a fix)."""

    def run() -> str:
        with app.sessions() as session:
            row = journal.get(session, ws.id, message_id)
            if row.direction != "in" or row.status != "dead":
                raise Conflict(
                    f"only dead-lettered inbound mail is reprocessed; this is {row.status}"
                )
        return processor.reprocess(app, message_id)

    status = await run_in(app.executors.api, run)
    app.wake_workers()
    return {"id": message_id, "status": status}
