"""Fresh OAuth2 access tokens for transports and sources (docs/oauth.md).

Here (below ``queue`` and ``inbound``) because the delivery path and the IMAP
poller both need a token right before they authenticate; the connect flow itself
(authorization URL, callback) is ``services/oauth.py``.

A refresh happens once across every worker: the connection row is leased
(``queue/lease.py``'s columns) while one worker talks to the token endpoint; the
others wait for the lease to end and read the new token. The answer — the new
access token and the rotated refresh token — is written in the transaction that
ends the lease, only if this worker still holds it. A refresh the provider refuses
(``invalid_grant``: revoked, expired, password changed) moves the connection to
``reauth_required``; mail waits for a reconnect. Every state change is an
``oauth.state_changed`` event.
"""

from __future__ import annotations

import base64
import logging
import time
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Table, or_, select, update
from sqlalchemy.orm import Session

from mailgate.core.oauth import provider_for
from mailgate.errors import Conflict
from mailgate.outbound.netguard import NetGuard
from mailgate.store import eventlog
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import OAuthClient, OAuthConnection, new_id, utcnow

log = logging.getLogger(__name__)

#: Refresh this long before the provider's expiry (clock skew, a slow SMTP dialogue).
REFRESH_MARGIN = timedelta(seconds=120)
LEASE = timedelta(seconds=30)
REAUTH = "reauth_required"


class ReauthRequired(Conflict):
    """The connection needs an administrator to connect it again (docs/oauth.md)."""

    code = REAUTH


class TokenUnavailable(Conflict):
    """The token endpoint could not be reached or failed: try again later."""

    code = "oauth_unavailable"


def set_state(session: Session, conn: OAuthConnection, state: str, reason: str | None) -> None:
    """Move ``conn`` to ``state``; an event when it changed."""
    if conn.state == state:
        conn.last_error = reason if state == REAUTH else conn.last_error
        return
    previous, conn.state = conn.state, state
    conn.last_error = reason
    conn.updated_at = utcnow()
    eventlog.emit(
        session,
        conn.workspace_id,
        "oauth.state_changed",
        {
            "connection_id": conn.id,
            "transport_id": conn.transport_id,
            "source_id": conn.source_id,
            "state": state,
            "previous": previous,
            "reason": reason,
        },
    )


def client_secret(app: Context, client: OAuthClient) -> str:
    return str(app.secrets.decrypt(client.secrets).get("client_secret", ""))


def token_request(app: Context, client: OAuthClient, form: dict[str, str]) -> httpx.Response:
    """POST to the client's token endpoint (RFC 6749 §3.2).

    Client authentication: Google and Microsoft document ``client_id`` and
    ``client_secret`` in the body, so the presets send them so; a ``generic`` server
    gets HTTP Basic, the RFC's default (§2.3.1). Microsoft wants the scopes again on
    a refresh. A workspace's own endpoint is held to the network policy; the
    operator's registrations are trusted.
    """
    provider = provider_for(client.provider, client.settings)
    guard_endpoint(app, client, provider.token_url)
    secret = client_secret(app, client)
    headers = {"Accept": "application/json"}
    form = dict(form)
    if client.provider == "generic":
        basic = base64.b64encode(f"{_form_enc(client.client_id)}:{_form_enc(secret)}".encode())
        headers["Authorization"] = f"Basic {basic.decode()}"
    else:
        form.update(client_id=client.client_id, client_secret=secret)
    if client.provider == "microsoft" and form.get("grant_type") == "refresh_token":
        form["scope"] = " ".join(provider.scopes)
    with httpx.Client(timeout=30) as http:
        return http.post(provider.token_url, data=form, headers=headers)


def guard_endpoint(app: Context, client: OAuthClient, url: str) -> None:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    guard = NetGuard.from_settings(app.settings).trusting(client.workspace_id is None)
    guard.check(parts.hostname or "", port)


def _form_enc(value: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(value)


def store_tokens(
    app: Context, conn: OAuthConnection, answer: dict[str, Any], now: datetime
) -> None:
    """Write a token endpoint answer on ``conn``: a rotated refresh token replaces the
    old one; an answer without one keeps it (RFC 6749 §6: rotation is optional)."""
    old = app.secrets.decrypt(conn.tokens) if conn.tokens else {}
    refresh = answer.get("refresh_token") or old.get("refresh_token")
    conn.tokens = app.secrets.encrypt(
        {"access_token": str(answer["access_token"]), "refresh_token": refresh}
    )
    lifetime = int(answer.get("expires_in") or 3600)
    conn.expires_at = now + timedelta(seconds=lifetime)
    if answer.get("scope"):
        conn.scope = str(answer["scope"])
    conn.updated_at = now


def _where(transport_id: str | None, source_id: str | None) -> Any:
    if transport_id:
        return OAuthConnection.transport_id == transport_id
    return OAuthConnection.source_id == source_id


def fresh_token(
    app: Context,
    *,
    transport_id: str | None = None,
    source_id: str | None = None,
    wait: float = 30,
) -> str:
    """A valid access token for the transport's or source's connection (blocking).

    Raises :class:`ReauthRequired` when it needs a reconnect, and
    :class:`TokenUnavailable` when the provider cannot be reached now, or when
    another worker's refresh is not done within ``wait`` seconds (the delivery path
    passes 0: it defers the message instead of blocking its lane).
    """
    owner = f"oauth:{new_id('l')}"
    deadline = time.monotonic() + wait
    while True:
        now = utcnow()
        with transaction(app.sessions) as session:
            conn = session.scalars(select(OAuthConnection).where(_where(transport_id, source_id)))
            row = conn.first()
            if row is None:
                raise ReauthRequired("not connected: POST /v1/oauth/{provider}/start connects it")
            if row.state == REAUTH:
                why = row.last_error or "access was withdrawn"
                raise ReauthRequired(f"reconnect needed: {why}")
            tokens = app.secrets.decrypt(row.tokens)
            if row.expires_at and row.expires_at - REFRESH_MARGIN > now and row.state == "ok":
                return str(tokens["access_token"])
            if _claim(session, row, owner, now):
                set_state(session, row, "refreshing", None)
                conn_id, refresh = row.id, str(tokens.get("refresh_token") or "")
                client = session.get(OAuthClient, row.client_ref)
                assert client is not None  # the foreign key
                session.expunge(client)
                break
        if time.monotonic() >= deadline:
            raise TokenUnavailable("another worker is refreshing this connection's token")
        time.sleep(0.05)
    return _refresh(app, conn_id, client, refresh, owner)


def _claim(session: Session, row: OAuthConnection, owner: str, now: datetime) -> bool:
    """Take the refresh lease, compare-and-set: only if nobody holds it live and the
    tokens are still the ones just read (a worker that refreshed meanwhile rotated
    the refresh token: using the old one would look like a revocation)."""
    table = cast(Table, OAuthConnection.__table__)
    won = session.execute(
        update(table)
        .where(
            table.c.id == row.id,
            table.c.tokens == row.tokens,
            or_(table.c.lease_owner.is_(None), table.c.lease_until <= now),
        )
        .values(lease_owner=owner, lease_until=now + LEASE)
        .returning(table.c.id)
    ).first()
    return won is not None


def _refresh(app: Context, conn_id: str, client: OAuthClient, refresh: str, owner: str) -> str:
    try:
        r = token_request(app, client, {"grant_type": "refresh_token", "refresh_token": refresh})
        answer = json_of(r)
    except Exception as e:  # the network, the policy: not the user's consent
        _release(app, conn_id, owner, "ok")
        raise TokenUnavailable(f"token endpoint: {e}") from e
    refused = r.status_code in (400, 401) and answer.get("error") in (
        "invalid_grant",
        "unauthorized_client",
        "invalid_client",
    )
    now = utcnow()
    failure: Conflict = TokenUnavailable(f"token endpoint answered {r.status_code}")
    with transaction(app.sessions) as session:
        # Locked (PostgreSQL) so no takeover slips between this check and the write.
        row = session.get(OAuthConnection, conn_id, with_for_update=True)
        if row is None or row.lease_owner != owner:
            failure = TokenUnavailable("the refresh lease ran out; another worker took over")
        else:
            row.lease_owner = row.lease_until = None
            if r.status_code == 200 and answer.get("access_token"):
                # The rotated refresh token is written with the end of the lease, in one
                # transaction: a crash before this commit leaves the lease to run out.
                store_tokens(app, row, answer, now)
                set_state(session, row, "ok", None)
                return str(answer["access_token"])
            if refused:
                why = str(answer.get("error_description") or answer.get("error"))
                set_state(session, row, REAUTH, f"the provider refused the refresh: {why}")
                failure = ReauthRequired(f"reconnect needed: {why}")
            else:
                set_state(session, row, "ok", None)
    # Raised after the commit: raising inside would roll the state change back.
    raise failure


def json_of(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _release(app: Context, conn_id: str, owner: str, state: str) -> None:
    with transaction(app.sessions) as session:
        row = session.get(OAuthConnection, conn_id)
        if row is not None and row.lease_owner == owner:
            row.lease_owner = row.lease_until = None
            set_state(session, row, state, None)


def token_rejected(
    app: Context, *, transport_id: str | None = None, source_id: str | None = None
) -> None:
    """The server refused the access token before it expired (revoked): the next
    attempt refreshes, and a refused refresh then means ``reauth_required``."""
    with transaction(app.sessions) as session:
        session.execute(
            update(OAuthConnection)
            .where(_where(transport_id, source_id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
