"""``/v1/workspaces``: tenants and their receiving domains (operator keys only).

A receiving domain belongs to one workspace: only it may register addresses on
the domain, and the listener refuses the domain's mail for anyone else
(services/receiving_domains.py, docs/conversations.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from mailgate.api.deps import AppDep, OperatorDep, SessionDep
from mailgate.api.limits import check_name
from mailgate.api.schemas import Strict
from mailgate.services import receiving_domains, tenancy
from mailgate.store.db import transaction

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"])


class WorkspaceIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    domains: list[str] = Field(default_factory=list, description="Receiving domains to assign")


class DomainIn(Strict):
    domain: str = Field(description="e.g. acme.test; stored as lower-case A-labels")


@router.get("")
def list_(_: OperatorDep, session: SessionDep) -> dict[str, Any]:
    return {"items": [tenancy.public_workspace(w) for w in tenancy.list_workspaces(session)]}


@router.post("", status_code=201)
def create(body: WorkspaceIn, app: AppDep, _: OperatorDep) -> dict[str, Any]:
    """A workspace, with its receiving domains (all or nothing)."""
    check_name(app.settings, body.name)
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, body.name)
        rows = [receiving_domains.assign(session, ws.id, d) for d in body.domains]
    return {
        **tenancy.public_workspace(ws),
        "domains": [receiving_domains.public(r) for r in rows],
    }


@router.get("/{workspace_id}")
def get(workspace_id: str, _: OperatorDep, session: SessionDep) -> dict[str, Any]:
    ws = tenancy.get_workspace(session, workspace_id)
    return {
        **tenancy.public_workspace(ws),
        "domains": [receiving_domains.public(r) for r in receiving_domains.listing(session, ws.id)],
    }


@router.post("/{workspace_id}/domains", status_code=201)
def add_domain(workspace_id: str, body: DomainIn, app: AppDep, _: OperatorDep) -> dict[str, Any]:
    """Assign a receiving domain; 409 when it is assigned already or in use elsewhere."""
    with transaction(app.sessions) as session:
        tenancy.get_workspace(session, workspace_id)
        row = receiving_domains.assign(session, workspace_id, body.domain)
        return receiving_domains.public(row)


@router.get("/{workspace_id}/domains")
def list_domains(workspace_id: str, _: OperatorDep, session: SessionDep) -> dict[str, Any]:
    tenancy.get_workspace(session, workspace_id)
    rows = receiving_domains.listing(session, workspace_id)
    return {"items": [receiving_domains.public(r) for r in rows]}


@router.get("/{workspace_id}/domains/{domain_id}")
def get_domain(
    workspace_id: str, domain_id: str, _: OperatorDep, session: SessionDep
) -> dict[str, Any]:
    return receiving_domains.public(receiving_domains.get(session, workspace_id, domain_id))


@router.delete("/{workspace_id}/domains/{domain_id}", status_code=204)
def remove_domain(workspace_id: str, domain_id: str, app: AppDep, _: OperatorDep) -> Response:
    """Unassign a domain; the workspace's addresses on it stay registered."""
    with transaction(app.sessions) as session:
        session.delete(receiving_domains.get(session, workspace_id, domain_id))
    return Response(status_code=204)
