"""``/v1/inbound``: upload a raw received message; list received mail by status (dead letters).

``POST`` stores a raw message (``message/rfc822``) for the key's workspace.

The same durable entry point as every other source: the bytes and the inbound
row are committed before the ``202`` leaves (DESIGN.md, "nothing is
acknowledged before it is durable"); parsing and routing follow in the worker.

``GET ?status=dead`` lists the dead letters: messages whose processing failed
``MAILGATE_INBOUND_MAX_ATTEMPTS`` times, with the last error. After a fix,
``POST /v1/messages/{id}/reprocess`` runs one through the pipeline again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from mailgate.api.deps import AppDep, SessionDep, WorkspaceDep
from mailgate.api.limits import page_limit
from mailgate.errors import InvalidInput, MessageTooLarge
from mailgate.inbound.pipeline import Incoming, receive
from mailgate.store.executors import run_in
from mailgate.store.models import MessageRow

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing as soon as it is known to exceed ``limit`` bytes."""
    too_large = MessageTooLarge(f"the message is over the {limit} byte limit", field="body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


@router.post(
    "",
    status_code=202,
    openapi_extra=_BODY,
    responses={413: {"description": "over the size limit"}, 422: {"description": "empty body"}},
)
async def upload(request: Request, app: AppDep, ws: WorkspaceDep) -> JSONResponse:
    """Store one raw message as received mail of this workspace; 202 once it is committed."""
    raw = await _read_limited(request, app.settings.max_message_bytes)
    if not raw.strip():
        raise InvalidInput(
            "the body is empty: send the raw message as message/rfc822", field="body"
        )
    [answer] = await run_in(app.executors.api, receive, app, [Incoming(ws.id, raw, "api")])
    return JSONResponse({"id": answer.id}, status_code=202)


#: Where received mail stands: waiting, being processed, done, or given up on.
INBOUND_STATUSES = ("received", "processing", "processed", "dead")


@router.get("")
def list_inbound(
    ws: WorkspaceDep,
    session: SessionDep,
    status: Annotated[
        str, Query(description="received, processing, processed or dead (dead letters)")
    ] = "dead",
    limit: Annotated[int, Depends(page_limit(50))] = 50,
    before: str | None = None,
) -> dict[str, Any]:
    """Received mail of one status, newest first, with why it failed; ``next`` pages on.

    One ordered walk of ``ix_messages_ws_status`` (workspace, status, id): a page
    never sorts the workspace's whole inbox.
    """
    if status not in INBOUND_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(INBOUND_STATUSES)}", field="status")
    q = select(MessageRow).where(
        MessageRow.workspace_id == ws.id,
        MessageRow.status == status,
        MessageRow.direction == "in",
    )
    if before:
        q = q.where(MessageRow.id < before)
    rows = list(session.scalars(q.order_by(MessageRow.id.desc()).limit(limit + 1)))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return {"items": [_item(r) for r in rows[:limit]], "next": nxt}


def _item(row: MessageRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "received_at": row.created_at.isoformat(),
        "from": row.from_addr,
        "subject": row.subject,
        "source": row.source,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "updated_at": row.updated_at.isoformat(),
    }
