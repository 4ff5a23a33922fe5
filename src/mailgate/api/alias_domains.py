"""``/v1/alias-domains``: a company's domain in the workspace, its transport and catch-all."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from mailgate.api.deps import AppDep, WorkspaceDep
from mailgate.api.schemas import Strict
from mailgate.services import alias_domains as svc
from mailgate.store.db import transaction

router = APIRouter(prefix="/v1/alias-domains", tags=["alias-domains"])


class AliasIn(Strict):
    domain: str
    transport: str | None = None
    reply_to: str | None = None
    catchall: bool = True


class AliasPatch(Strict):
    transport: str | None = None
    reply_to: str | None = None
    catchall: bool | None = None


@router.post("", status_code=201)
def create(body: AliasIn, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """Mail from this domain leaves through ``transport`` and, when the caller gives no
    Reply-To, carries ``reply_to`` (the company's catch-all) unless ``catchall`` is off."""
    with transaction(app.sessions) as session:
        return svc.public(svc.create(session, ws.id, body.model_dump()))


@router.get("")
def listing(ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    with app.sessions() as session:
        return {"items": [svc.public(r) for r in svc.listing(session, ws.id)]}


@router.get("/{alias_id}")
def get(alias_id: str, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    with app.sessions() as session:
        return svc.public(svc.get(session, ws.id, alias_id))


@router.patch("/{alias_id}")
def patch(alias_id: str, body: AliasPatch, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    if data.get("catchall", True) is None:
        data.pop("catchall")
    with transaction(app.sessions) as session:
        return svc.public(svc.update(session, ws.id, alias_id, data))


@router.delete("/{alias_id}", status_code=204)
def delete(alias_id: str, ws: WorkspaceDep, app: AppDep) -> Response:
    with transaction(app.sessions) as session:
        session.delete(svc.get(session, ws.id, alias_id))
    return Response(status_code=204)
