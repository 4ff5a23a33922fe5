"""``/v1/teams``: the workspace's teams, which own team-bound mail servers and addresses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from mailgate.api.deps import AppDep, WorkspaceDep
from mailgate.api.limits import check_name
from mailgate.api.schemas import Strict
from mailgate.services import teams as svc
from mailgate.services import tenancy
from mailgate.store.db import transaction

router = APIRouter(prefix="/v1/teams", tags=["teams"])


class TeamIn(Strict):
    name: str


class TeamPatch(Strict):
    name: str | None = None  # optional, so another workspace's team is a 404 first


@router.post("", status_code=201)
def create(body: TeamIn, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """A team; give its id as ``team`` to a transport (``"scope": "team"``) or an address."""
    check_name(app.settings, body.name)
    with transaction(app.sessions) as session:
        return svc.public(session, svc.create(session, ws.id, body.name))


@router.get("")
def listing(ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    with app.sessions() as session:
        return {"items": [svc.public(session, t) for t in svc.listing(session, ws.id)]}


@router.get("/{team_id}")
def get(team_id: str, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    with app.sessions() as session:
        return svc.public(session, tenancy.get_team(session, ws.id, team_id))


@router.patch("/{team_id}")
def rename(team_id: str, body: TeamPatch, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    check_name(app.settings, body.name)
    with transaction(app.sessions) as session:
        return svc.public(session, svc.rename(session, ws.id, team_id, body.name))


@router.delete("/{team_id}", status_code=204)
def delete(team_id: str, ws: WorkspaceDep, app: AppDep) -> Response:
    """409 while the team still has mail servers (they would go with it)."""
    with transaction(app.sessions) as session:
        svc.delete(session, ws.id, team_id)
    return Response(status_code=204)
