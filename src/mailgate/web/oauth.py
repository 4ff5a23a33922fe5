"""``/oauth``: sign mail servers and sources in to Gmail / Microsoft 365 (docs/oauth.md).

Every smtp transport and imap source whose auth is ``xoauth2`` or ``oauthbearer`` is
listed with its connection state; *Connect* (or *Reconnect*) asks services/oauth.py
for the provider's URL and sends the browser there. The flow is bound to this console
session: the callback refuses any other browser (403).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailgate.core.oauth import MECHANISMS, PROVIDERS
from mailgate.errors import InvalidInput, MailgateError
from mailgate.services import oauth as svc
from mailgate.services import sources as source_service
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import errors_of, optional, text

router = APIRouter()

#: The API's bound on ``login_hint`` (api/oauth.py ``StartIn``): an address's length.
LOGIN_HINT_MAX = 320


def targets(p: Page) -> list[dict[str, Any]]:
    """The workspace's OAuth-signed transports and sources, each with its connection."""
    ws = p.workspace()
    with p.app.sessions() as session:
        links = {(c.transport_id or c.source_id): c for c in svc.connections(session, ws)}
        out = []
        rows: list[tuple[str, Any]] = [
            ("transport", t) for t in transport_service.visible(session, ws) if t.workspace_id == ws
        ]
        rows += [("source", s) for s in source_service.list_(session, ws)]
        for kind, row in rows:
            wanted = "smtp" if kind == "transport" else "imap"
            if row.kind != wanted or (row.config or {}).get("auth") not in MECHANISMS:
                continue
            link = links.get(row.id)
            out.append({
                "kind": kind, "id": row.id, "name": row.name, "auth": row.config["auth"],
                "username": row.config.get("username") or "",
                "connection": svc.public_connection(link) if link is not None else None,
            })
        providers = sorted({c.provider for c in svc.clients(session, ws)})
    return [{**t, "providers": providers} for t in out]


def sign_in_choices(
    p: Page, kind: str, target_id: str | None
) -> tuple[list[str], dict[str, Any] | None]:
    """For a mail server's or source's form: the providers the workspace has OAuth
    clients for, and the target's connection (None when not connected)."""
    with p.app.sessions() as session:
        providers = sorted({c.provider for c in svc.clients(session, p.workspace())})
        connection = None
        if target_id is not None:
            for c in svc.connections(session, p.workspace()):
                if (c.transport_id if kind == "transport" else c.source_id) == target_id:
                    connection = svc.public_connection(c)
    return providers, connection


def sign_in_url(p: Page, kind: str, target_id: str, provider: str, hint: str | None) -> str:
    """The provider's sign-in for a just-saved target, as ``POST /v1/oauth/{provider}/start``
    with the login hint, bound to this console session like *Connect*."""
    if hint is not None and len(hint) > LOGIN_HINT_MAX:
        raise InvalidInput(
            f"login_hint is {len(hint)} characters; at most {LOGIN_HINT_MAX}", field="login_hint"
        )
    with p.app.sessions() as session:
        started = svc.start(
            session, p.app, p.workspace(), provider, {kind: target_id, "login_hint": hint},
            console_nonce=p.user.csrf_token, back="/oauth?connected=" + target_id,
        )
    return str(started["url"])


def _page(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        clients = [svc.public_client(c) for c in svc.clients(session, p.workspace())]
    context = {"failed": None, "errors": {}, "values": {"provider": "google"}, **extra}
    return p.render(
        "oauth.html", status, targets=targets(p), clients=clients, providers=PROVIDERS, **context
    )


@router.get("/oauth")
def oauth_page(p: AdminDep) -> HTMLResponse:
    return _page(p)


@router.post("/oauth/connect")
def connect(p: AdminDep, form: FormDep) -> Response:
    """*Connect*: to the provider, with a state bound to this console session, and the
    login hint (the mailbox's address: the provider preselects that account), as
    ``POST /v1/oauth/{provider}/start`` takes it."""
    kind = "source" if text(form, "kind") == "source" else "transport"
    target, provider = text(form, "id"), text(form, "provider")
    try:
        url = sign_in_url(p, kind, target, provider, optional(form, "login_hint"))
    except MailgateError as exc:
        if exc.status == 404 and exc.field in ("transport", "source"):
            raise
        return _page(p, exc.status, failed={"id": target, "message": exc.message})
    return RedirectResponse(url, status_code=303)


@router.post("/oauth/connections/{connection_id}/delete")
def disconnect(connection_id: str, p: AdminDep, form: FormDep) -> Response:
    """*Disconnect*: revoke at the provider and forget, as ``DELETE /v1/oauth/connections/{id}``."""
    svc.disconnect(p.app, p.workspace(), connection_id)
    return RedirectResponse("/oauth", status_code=303)


@router.post("/oauth/clients")
def register(p: AdminDep, form: FormDep) -> Response:
    """The workspace's own OAuth client (its app at Google or Microsoft), as
    ``POST /v1/oauth/clients`` with a workspace key: its endpoints are held to the
    network policy. An operator may register the installation's instead."""
    body: dict[str, Any] = {
        "provider": text(form, "provider"),
        "client_id": text(form, "client_id"),
        "client_secret": text(form, "client_secret"),
        "tenant": optional(form, "tenant"),
        "authorize_url": optional(form, "authorize_url"),
        "token_url": optional(form, "token_url"),
        "revoke_url": optional(form, "revoke_url"),
        "scopes": text(form, "scopes").split(),
    }
    installation = p.operator and form.get("installation") == "on"
    try:
        with transaction(p.app.sessions) as session:
            svc.register_client(
                session, p.app.secrets, None if installation else p.workspace(), body,
                guard=None if installation else p.app.netguard,
            )
    except MailgateError as exc:
        values = {**body, "client_secret": "", "scopes": " ".join(body["scopes"])}
        return _page(p, exc.status, errors=errors_of(exc), values=values)
    return RedirectResponse("/oauth", status_code=303)
