"""``/transports``: mail servers: list, create and edit SMTP, enable or disable, *test*."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from mailgate.errors import MailgateError
from mailgate.outbound import registry
from mailgate.services import limits, roles
from mailgate.services import transports as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import checked, errors_of, optional, text

router = APIRouter()


def _listing(p: Page, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows = [
            {**svc.public(r, p.app.secrets), "quota": limits.quota(session, r)}
            for r in svc.visible(session, p.workspace())
        ]
    return p.render("transports.html", rows=rows, **extra)


@router.get("/transports")
def transports(p: AdminDep) -> HTMLResponse:
    return _listing(p)


def fields(kind: str, operator: bool) -> list[dict[str, Any]]:
    """A kind's settings as form fields, read from its config model (DESIGN.md: the
    console renders the form from the schema). Secrets are write-only password
    inputs; a setting naming a local file is shown to operators only."""
    try:
        model = registry.config_model(kind)
    except MailgateError:
        return []
    secret, local = registry.secret_fields(kind), roles.local_path_fields(model)
    out = []
    for name, spec in model.model_json_schema().get("properties", {}).items():
        if name in local and not operator:
            continue
        types = [spec.get("type")] + [a.get("type") for a in spec.get("anyOf", [])]
        enum = spec.get("enum")
        kind_ = (
            "password" if name in secret
            else "select" if enum
            else "checkbox" if "boolean" in types
            else "list" if "array" in types
            else "number" if {"integer", "number"} & set(types)
            else "text"
        )
        out.append({
            "name": name, "type": kind_, "options": enum or [], "default": spec.get("default"),
            "hint": spec.get("description", ""),
        })
    return out


def _config(form: FormData, kind: str, operator: bool, creating: bool) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for f in fields(kind, operator):
        name, value = f["name"], text(form, f"config.{f['name']}")
        if f["type"] == "checkbox":
            config[name] = checked(form, f"config.{name}")
        elif f["type"] == "password":
            if value or creating:
                config[name] = value or None
        elif f["type"] == "list":
            config[name] = value.split()
        elif value:
            config[name] = value
        elif f["default"] is None:
            config[name] = None
    return config


def _data(
    form: FormData, creating: bool, kind: str = "smtp", operator: bool = False
) -> dict[str, Any]:
    if kind == "smtp":
        config: dict[str, Any] = {
            "host": text(form, "host"),
            "port": text(form, "port") or "25",
            "security": text(form, "security") or "none",
            "username": optional(form, "username"),
        }
        password = text(form, "password")
        if password or creating:
            config["password"] = password or None
    else:
        config = _config(form, kind, operator, creating)
    data = {
        "name": text(form, "name"),
        "kind": kind,
        "mode": text(form, "mode") or "queued",
        "sender": optional(form, "sender"),
        "default": checked(form, "default"),
        "enabled": checked(form, "enabled"),
        "config": config,
    }
    if creating and operator and text(form, "scope") == "system":
        data["scope"] = "system"  # services/roles.py refuses it to anyone else
    return data


def _form(
    p: Page, code: int, kind: str, row: Any, values: dict[str, Any], errors: Any
) -> HTMLResponse:
    kinds = [k for k in registry.TRANSPORTS if p.operator or k not in roles.OPERATOR_KINDS]
    return p.render(
        "transport_form.html", code, row=row, values=values, errors=errors, kind=kind,
        kinds=kinds, fields=fields(kind, p.operator),
    )


@router.get("/transports/new")
def new(p: AdminDep, kind: str = "smtp") -> HTMLResponse:
    if kind not in registry.TRANSPORTS:
        kind = "smtp"
    return _form(p, 200, kind, None, {"enabled": True}, {})


@router.post("/transports/new")
def create(p: AdminDep, form: FormDep) -> Response:
    kind = text(form, "kind") or "smtp"
    data = _data(form, True, kind, p.operator)
    try:
        with transaction(p.app.sessions) as session:
            row = svc.create(
                session, p.app.secrets, p.workspace(), data, operator=p.operator,
                guard=p.app.netguard,
            )
    except MailgateError as exc:
        values = {**data, **data["config"], "password": ""}
        return _form(p, exc.status, kind, None, values, errors_of(exc))
    return RedirectResponse(f"/transports#{row.id}", status_code=303)


@router.get("/transports/{transport_id}")
def edit(transport_id: str, p: AdminDep) -> HTMLResponse:
    with p.app.sessions() as session:
        row = svc.public(svc.get_own(session, p.workspace(), transport_id), p.app.secrets)
    values = {**row, **row.get("config", {})}
    return _form(p, 200, row["kind"], row, values, {})


@router.post("/transports/{transport_id}")
def update(transport_id: str, p: AdminDep, form: FormDep) -> Response:
    with p.app.sessions() as session:
        kind = svc.get_own(session, p.workspace(), transport_id).kind
    data = _data(form, False, kind, p.operator)
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
        return _form(p, exc.status, kind, current, values, errors_of(exc))
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
    result = await p.app.transports.check(row, svc.probe_sender(row))
    checked_ = {
        "id": transport_id,
        "ok": result.ok,
        "message": result.message,
        "stage": result.stage,
        "transcript": list(result.transcript),
    }
    return await run_in(p.app.executors.api, lambda: _listing(p, checked=checked_))
