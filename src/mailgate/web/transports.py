"""``/transports``: mail servers: list, create and edit SMTP, enable or disable, *test*.

The SMTP form has the ``auth`` selector (a password, or an OAuth2 token: XOAUTH2 or
OAUTHBEARER); a server saved with OAuth2 and a provider chosen goes straight on to the
provider's sign-in (services/oauth.py ``start``, with the login hint), bound to this
console session like *Connect* on ``/oauth``. Every kind's form has the warm-up plan
(``warmup.*`` fields, core/warmup.py): all empty is no plan.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from mailgate.core.oauth import MECHANISMS
from mailgate.errors import MailgateError
from mailgate.outbound import registry
from mailgate.services import limits, roles
from mailgate.services import transports as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import checked, errors_of, optional, text
from mailgate.web.oauth import sign_in_choices, sign_in_url
from mailgate.web.schemaform import (
    WARMUP_FIELDS,
    config_of,
    fields_of,
    warmup_of,
    warmup_values,
)

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
    """A kind's settings as form fields, read from its config model (web/schemaform.py)."""
    try:
        model = registry.config_model(kind)
    except MailgateError:
        return []
    return fields_of(model, registry.secret_fields(kind), operator)


def _data(
    form: FormData, creating: bool, kind: str = "smtp", operator: bool = False
) -> dict[str, Any]:
    if kind == "smtp":
        config: dict[str, Any] = {
            "host": text(form, "host"),
            "port": text(form, "port") or "25",
            "security": text(form, "security") or "none",
            "username": optional(form, "username"),
            "auth": text(form, "auth") or "auto",
        }
        password = text(form, "password")
        if password or creating:
            config["password"] = password or None
    else:
        config = config_of(form, fields(kind, operator), creating)
    data = {
        "name": text(form, "name"),
        "kind": kind,
        "mode": text(form, "mode") or "queued",
        "sender": optional(form, "sender"),
        "default": checked(form, "default"),
        "enabled": checked(form, "enabled"),
        "config": config,
        "warmup": warmup_of(form),
    }
    if creating and operator and text(form, "scope") == "system":
        data["scope"] = "system"  # services/roles.py refuses it to anyone else
    return data


def _typed(form: FormData, data: dict[str, Any]) -> dict[str, Any]:
    """A refused form's values shown again: what was typed, never a password."""
    secret = registry.secret_fields(data["kind"]) if data["kind"] in registry.TRANSPORTS else set()
    config = {k: v for k, v in data["config"].items() if k not in secret}
    typed = {f"warmup.{n}": text(form, f"warmup.{n}") for n in WARMUP_FIELDS}
    return {
        **{k: v for k, v in data.items() if k != "config"}, **config, **typed, "password": "",
        "oauth_provider": text(form, "oauth_provider"), "login_hint": text(form, "login_hint"),
    }


def _form(
    p: Page, code: int, kind: str, row: Any, values: dict[str, Any], errors: Any
) -> HTMLResponse:
    kinds = [k for k in registry.TRANSPORTS if p.operator or k not in roles.OPERATOR_KINDS]
    providers, connection = sign_in_choices(p, "transport", row["id"] if row else None)
    return p.render(
        "transport_form.html", code, row=row, values=values, errors=errors, kind=kind,
        kinds=kinds, fields=fields(kind, p.operator), providers=providers,
        connection=connection, mechanisms=MECHANISMS,
    )


def _signed_in_next(p: Page, form: FormData, transport_id: str, done: str) -> Response:
    """After a save: on to the provider when the server signs in with OAuth2 and a
    provider was chosen (as ``POST /v1/oauth/{provider}/start``), else to ``done``."""
    provider = text(form, "oauth_provider")
    if text(form, "auth") not in MECHANISMS or not provider:
        return RedirectResponse(done, status_code=303)
    try:
        url = sign_in_url(p, "transport", transport_id, provider, optional(form, "login_hint"))
    except MailgateError as exc:
        # Saved, but the sign-in could not start (no client for that provider, …):
        # the edit page says why, beside the provider.
        with p.app.sessions() as session:
            row = svc.public(svc.get_own(session, p.workspace(), transport_id), p.app.secrets)
        values = {
            **_values(row), "oauth_provider": provider, "login_hint": text(form, "login_hint")
        }
        field = "login_hint" if exc.field == "login_hint" else "oauth_provider"
        return _form(p, exc.status, row["kind"], row, values, {field: exc.message})
    return RedirectResponse(url, status_code=303)


def _values(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **row.get("config", {}), **warmup_values(row.get("warmup"))}


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
        return _form(p, exc.status, kind, None, _typed(form, data), errors_of(exc))
    return _signed_in_next(p, form, row.id, f"/transports#{row.id}")


@router.get("/transports/{transport_id}")
def edit(transport_id: str, p: AdminDep) -> HTMLResponse:
    with p.app.sessions() as session:
        row = svc.public(svc.get_own(session, p.workspace(), transport_id), p.app.secrets)
    return _form(p, 200, row["kind"], row, _values(row), {})


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
        return _form(p, exc.status, kind, current, _typed(form, data), errors_of(exc))
    return _signed_in_next(p, form, transport_id, "/transports")


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
