"""Connecting transports and sources to Gmail / Microsoft 365 with OAuth2 (docs/oauth.md).

1. An operator registers the installation's OAuth client (or a workspace its own):
   :func:`register_client`. The secret is encrypted and never returned.
2. An admin starts the connection: :func:`start` answers the provider's URL
   (authorization code + PKCE ``S256``). The ``state`` is the encrypted binding of
   workspace, target, provider client and PKCE verifier, valid for ten minutes:
   nothing is stored before the callback, and nobody can forge or read it.
3. The provider sends the browser to ``/oauth/callback``: :func:`callback` checks
   the state, exchanges the code and stores the tokens, encrypted, on the target's
   connection row. A reconnect replaces them in place, and the mail that waited
   for it (``reauth_required``) is due again at once.

Refreshing before expiry, the lease, and health states are ``outbound/oauth_tokens.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailgate.core import oauth as core
from mailgate.crypto import SecretBox
from mailgate.errors import Conflict, Forbidden, InvalidInput, NotFound
from mailgate.outbound import oauth_tokens
from mailgate.outbound.netguard import NetGuard
from mailgate.services import users
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import (
    MessageRow,
    OAuthClient,
    OAuthConnection,
    Source,
    TransportRow,
    new_id,
    utcnow,
)

#: How long an admin has between "connect" and the provider's redirect.
STATE_SECONDS = 600
#: The console's session cookie (web/base.py SESSION_COOKIE): a flow started in the
#: console is finished only by the browser holding the same console session.
CONSOLE_COOKIE = "mg_session"


def redirect_uri(app: Context) -> str:
    return app.settings.public_base.rstrip("/") + "/oauth/callback"


# -- client registrations ----------------------------------------------------------


def register_client(
    session: Session,
    box: SecretBox,
    workspace_id: str | None,
    body: dict[str, Any],
    *,
    guard: NetGuard | None = None,
) -> OAuthClient:
    """Create or replace the registration of ``body["provider"]`` for the installation
    (``workspace_id`` None) or one workspace. A workspace's endpoints are held to the
    network policy (``guard``): an address literal now, a name when it is used."""
    provider = body["provider"]
    if provider not in core.PROVIDERS:
        raise InvalidInput(f"provider must be one of {', '.join(core.PROVIDERS)}", field="provider")
    for key in ("client_id", "client_secret"):  # the API's model checks it first; the console not
        if not str(body.get(key) or "").strip():
            raise InvalidInput(f"{key} is required", field=key)
    settings: dict[str, Any] = {}
    for key in ("authorize_url", "token_url", "revoke_url", "tenant"):
        if body.get(key):
            settings[key] = str(body[key])
    for key in ("authorize_url", "token_url", "revoke_url"):
        if key not in settings:
            continue
        parts = urlsplit(settings[key])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"{key} must be an http(s) URL", field=key)
        reason = guard.literal_refusal(parts.hostname) if guard is not None else None
        if reason is not None:
            raise Forbidden(f"{key}: {parts.hostname} is {reason}", field=key)
    if body.get("scopes"):
        settings["scopes"] = [str(s) for s in body["scopes"]]
    if provider == "generic":
        for key in ("authorize_url", "token_url"):
            if key not in settings:
                raise InvalidInput(f"a generic provider needs {key}", field=key)
        if not settings.get("scopes"):
            raise InvalidInput("a generic provider needs its scopes", field="scopes")
    row = session.scalars(
        select(OAuthClient).where(
            OAuthClient.provider == provider,
            OAuthClient.workspace_id.is_(None)
            if workspace_id is None
            else OAuthClient.workspace_id == workspace_id,
        )
    ).first()
    if row is None:
        row = OAuthClient(id=new_id("oac"), workspace_id=workspace_id, provider=provider)
        session.add(row)
    row.client_id = body["client_id"]
    row.secrets = box.encrypt({"client_secret": body["client_secret"]})
    row.settings = settings
    session.flush()
    return row


def public_client(row: OAuthClient) -> dict[str, Any]:
    return {
        "id": row.id,
        "provider": row.provider,
        "client_id": row.client_id,
        "scope": "installation" if row.workspace_id is None else "workspace",
        **row.settings,
        "client_secret": "(set)",
    }


def clients(session: Session, workspace_id: str | None) -> list[OAuthClient]:
    q = select(OAuthClient).where(OAuthClient.workspace_id.is_(None))
    if workspace_id is not None:
        q = select(OAuthClient).where(
            (OAuthClient.workspace_id == workspace_id) | OAuthClient.workspace_id.is_(None)
        )
    return list(session.scalars(q.order_by(OAuthClient.id)))


def client_for(session: Session, workspace_id: str, provider: str) -> OAuthClient:
    """The workspace's own registration for ``provider``, else the installation's."""
    rows = [r for r in clients(session, workspace_id) if r.provider == provider]
    rows.sort(key=lambda r: r.workspace_id is None)
    if not rows:
        raise NotFound(
            f"no OAuth client is registered for {provider!r}: an operator sets one with "
            "POST /v1/oauth/clients",
            field="provider",
        )
    return rows[0]


# -- the connect flow -----------------------------------------------------------------


def _target(session: Session, workspace_id: str, body: dict[str, Any]) -> tuple[str, str]:
    transport_id, source_id = body.get("transport"), body.get("source")
    if bool(transport_id) == bool(source_id):
        raise InvalidInput("name exactly one of transport or source", field="transport")
    if transport_id:
        t = session.get(TransportRow, transport_id)
        if t is None or t.workspace_id != workspace_id:
            raise NotFound(f"no transport {transport_id!r} in this workspace", field="transport")
        if t.kind != "smtp" or t.config.get("auth") not in core.MECHANISMS:
            raise InvalidInput(
                "only an smtp transport with auth 'xoauth2' or 'oauthbearer' signs in with OAuth2",
                field="transport",
            )
        return "transport", t.id
    s = session.get(Source, source_id)
    if s is None or s.workspace_id != workspace_id:
        raise NotFound(f"no source {source_id!r} in this workspace", field="source")
    if s.kind != "imap" or s.config.get("auth") not in core.MECHANISMS:
        raise InvalidInput(
            "only an imap source with auth 'xoauth2' or 'oauthbearer' signs in with OAuth2",
            field="source",
        )
    return "source", s.id


def console_binding(session_nonce: str) -> str:
    """What a console-started state carries of the console session: a digest of the
    session's own random nonce (its CSRF token, stored with the session), never the
    nonce itself."""
    return hashlib.sha256(b"mailgate oauth flow\0" + session_nonce.encode()).hexdigest()


def start(
    session: Session,
    app: Context,
    workspace_id: str,
    provider: str,
    body: dict[str, Any],
    *,
    console_nonce: str | None = None,
    back: str | None = None,
) -> dict[str, Any]:
    """The provider's authorization URL for the admin to open.

    ``console_nonce`` (the console session's nonce) binds the flow to that session:
    the callback then refuses any browser but the one signed in to it, and sends it
    back to ``back`` (a console path). API-started flows are bound by the state alone.
    """
    if provider not in core.PROVIDERS:
        raise NotFound(f"no OAuth provider {provider!r}", field="provider")
    client = client_for(session, workspace_id, provider)
    kind, target = _target(session, workspace_id, body)
    preset = core.provider_for(client.provider, client.settings)
    verifier, challenge = core.pkce_pair()
    state = app.secrets.encrypt(
        {
            "ws": workspace_id,
            "kind": kind,
            "target": target,
            "client": client.id,
            "verifier": verifier,
            "exp": time.time() + STATE_SECONDS,
            **(
                {"console": console_binding(console_nonce), "back": back or "/"}
                if console_nonce
                else {}
            ),
        }
    )
    url = core.authorize_url(
        preset,
        client_id=client.client_id,
        redirect_uri=redirect_uri(app),
        state=state,
        challenge=challenge,
        login_hint=body.get("login_hint"),
    )
    return {"url": url, "redirect_uri": redirect_uri(app)}


def _read_state(app: Context, state: str) -> dict[str, Any]:
    try:
        data = app.secrets.decrypt(state)
    except Exception:
        data = {}
    if not data.get("verifier"):
        raise Forbidden("this sign-in link is not one mailgate made", field="state")
    if float(data.get("exp", 0)) < time.time():
        raise Forbidden("this sign-in took too long: start the connection again", field="state")
    return data


def callback(app: Context, params: dict[str, str]) -> dict[str, Any]:
    """Finish the flow the provider redirected back from; the connection's view."""
    return finish(app, params, None)[0]


def _same_console_session(app: Context, data: dict[str, Any], cookie: str | None) -> None:
    """A console-started flow is finished by the console session that started it only:
    otherwise a tenant could send another mailbox owner the provider's consent link
    and have that owner's approval land on the tenant's transport."""
    with app.sessions() as session:
        user = users.signed_in(session, cookie)
    given = console_binding(user.csrf_token) if user is not None else ""
    if not hmac.compare_digest(given.encode(), str(data["console"]).encode()):
        raise Forbidden(
            "this connection was started in the mailgate console: finish it in the same "
            "browser, signed in to the console as the admin who pressed Connect",
            field="state",
        )


def finish(
    app: Context, params: dict[str, str], console_cookie: str | None
) -> tuple[dict[str, Any], str | None]:
    """:func:`callback`, with the browser's console session cookie: the connection's
    view and, for a console-started flow, the console page to send the browser to."""
    data = _read_state(app, params.get("state", ""))
    if data.get("console"):
        _same_console_session(app, data, console_cookie)
    if params.get("error"):
        why = params.get("error_description") or params["error"]
        raise Conflict(f"the provider did not grant access: {why}", field="error")
    code = params.get("code")
    if not code:
        raise InvalidInput("the provider sent no code", field="code")
    with app.sessions() as session:
        client = session.get(OAuthClient, data["client"])
        if client is None:
            raise NotFound("the OAuth client was removed meanwhile", field="state")
        session.expunge(client)
    try:
        r = oauth_tokens.token_request(
            app,
            client,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri(app),
                "code_verifier": data["verifier"],
            },
        )
        answer = oauth_tokens.json_of(r)
    except Exception as e:
        raise Conflict(f"the token endpoint could not be reached: {e}", field="code") from e
    if r.status_code != 200 or not answer.get("access_token"):
        why = answer.get("error_description") or answer.get("error") or f"HTTP {r.status_code}"
        raise Conflict(f"the provider refused the code: {why}", field="code")
    if not answer.get("refresh_token"):
        raise Conflict(
            "the provider issued no refresh token (Google: prompt=consent; Microsoft: the "
            "offline_access scope)",
            field="code",
        )
    now = utcnow()
    column = (
        OAuthConnection.transport_id if data["kind"] == "transport" else OAuthConnection.source_id
    )
    with transaction(app.sessions) as session:
        model = TransportRow if data["kind"] == "transport" else Source
        if session.get(model, data["target"]) is None:
            raise NotFound(f"the {data['kind']} was deleted meanwhile", field="state")
        row = session.scalars(select(OAuthConnection).where(column == data["target"])).first()
        if row is None:
            row = OAuthConnection(
                id=new_id("oc"), workspace_id=data["ws"], state="ok", created_at=now
            )
            setattr(row, f"{data['kind']}_id", data["target"])
            session.add(row)
        row.client_ref = client.id
        row.tokens = None  # a reconnect replaces every token in place
        row.lease_owner = row.lease_until = None
        oauth_tokens.store_tokens(app, row, answer, now)
        oauth_tokens.set_state(session, row, "ok", None)
        session.flush()
        if data["kind"] == "transport":
            # Mail that waited for this reconnect is due now, not at its next backoff.
            session.execute(
                update(MessageRow)
                .where(
                    MessageRow.transport_id == data["target"],
                    MessageRow.status == "deferred",
                )
                .values(next_attempt_at=now)
            )
        back = str(data["back"]) if data.get("console") else None
        return public_connection(row), back


def public_connection(row: OAuthConnection) -> dict[str, Any]:
    return {
        "id": row.id,
        "transport_id": row.transport_id,
        "source_id": row.source_id,
        "state": row.state,
        "scope": row.scope,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "last_error": row.last_error,
        "updated_at": row.updated_at.isoformat(),
    }


def connections(session: Session, workspace_id: str) -> list[OAuthConnection]:
    q = select(OAuthConnection).where(OAuthConnection.workspace_id == workspace_id)
    return list(session.scalars(q.order_by(OAuthConnection.id)))


def disconnect(app: Context, workspace_id: str, connection_id: str) -> None:
    """Revoke the refresh token at the provider (RFC 7009, where it has the endpoint)
    and forget the connection; its transport's mail then waits for a new one."""
    with app.sessions() as session:
        row = session.get(OAuthConnection, connection_id)
        if row is None or row.workspace_id != workspace_id:
            raise NotFound(f"no OAuth connection {connection_id!r}", field="id")
        client = session.get(OAuthClient, row.client_ref)
        tokens = app.secrets.decrypt(row.tokens) if row.tokens else {}
        if client is not None:
            session.expunge(client)
    if client is not None and tokens.get("refresh_token"):
        revoke(app, client, str(tokens["refresh_token"]))
    with transaction(app.sessions) as session:
        row = session.get(OAuthConnection, connection_id)
        if row is not None:
            session.delete(row)


def revoke(app: Context, client: OAuthClient, token: str) -> None:
    """RFC 7009 §2.1, best effort: the provider may be away; we forget the token anyway."""
    import httpx

    url = core.provider_for(client.provider, client.settings).revoke_url
    if not url:
        return
    try:
        oauth_tokens.guard_endpoint(app, client, url)
        secret = oauth_tokens.client_secret(app, client)
        with httpx.Client(timeout=15) as http:
            http.post(
                url,
                data={"token": token, "token_type_hint": "refresh_token"},
                auth=(client.client_id, secret),
            )
    except Exception:  # revocation is a courtesy to the provider, never a blocker
        return
