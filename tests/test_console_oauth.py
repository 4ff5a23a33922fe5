"""The console's OAuth2 *Connect* button, bound to the console session that pressed it.

A flow started in the console is finished only by the browser holding that same
console session: a consent link forwarded to another mailbox owner (or opened in
another session) answers 403 and connects nothing. A flow started through the API
keeps working as before, authenticated by its encrypted state alone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from mailgate.services import oauth, sources, tenancy
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.web.base import SESSION_COOKIE
from tests.servers.console import ConsoleServer, csrf_of
from tests.servers.oauth import OAuthServer

ADMIN = "admin@oauth-console.example.com"
OTHER = "admin@oauth-other.example.com"


@pytest.fixture(scope="module")
def setup(console_server: ConsoleServer, oauth_server: OAuthServer) -> dict[str, Any]:
    """Workspace A with an xoauth2 mail server and an API key; workspace B; the
    installation's OAuth client at the provider double."""
    ws = console_server.workspace("oauth-console")
    other = console_server.workspace("oauth-other")
    console_server.user(ADMIN, "admin", ws)
    console_server.user("agent@oauth-console.example.com", "agent", ws)
    console_server.user(OTHER, "admin", other)
    with transaction(console_server.app.sessions) as session:
        oauth.register_client(
            session, console_server.app.secrets, None,
            {
                "provider": "generic", "client_id": oauth_server.client_id,
                "client_secret": oauth_server.client_secret,
                "authorize_url": f"{oauth_server.url}/authorize",
                "token_url": f"{oauth_server.url}/token", "scopes": ["mail", "offline_access"],
            },
            guard=None,
        )
        row = transport_service.create(
            session, console_server.app.secrets, ws,
            {
                "name": "gmail", "kind": "smtp", "default": True, "mode": "queued",
                "sender": "li.lei@oauth-console.example.com",
                "config": {
                    "host": "127.0.0.1", "port": console_server.sink.port, "security": "none",
                    "username": "li.lei@oauth-console.example.com", "auth": "xoauth2",
                },
            },
        )
        inbox = sources.create(
            session, console_server.app.secrets, ws,
            {
                "name": "gmail inbox", "kind": "imap", "enabled": False,
                "config": {
                    "host": "127.0.0.1", "port": 1143, "security": "none",
                    "username": "li.lei@oauth-console.example.com", "auth": "oauthbearer",
                    "idle": False, "poll_interval": 600,
                },
            },
        )
        _, key = tenancy.create_api_key(session, ws, "oauth-console")
    return {"ws": ws, "transport": row.id, "source": inbox.id, "key": key}


def press_connect(c: httpx.Client, transport_id: str) -> str:
    """The admin presses *Connect*: the browser is sent to the provider."""
    token = csrf_of(c.get("/oauth").text)
    answer = c.post(
        "/oauth/connect",
        data={"kind": "transport", "id": transport_id, "provider": "generic", "csrf": token},
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def test_connect_is_finished_only_by_the_same_console_session(
    console_server: ConsoleServer, oauth_server: OAuthServer, setup: dict[str, Any]
) -> None:
    transport_id = setup["transport"]
    with console_server.login(ADMIN) as c:
        page = c.get("/oauth").text
        assert "gmail" in page and "not connected" in page and ">Connect<" in page
        assert "gmail inbox" in page and 'value="source"' in page  # the IMAP source too
        for path in (f"/transports/{transport_id}", "/inbound"):  # linked from both pages
            assert "/oauth#" in c.get(path).text
        assert c.post("/oauth/connect", data={"id": transport_id}).status_code == 403  # no CSRF
        authorize = press_connect(c, transport_id)
        assert authorize.startswith(f"{oauth_server.url}/authorize?")
        back = urlsplit(oauth_server.approve(authorize))
        assert back.path == "/oauth/callback"
        callback = f"/oauth/callback?{back.query}"

        # The consent link, approved by someone else: no console session, another
        # workspace's admin, and the same admin in another session are all refused.
        with console_server.client() as stranger:
            refused = stranger.get(callback)
            assert refused.status_code == 403 and "same browser" in refused.text
        with console_server.login(OTHER) as b:
            assert b.get(callback).status_code == 403
        with console_server.login(ADMIN) as second_session:
            assert second_session.get(callback).status_code == 403
        with console_server.app.sessions() as session:
            assert oauth.connections(session, setup["ws"]) == []

        done = c.get(callback)
        assert done.status_code == 303
        assert done.headers["location"] == f"/oauth?connected={transport_id}"
        page = c.get(done.headers["location"]).text
        assert "Connected." in page and '<span class="badge ok">ok</span>' in page
        assert ">Reconnect<" in page

    with console_server.login(ADMIN, "zh-CN") as zh:
        assert "重新连接" in zh.get("/oauth").text


def test_api_started_flows_need_no_console_session(
    console_server: ConsoleServer, oauth_server: OAuthServer, setup: dict[str, Any]
) -> None:
    """POST /v1/oauth/generic/start with an API key: the callback answers JSON to any browser."""
    with httpx.Client(
        base_url=console_server.url, headers={"Authorization": f"Bearer {setup['key']}"}
    ) as api:
        started = api.post("/v1/oauth/generic/start", json={"transport": setup["transport"]})
        assert started.status_code == 200, started.text
    back = urlsplit(oauth_server.approve(started.json()["url"]))
    with console_server.client() as browser:
        answer = browser.get(f"/oauth/callback?{back.query}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["connected"] is True


def test_connect_refusals(console_server: ConsoleServer, setup: dict[str, Any]) -> None:
    """Another workspace's transport is a 404; an agent gets 403; the cookie names agree."""
    assert oauth.CONSOLE_COOKIE == SESSION_COOKIE
    with console_server.login(OTHER) as b:
        token = csrf_of(b.get("/oauth").text)
        assert "gmail" not in b.get("/oauth").text
        hostile = b.post(
            "/oauth/connect",
            data={"kind": "transport", "id": setup["transport"], "provider": "generic",
                  "csrf": token},
        )
        assert hostile.status_code == 404
    with console_server.login("agent@oauth-console.example.com") as agent:
        assert agent.get("/oauth").status_code == 403


def test_disconnect(console_server: ConsoleServer, setup: dict[str, Any]) -> None:
    """*Disconnect* forgets the connection; another workspace's connection is a 404."""
    with console_server.app.sessions() as session:
        [link] = oauth.connections(session, setup["ws"])
    with console_server.login(OTHER) as b:
        token = csrf_of(b.get("/oauth").text)
        hostile = b.post(f"/oauth/connections/{link.id}/delete", data={"csrf": token})
        assert hostile.status_code == 404
    with console_server.login(ADMIN) as c:
        token = csrf_of(c.get("/oauth").text)
        done = c.post(f"/oauth/connections/{link.id}/delete", data={"csrf": token})
        assert done.status_code == 303
        assert "not connected" in c.get("/oauth").text.split('value="source"')[0]
    with console_server.app.sessions() as session:
        assert oauth.connections(session, setup["ws"]) == []


def test_register_a_workspace_client(console_server: ConsoleServer, setup: dict[str, Any]) -> None:
    """An admin registers the workspace's own client: the service's refusals beside the
    fields, the secret never shown back, then it is listed."""
    with console_server.login(OTHER) as b:
        token = csrf_of(b.get("/oauth").text)
        empty = b.post("/oauth/clients", data={"provider": "google", "csrf": token})
        assert empty.status_code == 422 and "client_id is required" in empty.text
        bad_url = b.post(
            "/oauth/clients",
            data={"provider": "generic", "client_id": "acme-app", "client_secret": "s3cret",
                  "authorize_url": "ftp://files.example.com/authorize",
                  "token_url": "http://127.0.0.1:9/token", "scopes": "mail", "csrf": token},
        )
        assert bad_url.status_code == 422
        assert '<p class="field-error">authorize_url must be an http(s) URL' in bad_url.text
        assert 'value="acme-app"' in bad_url.text and "s3cret" not in bad_url.text
        made = b.post(
            "/oauth/clients",
            data={"provider": "google", "client_id": "acme-app.apps.example", "csrf": token,
                  "client_secret": "s3cret"},
        )
        assert made.status_code == 303
        page = b.get("/oauth").text
        assert "acme-app.apps.example" in page and "this workspace" in page
        assert "s3cret" not in page
    with console_server.login(ADMIN) as a:  # A sees the installation's, not B's
        page = a.get("/oauth").text
        assert "acme-app.apps.example" not in page and "the whole installation" in page
