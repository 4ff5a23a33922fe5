"""``/``: today's mail, the queue, sources, domains needing attention, dead letters."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailgate.services import console
from mailgate.web.base import PageDep

router = APIRouter()


@router.get("/")
def dashboard(p: PageDep) -> Response:
    if not p.admin:
        return RedirectResponse("/conversations", status_code=303)  # agents: the inbox
    if p.workspace_id is None:
        return p.render("dashboard.html", stats=None)
    with p.app.sessions() as session:
        stats = console.dashboard(session, p.workspace_id, p.timezone)
    return p.render("dashboard.html", stats=stats)


@router.get("/favicon.ico")
def favicon() -> HTMLResponse:
    return HTMLResponse("", status_code=204)
