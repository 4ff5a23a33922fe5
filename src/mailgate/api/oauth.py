"""``/v1/oauth``: OAuth2 clients and connections (Gmail, Microsoft 365), and the
provider's redirect back to ``/oauth/callback`` (docs/oauth.md).

The callback carries no API key: the provider's redirect comes from the admin's
browser, and the encrypted ``state`` mailgate made at the start authenticates it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import Field

from mailgate.api.deps import AnyKeyDep, AppDep, SessionDep, WorkspaceDep
from mailgate.api.schemas import Strict
from mailgate.services import oauth as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in

router = APIRouter(prefix="/v1/oauth", tags=["oauth"])
callback_router = APIRouter(tags=["oauth"])


class ClientIn(Strict):
    provider: str = Field(description="google | microsoft | generic")
    client_id: str = Field(min_length=1, max_length=400)
    client_secret: str = Field(min_length=1, max_length=2000, json_schema_extra={"secret": True})
    authorize_url: str | None = Field(default=None, max_length=2000)
    token_url: str | None = Field(default=None, max_length=2000)
    revoke_url: str | None = Field(default=None, max_length=2000)
    tenant: str | None = Field(default=None, max_length=200, description="Microsoft tenant")
    scopes: list[str] = Field(default_factory=list, max_length=50)


@router.post("/clients", status_code=201)
def register_client(body: ClientIn, app: AppDep, caller: AnyKeyDep) -> dict[str, Any]:
    """An operator key registers the installation's client; a workspace key its own."""
    ws_id = None if caller.operator else caller.workspace.id if caller.workspace else None
    with transaction(app.sessions) as session:
        row = svc.register_client(
            session,
            app.secrets,
            ws_id,
            body.model_dump(),
            guard=None if caller.operator else app.netguard,
        )
        return svc.public_client(row)


@router.get("/clients")
def list_clients(app: AppDep, caller: AnyKeyDep, session: SessionDep) -> dict[str, Any]:
    ws_id = None if caller.operator or caller.workspace is None else caller.workspace.id
    return {"items": [svc.public_client(r) for r in svc.clients(session, ws_id)]}


class StartIn(Strict):
    transport: str | None = None
    source: str | None = None
    login_hint: str | None = Field(default=None, max_length=320)


@router.post("/{provider}/start")
def start(
    provider: str, body: StartIn, app: AppDep, ws: WorkspaceDep, session: SessionDep
) -> dict[str, Any]:
    """The URL the admin opens to grant access (authorization code + PKCE S256)."""
    return svc.start(session, app, ws.id, provider, body.model_dump())


@router.get("/connections")
def list_connections(app: AppDep, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return {"items": [svc.public_connection(r) for r in svc.connections(session, ws.id)]}


@router.delete("/connections/{connection_id}", status_code=204)
async def disconnect(connection_id: str, app: AppDep, ws: WorkspaceDep) -> Response:
    await run_in(None, svc.disconnect, app, ws.id, connection_id)
    return Response(status_code=204)


@callback_router.get("/oauth/callback", response_model=None)
async def callback(request: Request, app: AppDep) -> dict[str, Any] | Response:
    """Where the provider sends the admin's browser back, with ``code`` and ``state``.

    A flow started in the console must come back to the same console session (403
    otherwise), and the browser is sent on to the console page it started from."""
    params = {k: v for k, v in request.query_params.items()}
    cookie = request.cookies.get(svc.CONSOLE_COOKIE)
    connection, back = await run_in(None, svc.finish, app, params, cookie)
    if back is not None:
        return RedirectResponse(back, status_code=303)
    return {"connected": True, "connection": connection}
