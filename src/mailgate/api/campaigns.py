"""``/v1/campaigns``: bulk sends with templates, a streamed recipient list and a life cycle."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from mailgate.api.deps import AppDep, SessionDep, WorkspaceDep
from mailgate.api.limits import page_limit
from mailgate.api.schemas import Strict
from mailgate.services import campaigns as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


class CampaignIn(Strict):
    name: str
    from_: str = Field(alias="from")
    subject: str
    text: str | None = None
    html: str | None = None
    reply_to: str | None = None
    transport: str | None = None
    transports: list[str] = Field(default_factory=list)
    category: str = "bulk"
    send_at: datetime | None = None
    timezone: str = "UTC"
    rate: int | None = Field(default=None, description="messages per minute")


class PreviewIn(Strict):
    variables: dict[str, Any] = Field(default_factory=dict)


@router.post("", status_code=201)
def create(body: CampaignIn, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    req = svc.CampaignRequest(
        name=body.name,
        from_=body.from_,
        subject=body.subject,
        text=body.text,
        html=body.html,
        reply_to=body.reply_to,
        transports=[body.transport] if body.transport else body.transports,
        category=body.category,
        send_at=body.send_at,
        timezone=body.timezone,
        rate=body.rate,
    )
    with transaction(app.sessions) as session:
        row = svc.create(session, ws, req)
        return svc.public(session, row)


@router.get("")
def list_(
    ws: WorkspaceDep,
    session: SessionDep,
    limit: Annotated[int, Depends(page_limit(50))] = 50,
    after: str | None = None,
) -> dict[str, Any]:
    rows, nxt = svc.listing(session, ws.id, limit=limit, after=after)
    return {"items": [svc.public(session, r) for r in rows], "next": nxt}


@router.get("/{campaign_id}")
def get(campaign_id: str, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return svc.public(session, svc.get(session, ws.id, campaign_id))


@router.post("/{campaign_id}/preview")
def preview(
    campaign_id: str, body: PreviewIn, ws: WorkspaceDep, session: SessionDep
) -> dict[str, Any]:
    return svc.preview(session, ws.id, campaign_id, body.variables)


_END = b""


@router.post(
    "/{campaign_id}/recipients",
    openapi_extra={
        "requestBody": {
            "content": {"text/csv": {}, "application/x-ndjson": {}},
            "required": True,
        }
    },
)
async def upload(
    campaign_id: str, request: Request, app: AppDep, ws: WorkspaceDep
) -> dict[str, Any]:
    """Stream the list into the store: the body is never held whole (docs/campaigns.md)."""
    chunks: queue.Queue[bytes] = queue.Queue(maxsize=8)

    def produced() -> Iterator[bytes]:
        while (chunk := chunks.get()) != _END:
            yield chunk

    content_type = request.headers.get("content-type", "")
    work = asyncio.ensure_future(
        run_in(
            app.executors.api,
            svc.upload_recipients,
            app,
            ws.id,
            campaign_id,
            content_type,
            produced(),
        )
    )
    try:
        async for chunk in request.stream():
            if work.done():
                break  # refused early (bad header, no such campaign): stop reading
            if chunk:
                await _put(chunks, chunk, work)
    finally:
        if not work.done():
            await _put(chunks, _END, work)
    report = await work
    return report.public()


async def _put(chunks: queue.Queue[bytes], chunk: bytes, work: asyncio.Future[Any]) -> None:
    """Hand a chunk to the reading thread without blocking the event loop."""
    while not work.done():
        try:
            chunks.put_nowait(chunk)
            return
        except queue.Full:
            await asyncio.sleep(0.001)


def _action(name: str) -> Any:
    def act(campaign_id: str, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
        with transaction(app.sessions) as session:
            row = svc.act(session, ws.id, campaign_id, name)
            answer = svc.public(session, row)
        if name in ("start", "resume"):
            app.wake_workers()
        return answer

    act.__name__ = name
    act.__doc__ = f"{name.capitalize()} the campaign (409 when its state forbids it)."
    return act


for _name in ("start", "pause", "resume", "cancel"):
    router.add_api_route(f"/{{campaign_id}}/{_name}", _action(_name), methods=["POST"])
