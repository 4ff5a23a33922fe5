"""``/v1/workspace``: the calling workspace's own settings (any key acting in it)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from mailgate.api.deps import AppDep, SessionDep, WorkspaceDep
from mailgate.api.schemas import Strict
from mailgate.services import admission, limits, tenancy
from mailgate.store.db import transaction

router = APIRouter(prefix="/v1/workspace", tags=["workspaces"])


class WorkspacePatch(Strict):
    thread_admission: Literal["participants", "anyone"] | None = None
    #: IANA zone where the day of a daily quota begins (services/limits.py validates it).
    timezone: Any = None


@router.get("")
def get(ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    """This workspace: id, name and ``thread_admission`` (docs/conversations.md)."""
    return tenancy.public_workspace(tenancy.get_workspace(session, ws.id))


@router.patch("")
def patch(body: WorkspacePatch, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """Change this workspace's settings; fields left out are kept."""
    with transaction(app.sessions) as session:
        row = tenancy.get_workspace(session, ws.id)
        if body.thread_admission is not None:
            row = admission.set_thread_admission(session, ws.id, body.thread_admission)
        if "timezone" in body.model_fields_set:
            row = limits.set_timezone(session, ws.id, body.timezone)
        return tenancy.public_workspace(row)
