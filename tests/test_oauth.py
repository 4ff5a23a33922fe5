"""Odoo's Gmail / Microsoft 365 set-up against the local authorization server, Dovecot
and Postfix (docs/oauth.md): connect, send and receive, expiry and refresh with
rotation, revocation and ``reauth_required`` with the mail held, reconnect, and the
held mail leaving. Plus the refusals: a forged state, another tenant, secrets."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update

from mailgate.store.db import transaction
from mailgate.store.models import Event, MessageRow, OAuthConnection, utcnow
from tests.helpers import wait_for, wait_status
from tests.servers.dovecot_oauth import USER, OAuthMail
from tests.servers.mailgate import Server
from tests.servers.oauth import OAuthServer


def made(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def register(op: httpx.Client, double: OAuthServer) -> dict[str, Any]:
    return made(
        op.post(
            "/v1/oauth/clients",
            json={
                "provider": "generic",
                "client_id": double.client_id,
                "client_secret": double.client_secret,
                "authorize_url": f"{double.url}/authorize",
                "token_url": f"{double.url}/token",
                "revoke_url": f"{double.url}/revoke",
                "scopes": ["mail", "offline_access"],
            },
        )
    )


def connect(server: Server, c: httpx.Client, double: OAuthServer, **target: str) -> dict[str, Any]:
    """The admin clicks "connect", approves at the provider, the browser comes back."""
    url = made(c.post("/v1/oauth/generic/start", json=target), 200)["url"]
    back = urlsplit(double.approve(url))
    assert back.path == "/oauth/callback"
    r = httpx.get(f"{server.url}/oauth/callback?{back.query}")  # no API key: the state is it
    body = made(r, 200)
    assert body["connected"] is True and body["connection"]["state"] == "ok"
    connection: dict[str, Any] = body["connection"]
    return connection


def transport(mail: OAuthMail) -> dict[str, Any]:
    assert mail.submission_port is not None
    return {
        "name": "gmail",
        "kind": "smtp",
        "default": True,
        "mode": "queued",
        "sender": USER,
        "config": {
            "host": "127.0.0.1",
            "port": mail.submission_port,
            "security": "starttls",
            "ca_file": str(mail.dovecot.tls.ca_file),
            "username": USER,
            "auth": "xoauth2",
        },
    }


def source(mail: OAuthMail) -> dict[str, Any]:
    return {
        "name": "gmail inbox",
        "kind": "imap",
        "enabled": False,  # polled on demand below
        "config": {
            "host": "127.0.0.1",
            "port": mail.dovecot.imap_port,
            "security": "none",
            "username": USER,
            "auth": "xoauth2",
            "idle": False,
            "poll_interval": 600,
        },
    }


def send(c: httpx.Client, subject: str) -> str:
    body = made(
        c.post(
            "/v1/messages",
            json={"from": USER, "to": [USER], "subject": subject, "text": "invoice attached"},
        ),
        202,
    )
    return str(body["id"])


def arrived(mail: OAuthMail, subject: str) -> bool:
    return any(subject.encode() in raw for raw in mail.dovecot.messages())


def received(server: Server, subject: str) -> bool:
    with server.app.sessions() as s:
        q = select(MessageRow.id).where(MessageRow.direction == "in", MessageRow.subject == subject)
        return s.scalars(q).first() is not None


def states(server: Server) -> list[str]:
    with server.app.sessions() as s:
        q = select(Event).where(Event.type == "oauth.state_changed").order_by(Event.id)
        rows = s.scalars(q)
        return [e.payload["state"] for e in rows]


def stored_refresh(server: Server) -> set[str]:
    """The refresh tokens mailgate holds (encrypted at rest)."""
    with server.app.sessions() as s:
        rows = s.scalars(select(OAuthConnection)).all()
        assert all("refresh_token" not in (r.tokens or "") for r in rows)  # ciphertext
        return {server.app.secrets.decrypt(r.tokens)["refresh_token"] for r in rows}


def expire_in_mailgate(server: Server) -> None:
    """An hour passes: the stored access tokens reach their expiry."""
    with transaction(server.app.sessions) as s:
        s.execute(update(OAuthConnection).values(expires_at=utcnow()))


def test_gmail_setup_whole_cycle(server: Server, oauth_mail: OAuthMail) -> None:
    double = oauth_mail.oauth
    if oauth_mail.submission_port is None:
        import pytest

        pytest.skip("Postfix submission needs root")
    tag = f"{server.app.settings.database_url[:6]}-{time.time_ns()}"
    with server.operator_client() as op, server.client() as c:
        client = register(op, double)
        assert client["scope"] == "installation" and double.client_secret not in str(client)
        assert double.client_secret not in c.get("/v1/oauth/clients").text
        t = made(op.post("/v1/transports", json=transport(oauth_mail)))
        src = made(op.post("/v1/sources", json=source(oauth_mail)))

        # Before connecting, mail waits (deferred, reauth_required), it is never failed.
        early = send(c, f"early {tag}")
        detail = wait_status(c, early, "deferred")
        assert "reauth_required" in str(detail)

        r = made(op.post(f"/v1/transports/{t['id']}/check"), 200)
        assert r["ok"] is False and "reauth_required" in str(r), r

        conn = connect(server, c, double, transport=t["id"])
        r = made(op.post(f"/v1/transports/{t['id']}/check"), 200)
        assert r["ok"] is True, r  # the test button signs in with the token too
        src_conn = connect(server, c, double, source=src["id"])
        # Connected: the held mail leaves at once, and mail flows both ways.
        wait_status(c, early, "sent")
        first = send(c, f"hello {tag}")
        wait_status(c, first, "sent")
        wait_for(lambda: arrived(oauth_mail, f"hello {tag}"), what="delivery to Dovecot")
        assert made(c.post(f"/v1/sources/{src['id']}/poll"), 200)["taken"] >= 2
        wait_for(lambda: received(server, f"hello {tag}"), what="the inbound message")

        # Expiry: the next delivery refreshes first; the refresh token is rotated.
        grants = len(double.grants)
        old_refresh = stored_refresh(server)
        double.expire_access()
        expire_in_mailgate(server)
        server.run(server.app.transports.close_all())  # no signed-in connection left in the pool
        second = send(c, f"after expiry {tag}")
        more = [send(c, f"after expiry {tag} #{i}") for i in range(3)]
        # One refresh for all of them; none deferred while it ran.
        assert all(wait_status(c, m, "sent")["attempts"] == 1 for m in [second, *more])
        assert double.grants[grants:].count("refresh_token") == 1
        assert made(c.post(f"/v1/sources/{src['id']}/poll"), 200)["taken"] >= 1
        wait_for(lambda: received(server, f"after expiry {tag}"), what="the inbound message")
        # Both refresh tokens in use were rotated: the old ones are dead at the provider.
        assert not old_refresh & set(double.refresh)
        assert len(stored_refresh(server) & set(double.refresh)) == 2  # the new ones, saved
        listed = {x["id"]: x for x in c.get("/v1/oauth/connections").json()["items"]}
        assert listed[conn["id"]]["state"] == "ok"
        assert "tokens" not in str(listed) and "access_token" not in str(listed)

        # Revocation: the server refuses the token, the refresh is refused: reauth_required.
        double.revoke_all()
        server.run(server.app.transports.close_all())
        held = send(c, f"held {tag}")

        def reauth() -> bool:
            items = c.get("/v1/oauth/connections").json()["items"]
            return any(x["id"] == conn["id"] and x["state"] == "reauth_required" for x in items)

        wait_for(reauth, what="reauth_required")
        detail = wait_status(c, held, "deferred")
        assert detail["status"] == "deferred" and "reauth_required" in str(detail)
        assert "reauth_required" in states(server)
        # Not even the end of its lifetime fails it while it waits for the reconnect.
        with transaction(server.app.sessions) as s:
            s.execute(
                update(MessageRow)
                .where(MessageRow.id == held)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        tried = c.get(f"/v1/messages/{held}").json()["attempts"]
        wait_for(lambda: c.get(f"/v1/messages/{held}").json()["attempts"] >= tried + 2,
                 what="two more attempts")
        assert c.get(f"/v1/messages/{held}").json()["status"] == "deferred"
        r = c.post(f"/v1/sources/{src['id']}/poll")  # the token is refused: a refresh next
        r = c.post(f"/v1/sources/{src['id']}/poll")
        assert r.status_code >= 400 and "reauth_required" in r.text
        assert not arrived(oauth_mail, f"held {tag}")

        # Reconnect: the same connection, new tokens; the held mail leaves.
        again = connect(server, c, double, transport=t["id"])
        assert again["id"] == conn["id"]
        wait_status(c, held, "sent")
        wait_for(lambda: arrived(oauth_mail, f"held {tag}"), what="the held mail")
        assert connect(server, c, double, source=src["id"])["id"] == src_conn["id"]
        assert made(c.post(f"/v1/sources/{src['id']}/poll"), 200)["taken"] >= 1
        wait_for(lambda: received(server, f"held {tag}"), what="the inbound message")
        assert states(server)[-2:] == ["ok", "ok"]


def test_refusals(server: Server, oauth_server: OAuthServer) -> None:
    """A forged or altered state, another tenant's transport, a workspace's generic
    endpoint on a refused network, and a missing registration."""
    double = oauth_server
    config = {"host": "127.0.0.1", "port": 1, "username": USER, "auth": "xoauth2"}
    body = {"name": "gmail", "kind": "smtp", "sender": USER, "config": config}
    with server.operator_client() as op, server.client() as c:
        t = made(c.post("/v1/transports", json=body))
        r = c.post("/v1/oauth/generic/start", json={"transport": t["id"]})
        assert r.status_code == 404 and r.json()["error"]["field"] == "provider"
        register(op, double)
        url = made(c.post("/v1/oauth/generic/start", json={"transport": t["id"]}), 200)["url"]
        query = urlsplit(double.approve(url)).query
        params = dict(httpx.QueryParams(query))
        forged = {**params, "state": params["state"][:-4] + "AAAA"}
        r = httpx.get(f"{server.url}/oauth/callback", params=forged)
        assert r.status_code == 403 and r.json()["error"]["field"] == "state"
        r = httpx.get(f"{server.url}/oauth/callback", params={"state": "x", "code": "y"})
        assert r.status_code == 403
        # The real callback works once; the code is spent.
        made(httpx.get(f"{server.url}/oauth/callback?{query}"), 200)
        r = httpx.get(f"{server.url}/oauth/callback?{query}")
        assert r.status_code == 409 and "refused the code" in r.text
        # A transport deleted between start and callback: a clear 404, no row.
        gone = made(c.post("/v1/transports", json={**body, "name": "gone"}))
        url = made(c.post("/v1/oauth/generic/start", json={"transport": gone["id"]}), 200)["url"]
        assert c.delete(f"/v1/transports/{gone['id']}").status_code == 204
        r = httpx.get(f"{server.url}/oauth/callback?{urlsplit(double.approve(url)).query}")
        assert r.status_code == 404 and "deleted" in r.text
        # Another workspace cannot connect, list or disconnect A's.
        _, key_b = server.new_workspace("globex")
        with server.client(key_b) as b:
            r = b.post("/v1/oauth/generic/start", json={"transport": t["id"]})
            assert r.status_code == 404, r.text
            assert b.get("/v1/oauth/connections").json()["items"] == []
            [conn] = c.get("/v1/oauth/connections").json()["items"]
            assert b.delete(f"/v1/oauth/connections/{conn['id']}").status_code == 404
        # Registrations: named fields; a workspace may not point at a refused network.
        for bad, field in (
            ({"provider": "yahoo"}, "provider"),
            ({"provider": "generic"}, "authorize_url"),
            ({"provider": "generic", "authorize_url": "ftp://x", "token_url": "https://x"},
             "authorize_url"),
            ({"provider": "generic", "authorize_url": "https://id.example/a",
              "token_url": "https://id.example/t"}, "scopes"),
        ):
            r = c.post("/v1/oauth/clients", json={"client_id": "x", "client_secret": "y", **bad})
            assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
        r = c.post("/v1/oauth/clients", json={
            "provider": "generic", "client_id": "x", "client_secret": "y", "scopes": ["m"],
            "authorize_url": "https://id.example/a", "token_url": "http://169.254.169.254/t"})
        assert r.status_code == 403 and r.json()["error"]["field"] == "token_url", r.text
        # Exactly one target, and only one that signs in with xoauth2.
        r = c.post("/v1/oauth/generic/start", json={})
        assert r.status_code == 422 and r.json()["error"]["field"] == "transport"
        plain = made(c.post("/v1/transports", json={**body, "name": "plain", "config": {
            **config, "auth": "plain"}}))
        r = c.post("/v1/oauth/generic/start", json={"transport": plain["id"]})
        assert r.status_code == 422 and "xoauth2" in r.text
        # Disconnect revokes at the provider (RFC 7009) and forgets the tokens.
        before = len(double.refresh)
        assert c.delete(f"/v1/oauth/connections/{conn['id']}").status_code == 204
        assert len(double.refresh) == before - 1
        assert c.get("/v1/oauth/connections").json()["items"] == []
