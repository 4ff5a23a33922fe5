"""``POST /v1/inbound``: upload a raw received message (``message/rfc822``) for the key's workspace.

The same durable entry point as every other source: the bytes and the inbound
row are committed before the ``202`` leaves (DESIGN.md, "nothing is
acknowledged before it is durable"); parsing and routing follow in the worker.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mailgate.api.deps import AppDep, WorkspaceDep
from mailgate.errors import InvalidInput, MessageTooLarge
from mailgate.inbound.pipeline import Incoming, receive

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
    [answer] = await asyncio.to_thread(receive, app, [Incoming(ws.id, raw, "api")])
    return JSONResponse({"id": answer.id}, status_code=202)
