"""Token refresh against the local authorization server, on both stores: once across
workers (the lease), rotation saved, a dead refresher's lease taken over, and a
refused refresh turning into ``reauth_required`` with its events."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailgate.core import oauth as core
from mailgate.outbound import oauth_tokens
from mailgate.runtime import Mailgate
from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.store.models import Event, OAuthClient, OAuthConnection, TransportRow, utcnow
from tests.servers.oauth import OAuthServer
from tests.test_oauth_double import tokens_for


def setup(
    app: Mailgate, double: OAuthServer, *, expired: bool = True, provider: str = "generic"
) -> str:
    """A connected transport whose access token is (or is not) due for a refresh."""
    answer = tokens_for(double)
    with transaction(app.sessions) as s:
        ws = tenancy.create_workspace(s, "odoo")
        s.add(
            OAuthClient(
                id="oac_1",
                workspace_id=None,
                provider=provider,
                client_id=double.client_id,
                secrets=app.secrets.encrypt({"client_secret": double.client_secret}),
                settings={
                    "authorize_url": f"{double.url}/authorize",
                    "token_url": f"{double.url}/token",
                    "scopes": ["mail"],
                },
            )
        )
        s.add(
            TransportRow(
                id="tr_1", workspace_id=ws.id, scope="workspace", scope_key=ws.id, name="gmail",
                kind="smtp", config={"host": "127.0.0.1", "auth": "xoauth2"},
            )
        )
        s.flush()
        conn = OAuthConnection(
            id="oc_1", workspace_id=ws.id, client_ref="oac_1", transport_id="tr_1", state="ok"
        )
        oauth_tokens.store_tokens(app, conn, answer, utcnow())
        if expired:
            conn.expires_at = utcnow() - timedelta(seconds=1)
        s.add(conn)
    return str(answer["refresh_token"])


def connection(app: Mailgate) -> OAuthConnection:
    with app.sessions() as s:
        row = s.get(OAuthConnection, "oc_1")
        assert row is not None
        return row


def events(app: Mailgate) -> list[dict[str, Any]]:
    with app.sessions() as s:
        q = select(Event).where(Event.type == "oauth.state_changed").order_by(Event.id)
        return [e.payload for e in s.scalars(q)]


@pytest.fixture
def double(oauth_server: OAuthServer) -> OAuthServer:
    oauth_server.grants.clear()
    return oauth_server


def test_a_refresh_happens_once_across_workers_and_rotation_is_saved(
    mailgate_app: Mailgate, double: OAuthServer
) -> None:
    old_refresh = setup(mailgate_app, double)
    got: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            got.append(oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1"))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(got) == 4
    assert double.grants == ["authorization_code", "refresh_token"]  # one refresh only
    assert len(set(got)) == 1
    row = connection(mailgate_app)
    stored = mailgate_app.secrets.decrypt(row.tokens)
    assert stored["access_token"] == got[0]
    assert stored["refresh_token"] != old_refresh and stored["refresh_token"] in double.refresh
    assert old_refresh not in double.refresh  # rotated: the old one is dead
    assert row.state == "ok" and row.lease_owner is None
    assert [e["state"] for e in events(mailgate_app)] == ["refreshing", "ok"]
    # A valid token is served from the store, no refresh.
    assert oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1") == got[0]
    assert double.grants.count("refresh_token") == 1


def test_a_dead_refreshers_lease_is_taken_over_a_live_one_is_not(
    mailgate_app: Mailgate, double: OAuthServer
) -> None:
    setup(mailgate_app, double)
    with transaction(mailgate_app.sessions) as s:
        row = s.get(OAuthConnection, "oc_1")
        assert row is not None
        row.state, row.lease_owner = "refreshing", "worker-elsewhere"
        row.lease_until = utcnow() + timedelta(seconds=30)
    # Delivery does not block its lane on another worker's refresh: it defers.
    with pytest.raises(oauth_tokens.TokenUnavailable):
        oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1", wait=0)
    assert double.grants.count("refresh_token") == 0
    with transaction(mailgate_app.sessions) as s:  # that worker died: its lease ran out
        row = s.get(OAuthConnection, "oc_1")
        assert row is not None
        row.lease_until = utcnow() - timedelta(seconds=1)
    token = oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1", wait=0)
    assert token in double.access and double.grants.count("refresh_token") == 1
    assert connection(mailgate_app).state == "ok"


def test_a_refused_refresh_means_reauth_required(
    mailgate_app: Mailgate, double: OAuthServer
) -> None:
    setup(mailgate_app, double)
    double.revoke_all()
    with pytest.raises(oauth_tokens.ReauthRequired, match="token revoked"):
        oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1")
    row = connection(mailgate_app)
    assert row.state == "reauth_required" and row.lease_owner is None
    assert "token revoked" in (row.last_error or "")
    assert [e["state"] for e in events(mailgate_app)] == ["refreshing", "reauth_required"]
    assert events(mailgate_app)[-1]["transport_id"] == "tr_1"
    # It stays so without asking the provider again, until a reconnect.
    with pytest.raises(oauth_tokens.ReauthRequired):
        oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1")
    assert double.grants == ["authorization_code"]


def test_a_token_refused_before_expiry_is_refreshed_next(
    mailgate_app: Mailgate, double: OAuthServer
) -> None:
    setup(mailgate_app, double, expired=False)
    first = oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1")
    oauth_tokens.token_rejected(mailgate_app, transport_id="tr_1")
    second = oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1")
    assert second != first and double.grants.count("refresh_token") == 1


@pytest.mark.parametrize("preset", ["google", "microsoft"])
def test_presets_send_their_client_credentials_in_the_body(
    mailgate_app: Mailgate, double: OAuthServer, preset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google and Microsoft document client_secret_post; the double accepts both."""
    stand_in = replace(
        core.PRESETS[preset], authorize_url=f"{double.url}/authorize",
        token_url=f"{double.url}/token",
    )
    monkeypatch.setitem(core.PRESETS, preset, stand_in)
    seen: list[dict[str, Any]] = []
    real = httpx.Client.post

    def spy(self: httpx.Client, url: str, **kw: Any) -> httpx.Response:
        seen.append(kw)
        return real(self, url, **kw)

    monkeypatch.setattr(httpx.Client, "post", spy)
    setup(mailgate_app, double, provider=preset)
    assert oauth_tokens.fresh_token(mailgate_app, transport_id="tr_1") in double.access
    [sent] = seen
    assert "Authorization" not in sent["headers"]
    assert sent["data"]["client_id"] == double.client_id
    assert sent["data"]["client_secret"] == double.client_secret
    assert ("scope" in sent["data"]) is (preset == "microsoft")
