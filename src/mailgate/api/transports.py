"""``/v1/transports``: mail servers, and the *test connection* button."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from mailgate.api.deps import AppDep, CallerDep, SessionDep, WorkspaceDep
from mailgate.api.limits import check_name
from mailgate.api.schemas import Strict, TransportIn, TransportPatch
from mailgate.core import presets
from mailgate.services import limits
from mailgate.services import messages as message_service
from mailgate.services import transports as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in

router = APIRouter(prefix="/v1/transports", tags=["transports"])


@router.post("", status_code=201)
def create(
    body: TransportIn, app: AppDep, ws: WorkspaceDep, caller: CallerDep
) -> dict[str, Any]:
    check_name(app.settings, body.name)
    with transaction(app.sessions) as session:
        row = svc.create(
            session,
            app.secrets,
            ws.id,
            body.model_dump(),
            operator=caller.operator,
            guard=app.netguard,
        )
    return svc.public(row, app.secrets)


@router.get("")
def list_(app: AppDep, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    return {"items": [svc.public(r, app.secrets) for r in svc.visible(session, ws.id)]}


class ResolveIn(Strict):
    from_: str | None = Field(default=None, alias="from")
    team: str | None = None
    transport: str | None = None
    reply_to: list[str] = Field(default_factory=list)


@router.post("/resolve")
def resolve(body: ResolveIn, app: AppDep, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    """Which transport and sender policy a message from ``from`` would use, its final
    From/Sender/Reply-To and envelope sender, and each rule that decided them; nothing
    is sent. Every message stores the same ``rules`` (``GET /v1/messages/{id}``)."""
    return message_service.explain(
        session,
        app,
        ws,
        from_=body.from_,
        team=body.team,
        transport=body.transport,
        reply_to=body.reply_to,
    )


@router.get("/presets")
def presets_(ws: WorkspaceDep) -> dict[str, Any]:
    """Mail providers' servers and login hints (Gmail, Microsoft 365, QQ, 163, …): name one
    as ``config.preset`` of an ``smtp`` transport to fill its host, port and security."""
    return {"items": [p.public() for p in presets.PRESETS.values()]}


@router.get("/{transport_id}")
def get(transport_id: str, app: AppDep, ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    row = svc.get(session, ws.id, transport_id)
    # quota: {daily, used_today, resets_at} today, or null without a daily quota.
    return {
        **svc.public(row, app.secrets),
        "quota": limits.quota(session, row),
        # HTTP providers: account state (domain, quota, balance) and the events URL.
        **svc.provider_view(row, app.settings.public_base),
    }


@router.patch("/{transport_id}")
def patch(
    transport_id: str, body: TransportPatch, app: AppDep, ws: WorkspaceDep, caller: CallerDep
) -> dict[str, Any]:
    check_name(app.settings, body.name)
    with transaction(app.sessions) as session:
        row = svc.get_own(session, ws.id, transport_id)
        svc.update(
            session,
            app.secrets,
            row,
            body.model_dump(exclude_unset=True),
            operator=caller.operator,
            guard=app.netguard,
        )
    return svc.public(row, app.secrets)


@router.delete("/{transport_id}", status_code=204)
def delete(transport_id: str, app: AppDep, ws: WorkspaceDep) -> Response:
    with transaction(app.sessions) as session:
        session.delete(svc.get_own(session, ws.id, transport_id))
    return Response(status_code=204)


@router.post("/{transport_id}/check")
async def check(
    transport_id: str, app: AppDep, ws: WorkspaceDep, caller: CallerDep
) -> dict[str, Any]:
    def load() -> Any:
        with app.sessions() as session:
            row = svc.get(session, ws.id, transport_id)
            svc.require_checkable(row, caller.operator)
            return row

    row = await run_in(app.executors.api, load)
    result = await app.transports.check(row, svc.probe_sender(row))

    state = getattr(app.transports.get(row), "last_state", None) if result.ok else None
    if state:  # an HTTP provider's account answer: shown on the transport, fed to quotas

        def save() -> None:
            with transaction(app.sessions) as session:
                svc.record_provider_state(session, row.id, state)

        await run_in(app.executors.api, save)
    return {
        "ok": result.ok,
        "message": result.message,
        "stage": result.stage,
        "transcript": list(result.transcript),
    }
