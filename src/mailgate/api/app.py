"""The FastAPI application: ``/v1`` routers over the shared service functions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from sqlalchemy import select

from mailgate import __version__
from mailgate.api import (
    alias_domains,
    apikeys,
    campaigns,
    conversations,
    dkim,
    domains,
    errors,
    inbound,
    messages,
    oauth,
    ops,
    push,
    sources,
    suppressions,
    teams,
    transports,
    unsubscribe,
    webhooks,
    workspace,
    workspaces,
)
from mailgate.api.deps import SessionDep, WorkspaceDep
from mailgate.api.limits import RequestLimits, page_limit
from mailgate.api.schemas import plain_params
from mailgate.runtime import Mailgate
from mailgate.services import journal
from mailgate.store.models import MessageRow, TransportRow


def create_app(mailgate: Mailgate) -> FastAPI:
    app = FastAPI(
        title="mailgate",
        version=__version__,
        description="A self-hosted email gateway for business software.",
        # No NUL or half surrogate in any path or query parameter (api/schemas.py).
        dependencies=[Depends(plain_params)],
    )
    app.state.mailgate = mailgate
    errors.install(app)
    # Before any body is read: the size cap and an obviously missing key (api/limits.py).
    app.add_middleware(RequestLimits, api=app, settings=mailgate.settings)
    app.include_router(transports.router)
    app.include_router(dkim.router)  # /v1/domains/{id}/dkim: keys and rotation
    app.include_router(dkim.zone_router)
    app.include_router(messages.router)
    app.include_router(sources.router)
    app.include_router(sources.inbound_router)
    app.include_router(push.router)  # /v1/inbound/{id}, /v1/transports/{id}/events
    app.include_router(conversations.router)
    app.include_router(suppressions.router)
    app.include_router(campaigns.router)
    app.include_router(unsubscribe.router)
    app.include_router(webhooks.router)
    app.include_router(inbound.router)
    app.include_router(apikeys.router)
    app.include_router(workspaces.router)
    app.include_router(workspace.router)
    app.include_router(domains.router)
    app.include_router(teams.router)
    app.include_router(alias_domains.router)
    app.include_router(oauth.router)  # /v1/oauth: clients, connect flow (docs/oauth.md)
    app.include_router(oauth.callback_router)  # /oauth/callback: the encrypted state is the key
    app.include_router(ops.router_for(mailgate.settings))  # /healthz, /readyz, /metrics

    @app.get("/v1/captured", tags=["messages"])
    def captured(
        ws: WorkspaceDep,
        session: SessionDep,
        limit: Annotated[int, Depends(page_limit(50))] = 50,
    ) -> dict[str, Any]:
        """Mail kept by `capture` transports (development and demos), newest first."""
        rows = session.scalars(
            select(MessageRow)
            .join(TransportRow, TransportRow.id == MessageRow.transport_id)
            .where(MessageRow.workspace_id == ws.id, TransportRow.kind == "capture")
            .order_by(MessageRow.id.desc())
            .limit(limit)
        ).all()
        return {"items": [journal.public(session, r) for r in rows]}

    return app
