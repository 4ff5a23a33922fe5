"""``/v1/suppressions``: who sending skips, and lifting or adding an entry by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response

from mailgate.api.deps import AppDep, SessionDep, WorkspaceDep
from mailgate.api.limits import page_limit
from mailgate.api.schemas import Strict
from mailgate.services import suppressions as svc
from mailgate.store.db import transaction

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"])


class SuppressionIn(Strict):
    address: str
    expires_at: datetime | None = None
    scope: Literal["all", "bulk"] = "all"


@router.get("")
def list_(
    ws: WorkspaceDep,
    session: SessionDep,
    reason: str | None = None,
    limit: Annotated[int, Depends(page_limit(100))] = 100,
    after: str | None = None,
    scope: Literal["all", "bulk"] | None = None,
) -> dict[str, Any]:
    rows, nxt = svc.listing(session, ws.id, reason=reason, limit=limit, after=after, scope=scope)
    return {"items": [svc.public(r) for r in rows], "next": nxt}


@router.post("", status_code=201)
def add(body: SuppressionIn, app: AppDep, ws: WorkspaceDep) -> dict[str, Any]:
    with transaction(app.sessions) as session:
        row = svc.add(session, ws.id, body.address, expires_at=body.expires_at, scope=body.scope)
        return svc.public(row)


@router.delete("/{address}", status_code=204)
def remove(
    address: str, app: AppDep, ws: WorkspaceDep, scope: Literal["all", "bulk"] | None = None
) -> Response:
    with transaction(app.sessions) as session:
        svc.remove(session, ws.id, address, scope)
    return Response(status_code=204)
