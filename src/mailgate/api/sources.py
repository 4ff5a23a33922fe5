"""``/v1/sources``: inbound mailboxes and routes; ``/v1/inbound/mailgun/{id}``: the route.

The Mailgun endpoint takes no API key: Mailgun's signature authenticates it
(:mod:`mailgate.inbound.mailgun`). It answers 200 only after the commit, 406 to
what is not a genuine fresh request (Mailgun does not retry a 406), and 503 when
storing failed, so that Mailgun tries again: the push-source policy of
:mod:`mailgate.api.push`, where ``/v1/inbound/{id}`` serves every push kind.
"""

from __future__ import annotations

import logging
from typing import IO, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from mailgate.api import push as push_api
from mailgate.api.deps import AppDep, CallerDep, SessionDep, WorkspaceDep
from mailgate.api.limits import check_name
from mailgate.api.schemas import Strict
from mailgate.inbound import mailgun
from mailgate.services import sources as svc
from mailgate.store.db import transaction

log = logging.getLogger(__name__)

#: What a route's form adds to twice the message limit (field names, boundaries).
MAILGUN_FORM_OVERHEAD = 1024 * 1024

router = APIRouter(prefix="/v1/sources", tags=["sources"])
inbound_router = APIRouter(prefix="/v1/inbound", tags=["inbound"])


def _view(row: Any, app: Any) -> dict[str, Any]:
    """The service's view, plus ``push_url``: absolute (``MAILGATE_PUBLIC_URL``), ready to
    paste into the provider's console (a Mailgun route's ``forward()``)."""
    out = svc.public(row, app.secrets)
    if "push_path" in out:
        out["push_url"] = app.settings.public_base.rstrip("/") + out["push_path"]
    return out


class SourceIn(Strict):
    name: str
    kind: str
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict)


class SourcePatch(Strict):
    name: str | None = None
    kind: str | None = None
    enabled: bool | None = None
    config: dict[str, Any] | None = None


@router.post("", status_code=201)
def create(body: SourceIn, app: AppDep, ws: WorkspaceDep, caller: CallerDep) -> dict[str, Any]:
    """Add an IMAP, POP3 or Mailgun source; the answer never contains the secrets."""
    check_name(app.settings, body.name)
    row = svc.save(app, ws.id, body.model_dump(), operator=caller.operator)
    return _view(row, app)


@router.get("")
def list_(app: AppDep, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return {"items": [_view(r, app) for r in svc.list_(session, ws.id)]}


@router.get("/{source_id}")
def get(source_id: str, app: AppDep, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return _view(svc.get(session, ws.id, source_id), app)


@router.patch("/{source_id}")
def patch(
    source_id: str, body: SourcePatch, app: AppDep, ws: WorkspaceDep, caller: CallerDep
) -> dict[str, Any]:
    check_name(app.settings, body.name)
    with transaction(app.sessions) as session:
        row = svc.get(session, ws.id, source_id)
        svc.update(
            app.secrets,
            row,
            body.model_dump(exclude_unset=True),
            operator=caller.operator,
            guard=app.netguard,
        )
    app.wake_workers()  # the poller supervisor restarts an edited source
    return _view(row, app)


@router.delete("/{source_id}", status_code=204)
def delete(source_id: str, app: AppDep, ws: WorkspaceDep) -> Response:
    with transaction(app.sessions) as session:
        svc.remove(session, svc.get(session, ws.id, source_id))
    app.wake_workers()
    return Response(status_code=204)


@router.post("/{source_id}/poll")
def poll(source_id: str, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    """Poll an IMAP or POP3 source once now; says how many messages were taken."""
    result = svc.poll_now(app, ws.id, source_id)
    return {"taken": result.taken, "acknowledged": result.acknowledged, "seen": result.seen}


@inbound_router.post("/mailgun/{source_id}")
@inbound_router.post("/mailgun/{source_id}/mime")
async def mailgun_route(source_id: str, request: Request, app: AppDep) -> JSONResponse:
    """What a Mailgun route's ``forward()`` posts (parsed form; raw MIME for ``…/mime``).

    The push-source policy (api/push.py): the body is spooled under a cap and the
    signature checked from the spool before any parsing. ``/v1/inbound/{id}`` is the
    same for every push kind; this path stays for routes set up before it.
    """

    def handle(content_type: str, spool: IO[bytes]) -> dict[str, Any]:
        return {"id": mailgun.accept(app, source_id, content_type, spool).id}

    cap = 2 * app.settings.max_message_bytes + MAILGUN_FORM_OVERHEAD
    return await push_api.receive(request, cap, handle, app.executors.inbound, "Mailgun message")
