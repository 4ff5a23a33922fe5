"""``/v1/webhooks``: subscriptions, their delivery log, and the *send test* button.

The secret is write-only: accepted on create and PATCH, returned only once, in
the 201 body, when mailgate generated it. See docs/webhooks.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from mailgate.api.deps import AppDep, CallerDep, SessionDep, WorkspaceDep
from mailgate.api.limits import page_limit
from mailgate.api.schemas import Strict
from mailgate.events import webhooks as svc
from mailgate.store.db import transaction

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookIn(Strict):
    """A new subscription; leave ``secret`` out to have one generated (shown once)."""

    url: str
    events: list[str] = Field(min_length=1)
    secret: str | None = None
    enabled: bool = True


class WebhookPatch(Strict):
    """Only the fields given change; a ``secret`` given replaces the old one."""

    url: str | None = None
    events: list[str] | None = None
    secret: str | None = None
    enabled: bool | None = None


@router.post("", status_code=201)
def create(body: WebhookIn, app: AppDep, ws: WorkspaceDep, caller: CallerDep) -> dict[str, Any]:
    with transaction(app.sessions) as session:
        row, generated = svc.create(
            session,
            app.secrets,
            ws.id,
            url=body.url,
            events=body.events,
            secret=body.secret,
            enabled=body.enabled,
            operator=caller.operator,
            guard=app.netguard,
        )
    out = svc.public(row)
    if generated is not None:
        out["secret"] = generated  # the only time it is ever shown
    return out


@router.get("")
def list_(ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return {"items": [svc.public(r) for r in svc.listing(session, ws.id)]}


@router.get("/{webhook_id}")
def get(webhook_id: str, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return svc.public(svc.get(session, ws.id, webhook_id))


@router.patch("/{webhook_id}")
def patch(
    webhook_id: str, body: WebhookPatch, app: AppDep, ws: WorkspaceDep, caller: CallerDep
) -> dict[str, Any]:
    with transaction(app.sessions) as session:
        row = svc.get(session, ws.id, webhook_id)
        svc.update(
            session,
            app.secrets,
            row,
            body.model_dump(exclude_unset=True),
            operator=caller.operator,
            guard=app.netguard,
        )
    return svc.public(row)


@router.delete("/{webhook_id}", status_code=204)
def delete(webhook_id: str, app: AppDep, ws: WorkspaceDep) -> Response:
    with transaction(app.sessions) as session:
        # Its pending deliveries go with it (ON DELETE CASCADE).
        session.delete(svc.get(session, ws.id, webhook_id))
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries")
def deliveries(
    webhook_id: str,
    ws: WorkspaceDep,
    session: SessionDep,
    limit: Annotated[int, Depends(page_limit(50))] = 50,
    before: str | None = None,
) -> dict[str, Any]:
    """The delivery log, newest first; pass ``next`` back as ``before`` for the next page."""
    items, nxt = svc.deliveries(session, ws.id, webhook_id, limit=limit, before=before)
    return {"items": items, "next": nxt}


@router.post("/{webhook_id}/test", status_code=202)
def test(webhook_id: str, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    """Queue a ``webhook.test`` event for this subscription only."""
    with transaction(app.sessions) as session:
        event_id, delivery_id = svc.send_test(session, svc.get(session, ws.id, webhook_id))
    app.wake_workers()
    return {"event": event_id, "delivery": delivery_id, "type": svc.TEST_EVENT}
