"""The FastAPI application: ``/v1`` routers over the shared service functions."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from mailgate import __version__
from mailgate.api import (
    apikeys,
    conversations,
    errors,
    inbound,
    messages,
    sources,
    suppressions,
    transports,
    webhooks,
    workspaces,
)
from mailgate.api.deps import SessionDep, WorkspaceDep
from mailgate.runtime import Mailgate
from mailgate.services import journal
from mailgate.store.models import MessageRow, TransportRow


def create_app(mailgate: Mailgate) -> FastAPI:
    app = FastAPI(
        title="mailgate",
        version=__version__,
        description="A self-hosted email gateway for business software.",
    )
    app.state.mailgate = mailgate
    errors.install(app)
    app.include_router(transports.router)
    app.include_router(messages.router)
    app.include_router(sources.router)
    app.include_router(sources.inbound_router)
    app.include_router(conversations.router)
    app.include_router(suppressions.router)
    app.include_router(webhooks.router)
    app.include_router(inbound.router)
    app.include_router(apikeys.router)
    app.include_router(workspaces.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/captured", tags=["messages"])
    def captured(ws: WorkspaceDep, session: SessionDep, limit: int = 50) -> dict[str, Any]:
        """Mail kept by `capture` transports (development and demos), newest first."""
        rows = session.scalars(
            select(MessageRow)
            .join(TransportRow, TransportRow.id == MessageRow.transport_id)
            .where(MessageRow.workspace_id == ws.id, TransportRow.kind == "capture")
            .order_by(MessageRow.id.desc())
            .limit(min(limit, 500))
        ).all()
        return {"items": [journal.public(session, r) for r in rows]}

    return app
