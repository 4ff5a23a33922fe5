"""Workspace settings: ``/addresses``, ``/suppressions``, ``/webhooks``, ``/apikeys``, ``/users``.

Each goes through the service the API uses; a secret or key is shown once, on the
page that answers its creation, and never again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailgate.errors import MailgateError
from mailgate.events import webhooks
from mailgate.services import addresses as address_service
from mailgate.services import suppressions as suppression_service
from mailgate.services import tenancy, users
from mailgate.store.db import transaction
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import errors_of, text

router = APIRouter()


# --- addresses ---------------------------------------------------------------------------


def _addresses(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows = [address_service.public(r) for r in address_service.listing(session, p.workspace())]
    return p.render("addresses.html", status, rows=rows, **{"errors": {}, "values": {}, **extra})


@router.get("/addresses")
def addresses(p: AdminDep) -> HTMLResponse:
    return _addresses(p)


@router.post("/addresses")
def add_address(p: AdminDep, form: FormDep) -> Response:
    data = {"address": text(form, "address")}
    try:
        with transaction(p.app.sessions) as session:
            address_service.create(session, p.workspace(), data, operator=p.operator)
    except MailgateError as exc:
        if exc.status == 404:
            raise
        return _addresses(p, exc.status, errors=errors_of(exc), values=data)
    return RedirectResponse("/addresses", status_code=303)


@router.post("/addresses/{address_id}/verify")
async def verify_address(address_id: str, p: AdminDep, form: FormDep) -> Response:
    from mailgate.store.executors import run_in

    def workspace() -> Any:
        with p.app.sessions() as session:
            return tenancy.get_workspace(session, p.workspace())

    ws = await run_in(p.app.executors.api, workspace)
    await address_service.send_verification(p.app, ws, address_id)
    return RedirectResponse("/addresses?sent=1", status_code=303)


# --- suppressions ------------------------------------------------------------------------


def _suppressions(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows, _ = suppression_service.listing(
            session, p.workspace(), reason=None, limit=200, after=None
        )
        items = [suppression_service.public(r) for r in rows]
    context = {"errors": {}, "values": {}, **extra}
    return p.render("suppressions.html", status, rows=items, **context)


@router.get("/suppressions")
def suppressions(p: AdminDep) -> HTMLResponse:
    return _suppressions(p)


@router.post("/suppressions")
def add_suppression(p: AdminDep, form: FormDep) -> Response:
    address, scope = text(form, "address"), text(form, "scope") or "all"
    try:
        with transaction(p.app.sessions) as session:
            suppression_service.add(session, p.workspace(), address, scope=scope)
    except MailgateError as exc:
        return _suppressions(p, exc.status, errors=errors_of(exc), values={"address": address})
    return RedirectResponse("/suppressions", status_code=303)


@router.post("/suppressions/lift")
def lift(p: AdminDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        suppression_service.remove(
            session, p.workspace(), text(form, "address"), text(form, "scope") or None
        )
    return RedirectResponse("/suppressions", status_code=303)


# --- webhooks ----------------------------------------------------------------------------


def _webhooks(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows = [webhooks.public(r) for r in webhooks.listing(session, p.workspace())]
    from mailgate.store.eventlog import EVENT_TYPES

    return p.render(
        "webhooks.html", status, rows=rows, event_types=EVENT_TYPES,
        **{"errors": {}, "values": {}, "secret": None, **extra},
    )


@router.get("/webhooks")
def webhook_list(p: AdminDep) -> HTMLResponse:
    return _webhooks(p)


@router.post("/webhooks")
def add_webhook(p: AdminDep, form: FormDep) -> Response:
    url = text(form, "url")
    events = [e for e in form.getlist("events") if isinstance(e, str)] or ["*"]
    try:
        with transaction(p.app.sessions) as session:
            row, secret = webhooks.create(
                session, p.app.secrets, p.workspace(), url=url, events=events,
                operator=p.operator, guard=p.app.netguard,
            )
            shown = {"id": row.id, "secret": secret}
    except MailgateError as exc:
        return _webhooks(p, exc.status, errors=errors_of(exc), values={"url": url})
    return _webhooks(p, 201, secret=shown)


@router.post("/webhooks/{webhook_id}/rotate")
def rotate(webhook_id: str, p: AdminDep, form: FormDep) -> Response:
    secret = webhooks.new_secret()
    with transaction(p.app.sessions) as session:
        row = webhooks.get(session, p.workspace(), webhook_id)
        webhooks.update(
            session, p.app.secrets, row, {"secret": secret}, operator=p.operator,
            guard=p.app.netguard,
        )
    # The new secret is shown this once, on the endpoint's own page.
    return _webhook_page(p, webhook_id, secret={"id": webhook_id, "secret": secret})


@router.post("/webhooks/{webhook_id}/test")
def test_webhook(webhook_id: str, p: AdminDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        webhooks.send_test(session, webhooks.get(session, p.workspace(), webhook_id))
    p.app.wake_workers()
    return RedirectResponse(f"/webhooks/{webhook_id}", status_code=303)


@router.post("/webhooks/{webhook_id}/delete")
def delete_webhook(webhook_id: str, p: AdminDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        session.delete(webhooks.get(session, p.workspace(), webhook_id))
    return RedirectResponse("/webhooks", status_code=303)


def _webhook_page(p: Page, webhook_id: str, status: int = 200, **extra: Any) -> HTMLResponse:
    """One endpoint: its edit form, *Send a test*, *New secret*, and the delivery log."""
    from mailgate.store.eventlog import EVENT_TYPES

    with p.app.sessions() as session:
        row = webhooks.public(webhooks.get(session, p.workspace(), webhook_id))
        items, _ = webhooks.deliveries(session, p.workspace(), webhook_id, limit=50, before=None)
    context = {"errors": {}, "values": row, "secret": None, **extra}
    return p.render(
        "webhook.html", status, hook=row, items=items, event_types=EVENT_TYPES, **context
    )


@router.get("/webhooks/{webhook_id}")
def webhook_log(webhook_id: str, p: AdminDep) -> HTMLResponse:
    return _webhook_page(p, webhook_id)


@router.post("/webhooks/{webhook_id}")
def edit_webhook(webhook_id: str, p: AdminDep, form: FormDep) -> Response:
    """URL, events and enabled, as ``PATCH /v1/webhooks/{id}`` (the secret is rotated apart)."""
    data = {
        "url": text(form, "url"),
        "events": [e for e in form.getlist("events") if isinstance(e, str)],
        "enabled": form.get("enabled") == "on",
    }
    try:
        with transaction(p.app.sessions) as session:
            row = webhooks.get(session, p.workspace(), webhook_id)
            webhooks.update(
                session, p.app.secrets, row, data, operator=p.operator, guard=p.app.netguard
            )
    except MailgateError as exc:
        if exc.status == 404:
            raise
        return _webhook_page(p, webhook_id, exc.status, errors=errors_of(exc), values=data)
    return RedirectResponse(f"/webhooks/{webhook_id}?saved=1", status_code=303)


# --- API keys ----------------------------------------------------------------------------


def _keys(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows = [tenancy.public_key(r) for r in tenancy.list_keys(session, p.workspace())]
    return p.render("apikeys.html", status, rows=rows, **{"created": None, **extra})


@router.get("/apikeys")
def apikeys(p: AdminDep) -> HTMLResponse:
    return _keys(p)


@router.post("/apikeys")
def create_key(p: AdminDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        row, plaintext = tenancy.create_api_key(session, p.workspace(), text(form, "name"))
        created = {"id": row.id, "key": plaintext}
    return _keys(p, 201, created=created)


@router.post("/apikeys/{key_id}/revoke")
def revoke_key(key_id: str, p: AdminDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        tenancy.revoke_key(session, tenancy.get_key(session, p.workspace(), key_id))
    return RedirectResponse("/apikeys", status_code=303)


# --- users -------------------------------------------------------------------------------


def _users(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        rows = [users.public_user(u) for u in users.list_users(session, p.workspace())]
    return p.render("users.html", status, rows=rows, **{"errors": {}, "values": {}, **extra})


@router.get("/users")
def user_list(p: AdminDep) -> HTMLResponse:
    return _users(p)


@router.post("/users")
def invite(p: AdminDep, form: FormDep) -> Response:
    """An admin adds a user of their workspace, with a first password to pass on."""
    email, role = text(form, "email"), text(form, "role") or "agent"
    if role not in ("admin", "agent"):
        role = "agent"
    try:
        with transaction(p.app.sessions) as session:
            users.create_user(
                session, email, str(form.get("password") or ""), role, p.workspace()
            )
    except MailgateError as exc:
        return _users(p, exc.status, errors=errors_of(exc), values={"email": email, "role": role})
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/disable")
def disable_user(user_id: str, p: AdminDep, form: FormDep) -> Response:
    """Sign a user of this workspace out for good; their conversations become unassigned."""
    try:
        with transaction(p.app.sessions) as session:
            users.disable_user(session, p.workspace(), user_id, by=p.user.user_id)
    except MailgateError as exc:
        if exc.status == 404:
            raise
        return _users(p, exc.status, errors={"_list": exc.message})
    return RedirectResponse("/users", status_code=303)
