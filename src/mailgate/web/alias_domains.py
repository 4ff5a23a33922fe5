"""``/alias-domains``: a company's domain, its mail server and catch-all, and the
"Which server?" form (the same answer as ``POST /v1/transports/resolve``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from mailgate.errors import MailgateError
from mailgate.services import alias_domains as svc
from mailgate.services import messages, tenancy
from mailgate.services import teams as team_service
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import addresses, checked, errors_of, optional, text

router = APIRouter()


def _listing(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows = [svc.public(r) for r in svc.listing(session, p.workspace())]
        transports = [
            {"id": t.id, "name": t.name}
            for t in transport_service.visible(session, p.workspace())
        ]
        teams = [{"id": t.id, "name": t.name} for t in team_service.listing(session, p.workspace())]
    names = {t["id"]: t["name"] for t in transports}
    context: dict[str, Any] = {
        "errors": {}, "values": {"catchall": True}, "failed": None, "explained": None,
        "asked": {}, "asked_errors": {}, **extra,
    }
    return p.render(
        "alias_domains.html", status, rows=rows, transports=transports, teams=teams,
        names=names, **context,
    )


def _data(form: FormData) -> dict[str, Any]:
    return {
        "transport": optional(form, "transport"),
        "reply_to": optional(form, "reply_to"),
        "catchall": checked(form, "catchall"),
    }


@router.get("/alias-domains")
def alias_domains(p: AdminDep) -> HTMLResponse:
    return _listing(p)


@router.post("/alias-domains")
def create(p: AdminDep, form: FormDep) -> Response:
    data = {"domain": text(form, "domain"), **_data(form)}
    try:
        with transaction(p.app.sessions) as session:
            svc.create(session, p.workspace(), data)
    except MailgateError as exc:
        return _listing(p, exc.status, errors=errors_of(exc), values=data)
    return RedirectResponse("/alias-domains", status_code=303)


@router.post("/alias-domains/resolve")
def resolve(p: AdminDep, form: FormDep) -> HTMLResponse:
    """Which server and sender a message from ``from`` would get; nothing is sent."""
    asked = {
        "from": optional(form, "from"),
        "team": optional(form, "team"),
        "transport": optional(form, "transport"),
        "reply_to": text(form, "reply_to"),
    }
    try:
        with p.app.sessions() as session:
            ws = tenancy.get_workspace(session, p.workspace())
            answer = messages.explain(
                session, p.app, ws, from_=asked["from"], team=asked["team"],
                transport=asked["transport"], reply_to=addresses(form, "reply_to"),
            )
    except MailgateError as exc:
        return _listing(p, exc.status, asked=asked, asked_errors=errors_of(exc))
    return _listing(p, asked=asked, explained=answer)


@router.post("/alias-domains/{alias_id}")
def update(alias_id: str, p: AdminDep, form: FormDep) -> Response:
    try:
        with transaction(p.app.sessions) as session:
            svc.update(session, p.workspace(), alias_id, _data(form))
    except MailgateError as exc:
        if exc.status == 404:
            raise
        return _listing(p, exc.status, failed={"id": alias_id, "message": exc.message})
    return RedirectResponse("/alias-domains", status_code=303)


@router.post("/alias-domains/{alias_id}/delete")
def delete(alias_id: str, p: AdminDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        session.delete(svc.get(session, p.workspace(), alias_id))
    return RedirectResponse("/alias-domains", status_code=303)
