"""``/teams``: the workspace's teams (services/teams.py, as ``/v1/teams``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailgate.errors import MailgateError
from mailgate.services import teams as svc
from mailgate.store.db import transaction
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import errors_of, text

router = APIRouter()


def _listing(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows = [svc.public(session, t) for t in svc.listing(session, p.workspace())]
    context = {"errors": {}, "values": {}, "failed": None, **extra}
    return p.render("teams.html", status, rows=rows, **context)


@router.get("/teams")
def teams(p: AdminDep) -> HTMLResponse:
    return _listing(p)


@router.post("/teams")
def create(p: AdminDep, form: FormDep) -> Response:
    name = text(form, "name")
    try:
        with transaction(p.app.sessions) as session:
            svc.create(session, p.workspace(), name)
    except MailgateError as exc:
        return _listing(p, exc.status, errors=errors_of(exc), values={"name": name})
    return RedirectResponse("/teams", status_code=303)


@router.post("/teams/{team_id}")
def rename(team_id: str, p: AdminDep, form: FormDep) -> Response:
    name = text(form, "name")
    try:
        with transaction(p.app.sessions) as session:
            svc.rename(session, p.workspace(), team_id, name)
    except MailgateError as exc:
        if exc.status == 404:
            raise
        return _listing(p, exc.status, failed={"id": team_id, "message": exc.message})
    return RedirectResponse("/teams", status_code=303)


@router.post("/teams/{team_id}/delete")
def delete(team_id: str, p: AdminDep, form: FormDep) -> Response:
    try:
        with transaction(p.app.sessions) as session:
            svc.delete(session, p.workspace(), team_id)
    except MailgateError as exc:
        if exc.status == 404:
            raise
        return _listing(p, exc.status, failed={"id": team_id, "message": exc.message})
    return RedirectResponse("/teams", status_code=303)
