"""``/transports``: mail servers: list, create and edit SMTP, enable or disable, *test*."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from mailgate.errors import MailgateError
from mailgate.services import transports as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import checked, errors_of, optional, text

router = APIRouter()


def _listing(p: Page, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows = [svc.public(r, p.app.secrets) for r in svc.visible(session, p.workspace())]
    return p.render("transports.html", rows=rows, **extra)


@router.get("/transports")
def transports(p: AdminDep) -> HTMLResponse:
    return _listing(p)


def _data(form: FormData, creating: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "host": text(form, "host"),
        "port": text(form, "port") or "25",
        "security": text(form, "security") or "none",
        "username": optional(form, "username"),
    }
    password = text(form, "password")
    if password or creating:
        config["password"] = password or None
    return {
        "name": text(form, "name"),
        "kind": "smtp",
        "mode": text(form, "mode") or "queued",
        "sender": optional(form, "sender"),
        "default": checked(form, "default"),
        "enabled": checked(form, "enabled"),
        "config": config,
    }


@router.get("/transports/new")
def new(p: AdminDep) -> HTMLResponse:
    return p.render("transport_form.html", row=None, values={"enabled": True}, errors={})


@router.post("/transports/new")
def create(p: AdminDep, form: FormDep) -> Response:
    data = _data(form, True)
    try:
        with transaction(p.app.sessions) as session:
            row = svc.create(
                session, p.app.secrets, p.workspace(), data, operator=p.operator,
                guard=p.app.netguard,
            )
    except MailgateError as exc:
        values = {**data, **data["config"], "password": ""}
        return p.render("transport_form.html", 422, row=None, values=values, errors=errors_of(exc))
    return RedirectResponse(f"/transports#{row.id}", status_code=303)


@router.get("/transports/{transport_id}")
def edit(transport_id: str, p: AdminDep) -> HTMLResponse:
    with p.app.sessions() as session:
        row = svc.public(svc.get_own(session, p.workspace(), transport_id), p.app.secrets)
    values = {**row, **row.get("config", {})}
    return p.render("transport_form.html", row=row, values=values, errors={})


@router.post("/transports/{transport_id}")
def update(transport_id: str, p: AdminDep, form: FormDep) -> Response:
    data = _data(form, False)
    try:
        with transaction(p.app.sessions) as session:
            row = svc.get_own(session, p.workspace(), transport_id)
            svc.update(
                session, p.app.secrets, row, data, operator=p.operator, guard=p.app.netguard
            )
    except MailgateError as exc:
        with p.app.sessions() as session:
            current = svc.public(svc.get_own(session, p.workspace(), transport_id), p.app.secrets)
        values = {**data, **data["config"], "password": ""}
        errors = errors_of(exc)
        return p.render("transport_form.html", 422, row=current, values=values, errors=errors)
    return RedirectResponse("/transports", status_code=303)


@router.post("/transports/{transport_id}/enabled")
def toggle(transport_id: str, p: AdminDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        row = svc.get_own(session, p.workspace(), transport_id)
        svc.update(
            session, p.app.secrets, row, {"enabled": checked(form, "enabled")},
            operator=p.operator, guard=p.app.netguard,
        )
    return RedirectResponse("/transports", status_code=303)


@router.post("/transports/{transport_id}/check")
async def check(transport_id: str, p: AdminDep, form: FormDep) -> Response:
    """The *test* button: the server's own words, as the API's check returns them."""

    def load() -> Any:
        with p.app.sessions() as session:
            row = svc.get(session, p.workspace(), transport_id)
            svc.require_checkable(row, p.operator)
            return row

    row = await run_in(p.app.executors.api, load)
    # With the sender, the server also judges it (MAIL FROM, RCPT): its own words.
    result = await p.app.transports.check(row, row.sender)
    checked_ = {
        "id": transport_id,
        "ok": result.ok,
        "message": result.message,
        "stage": result.stage,
        "transcript": list(result.transcript),
    }
    return await run_in(p.app.executors.api, lambda: _listing(p, checked=checked_))
