"""``/inbound``: sources (state, last error, poll now; add, edit, enable, delete) and dead
letters (reason, raw, reprocess).

A source's form is drawn from its kind's config model (IMAP, POP3, and every push
kind such as Mailgun: inbound/kinds.py), and saved through the same service calls as
``POST``/``PATCH /v1/sources``; the service's refusal is shown beside the field it
names. Secrets (a mailbox password, a signing key) are write-only: never put back in
the form, and an empty password field on edit keeps the stored one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from mailgate.core.oauth import MECHANISMS
from mailgate.errors import InvalidInput, MailgateError
from mailgate.services import console
from mailgate.services import sources as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import checked, errors_of, optional, text
from mailgate.web.oauth import sign_in_choices, sign_in_url
from mailgate.web.schemaform import config_of, fields_of

router = APIRouter()

#: Source kinds that may sign in with an OAuth2 token (services/oauth.py ``_target``).
OAUTH_KINDS = ("imap",)


def _view(p: Page, row: Any) -> dict[str, Any]:
    """The API's view of a source (no secrets), with the push URL to paste at the provider."""
    out = svc.public(row, p.app.secrets)
    if "push_path" in out:
        out["push_url"] = p.app.settings.public_base.rstrip("/") + out["push_path"]
    return out


def _page(p: Page, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        sources = [_view(p, r) for r in svc.list_(session, p.workspace())]
        dead, _ = console.inbound(session, p.workspace(), "dead", limit=50)
    return p.render(
        "inbound.html", sources=sources, stats={"dead_letters": dead}, kinds=sorted(svc.KINDS),
        **extra,
    )


@router.get("/inbound")
def inbound(p: AdminDep) -> HTMLResponse:
    return _page(p)


@router.post("/inbound/sources/{source_id}/poll")
async def poll(source_id: str, p: AdminDep, form: FormDep) -> Response:
    try:
        result = await run_in(p.app.executors.api, svc.poll_now, p.app, p.workspace(), source_id)
        polled = {"id": source_id, "ok": True, "taken": result.taken, "message": ""}
    except MailgateError as exc:
        if exc.status == 404:
            raise
        polled = {"id": source_id, "ok": False, "message": exc.message}
    except Exception as exc:  # the mailbox's own words (connection refused, bad login)
        polled = {"id": source_id, "ok": False, "message": str(exc)}
    p.app.wake_workers()
    return await run_in(p.app.executors.api, lambda: _page(p, polled=polled))


# --- the source form -----------------------------------------------------------------------


def fields(kind: str, operator: bool) -> list[dict[str, Any]]:
    return fields_of(svc.config_model(kind), svc.secret_fields(kind), operator)


def _check_name(p: Page, name: str) -> None:
    """The API's MAILGATE_MAX_NAME_LENGTH rule (api/limits.py check_name), same words."""
    limit = p.app.settings.max_name_length
    if len(name) > limit:
        raise InvalidInput(
            f"name is {len(name)} characters; the limit is {limit} (MAILGATE_MAX_NAME_LENGTH)",
            field="name",
        )


def _data(form: FormData, kind: str, operator: bool, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": text(form, "name"),
        "enabled": checked(form, "enabled"),
        "config": config_of(form, fields(kind, operator), creating, empty_secret=False),
    }
    if creating:
        data["kind"] = kind
    return data


def _shown(form: FormData, data: dict[str, Any], kind: str) -> dict[str, Any]:
    """What a refused form shows again: what was typed, never a secret."""
    secret = svc.secret_fields(kind)
    config = {k: v for k, v in data["config"].items() if k not in secret}
    return {
        **{k: v for k, v in data.items() if k != "config"}, **config,
        "oauth_provider": text(form, "oauth_provider"), "login_hint": text(form, "login_hint"),
    }


def _form(
    p: Page, code: int, kind: str, row: dict[str, Any] | None, values: dict[str, Any],
    errors: dict[str, str],
) -> HTMLResponse:
    providers, connection = sign_in_choices(p, "source", row["id"] if row else None)
    return p.render(
        "source_form.html", code, row=row, kind=kind, kinds=sorted(svc.KINDS), values=values,
        errors=errors, fields=fields(kind, p.operator), connection=connection,
        providers=providers, oauth_kind=kind in OAUTH_KINDS,
    )


def _signed_in_next(p: Page, form: FormData, source_id: str) -> Response:
    """After a save: on to the provider's sign-in when the source signs in with OAuth2
    and a provider was chosen (web/oauth.py), else back to the source's page."""
    provider = text(form, "oauth_provider")
    done = RedirectResponse(f"/inbound/sources/{source_id}?saved=1", status_code=303)
    if text(form, "config.auth") not in MECHANISMS or not provider:
        return done
    try:
        url = sign_in_url(p, "source", source_id, provider, optional(form, "login_hint"))
    except MailgateError as exc:
        with p.app.sessions() as session:
            row = _view(p, svc.get(session, p.workspace(), source_id))
        field = "login_hint" if exc.field == "login_hint" else "oauth_provider"
        values = {
            **row, **row["config"], "oauth_provider": provider,
            "login_hint": text(form, "login_hint"),
        }
        return _form(p, exc.status, row["kind"], row, values, {field: exc.message})
    return RedirectResponse(url, status_code=303)


@router.get("/inbound/sources/new")
def new(p: AdminDep, kind: str = "imap") -> HTMLResponse:
    if kind not in svc.KINDS:
        kind = "imap"
    return _form(p, 200, kind, None, {"enabled": True}, {})


@router.post("/inbound/sources/new")
def create(p: AdminDep, form: FormDep) -> Response:
    kind = text(form, "kind")
    if kind not in svc.KINDS:
        kind = "imap"  # the form's tabs offer only known kinds; the service refuses others
    data = _data(form, kind, p.operator, True)
    data["kind"] = text(form, "kind")
    try:
        _check_name(p, data["name"])
        row = svc.save(p.app, p.workspace(), data, operator=p.operator)
    except MailgateError as exc:
        return _form(p, exc.status, kind, None, _shown(form, data, kind), errors_of(exc))
    return _signed_in_next(p, form, row.id)


@router.get("/inbound/sources/{source_id}")
def edit(source_id: str, p: AdminDep) -> HTMLResponse:
    with p.app.sessions() as session:
        row = _view(p, svc.get(session, p.workspace(), source_id))
    return _form(p, 200, row["kind"], row, {**row, **row["config"]}, {})


@router.post("/inbound/sources/{source_id}")
def update(source_id: str, p: AdminDep, form: FormDep) -> Response:
    with p.app.sessions() as session:
        kind = svc.get(session, p.workspace(), source_id).kind
    data = _data(form, kind, p.operator, False)
    try:
        _check_name(p, data["name"])
        with transaction(p.app.sessions) as session:
            row = svc.get(session, p.workspace(), source_id)
            svc.update(p.app.secrets, row, data, operator=p.operator, guard=p.app.netguard)
    except MailgateError as exc:
        if exc.status == 404:
            raise
        with p.app.sessions() as session:
            current = _view(p, svc.get(session, p.workspace(), source_id))
        return _form(p, exc.status, kind, current, _shown(form, data, kind), errors_of(exc))
    p.app.wake_workers()  # the poller supervisor restarts an edited source
    return _signed_in_next(p, form, source_id)


@router.post("/inbound/sources/{source_id}/enabled")
def toggle(source_id: str, p: AdminDep, form: FormDep) -> Response:
    """Enable or disable, as ``PATCH /v1/sources/{id}`` with ``{"enabled": …}``."""
    with transaction(p.app.sessions) as session:
        row = svc.get(session, p.workspace(), source_id)
        svc.update(
            p.app.secrets, row, {"enabled": checked(form, "enabled")}, operator=p.operator,
            guard=p.app.netguard,
        )
    p.app.wake_workers()
    return RedirectResponse("/inbound", status_code=303)


@router.post("/inbound/sources/{source_id}/delete")
def delete(source_id: str, p: AdminDep, form: FormDep) -> Response:
    """As ``DELETE /v1/sources/{id}``: the source goes, the mail it brought stays."""
    with transaction(p.app.sessions) as session:
        svc.remove(session, svc.get(session, p.workspace(), source_id))
    p.app.wake_workers()
    return RedirectResponse("/inbound", status_code=303)
