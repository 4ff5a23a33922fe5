"""The console over plain HTTP: sign-in, sessions, CSRF, roles, tenancy, headers, throttling.

One mailgate per module (tests/servers/console.py); the browser walks are in
tests/test_console_browser.py.
"""

from __future__ import annotations

import re

import httpx
import pytest

from mailgate.services import users
from mailgate.store.db import transaction
from tests.servers.console import PASSWORD, ConsoleServer, csrf_of


@pytest.fixture(scope="module")
def acme(console_server: ConsoleServer) -> str:
    ws = console_server.workspace("acme-http")
    console_server.user("admin@acme-http.example.com", "admin", ws)
    console_server.user("agent@acme-http.example.com", "agent", ws)
    return ws


def test_pages_need_a_session(console_server: ConsoleServer) -> None:
    """Without a session every page redirects to /login (with the way back)."""
    with console_server.client() as c:
        answer = c.get("/transports")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/transports"


def test_login_sets_a_hardened_session_cookie(console_server: ConsoleServer, acme: str) -> None:
    """The session cookie is HttpOnly and SameSite=Lax; the dashboard greets the admin."""
    with console_server.client() as c:
        token = csrf_of(c.get("/login").text)
        answer = c.post(
            "/login",
            data={"email": "admin@acme-http.example.com", "password": PASSWORD, "csrf": token},
        )
        assert answer.status_code == 303
        cookie = next(
            v for k, v in answer.headers.multi_items() if k == "set-cookie" and "mg_session" in v
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        page = c.get("/")
        assert page.status_code == 200
        assert "admin@acme-http.example.com" in page.text


def test_secure_cookie_behind_https(console_server: ConsoleServer, acme: str) -> None:
    """Behind a TLS proxy on 127.0.0.1 (X-Forwarded-Proto: https) cookies get Secure."""
    with console_server.client(**{"X-Forwarded-Proto": "https"}) as c:
        answer = c.get("/login")
        cookie = answer.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie


def test_wrong_password_is_refused(console_server: ConsoleServer, acme: str) -> None:
    with console_server.client() as c:
        token = csrf_of(c.get("/login").text)
        answer = c.post(
            "/login",
            data={"email": "admin@acme-http.example.com", "password": "nope-nope", "csrf": token},
        )
    assert answer.status_code == 401
    assert "Wrong e-mail or password" in answer.text
    assert "mg_session" not in answer.headers.get("set-cookie", "")


def test_post_without_csrf_is_403(console_server: ConsoleServer, acme: str) -> None:
    """Every state-changing form needs the session's token: without it 403, nothing changes."""
    with console_server.login("admin@acme-http.example.com") as c:
        answer = c.post("/apikeys", data={"name": "forged"})
        assert answer.status_code == 403
        wrong = c.post("/apikeys", data={"name": "forged", "csrf": "not-the-token"})
        assert wrong.status_code == 403
        assert "forged" not in c.get("/apikeys").text
    with console_server.client() as anonymous:
        # The login form too: a login without the browser's own token is refused.
        login = anonymous.post("/login", data={"email": "a@b.example.com", "password": "x"})
        assert login.status_code == 403


def test_csp_and_security_headers(console_server: ConsoleServer, acme: str) -> None:
    """A CSP without inline scripts on every console page; the API keeps its own answers."""
    with console_server.client() as c:
        for path in ("/login", "/static/console.css"):
            csp = c.get(path).headers["content-security-policy"]
            script = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
            assert "unsafe-inline" not in script and "'self'" in script
            assert "frame-ancestors 'none'" in csp
        assert "content-security-policy" not in c.get("/healthz").headers
    with console_server.login("admin@acme-http.example.com") as c:
        html = c.get("/").text
        assert "<script>" not in html and "onclick" not in html
        assert re.search(r'<script src="/static/console.js"', html)


def test_agent_sees_conversations_only(console_server: ConsoleServer, acme: str) -> None:
    with console_server.login("agent@acme-http.example.com") as c:
        assert c.get("/").headers["location"] == "/conversations"
        assert c.get("/conversations").status_code == 200
        for path in ("/transports", "/apikeys", "/webhooks", "/users", "/journal"):
            assert c.get(path).status_code == 403, path


def test_logout_ends_the_session(console_server: ConsoleServer, acme: str) -> None:
    with console_server.login("admin@acme-http.example.com") as c:
        token = csrf_of(c.get("/account").text)
        cookie = c.cookies.get("mg_session")
        assert c.post("/logout", data={"csrf": token}).status_code == 303
    with console_server.client() as stale:
        stale.cookies.set("mg_session", cookie or "")
        assert stale.get("/").status_code == 303  # the server forgot it, not only the browser


def test_login_throttled_per_account(console_server: ConsoleServer) -> None:
    """After five failures the account is locked: even the right password waits (429)."""
    ws = console_server.workspace("throttle-acct")
    email = console_server.user("slow@throttle.example.com", "admin", ws)
    with console_server.client() as c:
        token = csrf_of(c.get("/login").text)
        for _ in range(users.FREE_FAILURES):
            wrong = c.post("/login", data={"email": email, "password": "bad-pass", "csrf": token})
            assert wrong.status_code in (401, 429)
        right = c.post("/login", data={"email": email, "password": PASSWORD, "csrf": token})
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) > 0
    with transaction(console_server.app.sessions) as session:  # free it for other tests
        from mailgate.store.models import LoginThrottle

        session.query(LoginThrottle).delete()


def test_login_throttled_per_ip(console_server: ConsoleServer) -> None:
    """Guessing across many accounts from one address locks the address."""
    with console_server.client() as c:
        token = csrf_of(c.get("/login").text)
        for i in range(users.FREE_FAILURES):
            c.post(
                "/login",
                data={"email": f"nobody{i}@example.com", "password": "guess-1234", "csrf": token},
            )
        other = c.post(
            "/login", data={"email": "fresh@example.com", "password": "guess-1234", "csrf": token}
        )
        assert other.status_code == 429
    with transaction(console_server.app.sessions) as session:
        from mailgate.store.models import LoginThrottle

        session.query(LoginThrottle).delete()


def test_other_workspace_answers_404(console_server: ConsoleServer, acme: str) -> None:
    """B's admin gets 404 for A's objects, the same as for ids that do not exist."""
    ws_b = console_server.workspace("beta-http")
    console_server.user("admin@beta-http.example.com", "admin", ws_b)
    with console_server.login("admin@acme-http.example.com") as a:
        token = csrf_of(a.get("/apikeys").text)
        made = a.post("/apikeys", data={"name": "acme-key", "csrf": token})
        assert made.status_code == 201
        key_id = re.search(r'action="/apikeys/(key_[^/]+)/revoke"', made.text)
        assert key_id is not None
    with console_server.login("admin@beta-http.example.com") as b:
        token = csrf_of(b.get("/apikeys").text)
        assert b.post(f"/apikeys/{key_id.group(1)}/revoke", data={"csrf": token}).status_code == 404
        for path in ("/messages/msg_0000", "/conversations/conv_0000", "/transports/tr_0000"):
            assert b.get(path).status_code == 404
        lost = b.get("/no-such-page")
        assert lost.status_code == 404 and "<h1>Not found</h1>" in lost.text
    with console_server.client() as api:
        assert api.get("/v1/no-such-route").json()["error"]["code"] == "not_found"  # JSON still


def test_api_key_shown_once(console_server: ConsoleServer, acme: str) -> None:
    with console_server.login("admin@acme-http.example.com") as c:
        token = csrf_of(c.get("/apikeys").text)
        made = c.post("/apikeys", data={"name": "once", "csrf": token})
        key = re.search(r'id="new-key">(mg_[^<]+)<', made.text)
        assert key is not None
        assert key.group(1) not in c.get("/apikeys").text
        api = httpx.get(
            console_server.url + "/v1/transports",
            headers={"Authorization": f"Bearer {key.group(1)}"},
        )
        assert api.status_code == 200


def test_forms_show_the_services_own_message_beside_the_field(
    console_server: ConsoleServer, acme: str
) -> None:
    """A bad port is refused with the validation message the API gives, next to the port."""
    with console_server.login("admin@acme-http.example.com") as c:
        token = csrf_of(c.get("/transports/new").text)
        answer = c.post(
            "/transports/new",
            data={"csrf": token, "name": "bad", "host": "127.0.0.1", "port": "99999",
                  "security": "none", "enabled": "on"},
        )
        assert answer.status_code == 422
        beside = re.search(r'<p class="field-error" data-field="port">([^<]+)</p>', answer.text)
        assert beside is not None and "65535" in beside.group(1)
        with httpx.Client(base_url=console_server.url) as api:
            with transaction(console_server.app.sessions) as session:
                from mailgate.services import tenancy

                _, key = tenancy.create_api_key(session, acme)
            same = api.post(
                "/v1/transports",
                headers={"Authorization": f"Bearer {key}"},
                json={"name": "bad", "config": {"host": "127.0.0.1", "port": 99999}},
            ).json()["error"]
        assert same["message"] in beside.group(1)


def test_journal_filters_by_address_and_day(console_server: ConsoleServer) -> None:
    """The journal's address and day filters; a malformed day is named, not a 500."""
    from mailgate.services import tenancy

    ws = console_server.workspace("journal-http")
    console_server.user("admin@journal-http.example.com", "admin", ws)
    with transaction(console_server.app.sessions) as session:
        _, key = tenancy.create_api_key(session, ws)
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=console_server.url, headers=auth) as api:
        assert api.post("/v1/transports", json={
            "name": "cap", "kind": "capture", "default": True, "mode": "immediate",
            "sender": "noreply@journal-http.example.com", "daily_quota": 100}).status_code == 201
        for who in ("alice", "bob"):
            sent = api.post("/v1/messages", json={
                "to": [f"{who}@customer.example.net"], "subject": f"for {who}", "text": "hi"})
            assert sent.status_code in (200, 202), sent.text
    with console_server.login("admin@journal-http.example.com") as c:
        page = c.get("/journal", params={"address": "alice@"}).text
        assert "for alice" in page and "for bob" not in page
        today = c.get("/journal", params={"date": "2000-01-01"}).text
        assert "for alice" not in today
        bad = c.get("/journal", params={"date": "yesterday"})
        assert bad.status_code == 200 and "YYYY-MM-DD" in bad.text
        assert re.search(r"\d+ of 100", c.get("/transports").text)  # the quota, as the API says


def test_every_transport_kind_has_a_form_from_its_schema(console_server: ConsoleServer) -> None:
    """Mailgun through the schema-drawn form: its key is write-only; sendmail (a local
    program) is not offered to a workspace admin and refused when forged."""
    ws = console_server.workspace("kinds-http")
    console_server.user("admin@kinds-http.example.com", "admin", ws)
    console_server.user("ops@kinds-http.example.com", "operator", None)
    with console_server.login("admin@kinds-http.example.com") as c:
        form = c.get("/transports/new", params={"kind": "mailgun"}).text
        assert 'name="config.api_key"' in form and 'type="password"' in form
        assert "kind=sendmail" not in form
        token = csrf_of(form)
        made = c.post(
            "/transports/new",
            data={"csrf": token, "kind": "mailgun", "name": "mg", "enabled": "on",
                  "config.domain": "mg.example.com", "config.api_key": "key-secret-123",
                  "config.region": "eu"},
        )
        assert made.status_code == 303, made.text
        listing = c.get("/transports").text
        assert "mg" in listing and "key-secret-123" not in listing
        edit = re.search(r'href="/transports/(tr_[^"]+)"', listing)
        assert edit is not None
        assert "key-secret-123" not in c.get(f"/transports/{edit.group(1)}").text
        forged = c.post(
            "/transports/new",
            data={"csrf": token, "kind": "sendmail", "name": "local", "config.path": "/bin/sh"},
        )
        assert forged.status_code == 403
    with console_server.login("ops@kinds-http.example.com") as ops:
        assert "kind=sendmail" in ops.get("/transports/new").text


def test_configuration_pages_round_trip(console_server: ConsoleServer) -> None:
    """Suppress and lift; a webhook's secret shown once, rotated, tested, logged; an
    invited agent signs in; an address another workspace holds is refused beside the field."""
    ws = console_server.workspace("config-http")
    console_server.user("admin@config-http.example.com", "admin", ws)
    with console_server.login("admin@config-http.example.com") as c:
        token = csrf_of(c.get("/suppressions").text)
        added = c.post("/suppressions", data={"csrf": token, "address": "Gone@Example.net"})
        assert added.status_code == 303
        assert "gone@example.net" in c.get("/suppressions").text
        again = c.post("/suppressions", data={"csrf": token, "address": "gone@example.net"})
        assert again.status_code == 409 and "field-error" in again.text
        c.post("/suppressions/lift", data={"csrf": token, "address": "gone@example.net"})
        assert "gone@example.net" not in c.get("/suppressions").text

        hook = c.post(
            "/webhooks",
            data={"csrf": token, "url": "http://127.0.0.1:9/hook", "events": "*"},
        )
        assert hook.status_code == 201, hook.text
        secret = re.search(r'<code class="secret">([^<]+)</code>', hook.text)
        hook_id = re.search(r'href="/webhooks/(wh[^"]+)"', hook.text)
        assert secret is not None and hook_id is not None
        assert secret.group(1) not in c.get("/webhooks").text
        rotated = c.post(f"/webhooks/{hook_id.group(1)}/rotate", data={"csrf": token})
        new = re.search(r'<code class="secret">([^<]+)</code>', rotated.text)
        assert new is not None and new.group(1) != secret.group(1)
        tested = c.post(f"/webhooks/{hook_id.group(1)}/test", data={"csrf": token})
        assert tested.status_code == 303
        assert "webhook.test" in c.get(f"/webhooks/{hook_id.group(1)}").text

        bad = c.post("/webhooks", data={"csrf": token, "url": "ftp://x", "events": "*"})
        assert bad.status_code == 422 and "field-error" in bad.text

        invited = c.post(
            "/users",
            data={"csrf": token, "email": "new.agent@config-http.example.com",
                  "role": "agent", "password": PASSWORD},
        )
        assert invited.status_code == 303
        short = c.post(
            "/users", data={"csrf": token, "email": "x@config-http.example.com", "password": "1"}
        )
        assert short.status_code == 422 and "password" in short.text
    with console_server.login("new.agent@config-http.example.com") as agent:
        assert agent.get("/conversations").status_code == 200


def test_login_never_redirects_off_site(console_server: ConsoleServer, acme: str) -> None:
    with console_server.client() as c:
        token = csrf_of(c.get("/login").text)
        answer = c.post(
            "/login",
            data={"email": "admin@acme-http.example.com", "password": PASSWORD, "csrf": token,
                  "next": "//evil.example.com/"},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_poll_now_shows_the_mailboxs_own_words(console_server: ConsoleServer) -> None:
    """Poll now on an IMAP source whose server is down: the page says why, no 500."""
    from mailgate.services import tenancy
    from tests.servers.smtpsink import free_port

    ws = console_server.workspace("poll-http")
    console_server.user("admin@poll-http.example.com", "admin", ws)
    with transaction(console_server.app.sessions) as session:
        _, key = tenancy.create_api_key(session, ws)
    with httpx.Client(base_url=console_server.url) as api:
        made = api.post(
            "/v1/sources",
            headers={"Authorization": f"Bearer {key}"},
            json={"name": "helpdesk", "kind": "imap", "enabled": False,
                  "config": {"host": "127.0.0.1", "port": free_port(), "security": "none",
                             "username": "u", "password": "p"}},
        )
        assert made.status_code == 201, made.text
        source_id = made.json()["id"]
    with console_server.login("admin@poll-http.example.com") as c:
        page = c.get("/inbound").text
        assert "helpdesk" in page
        answer = c.post(f"/inbound/sources/{source_id}/poll", data={"csrf": csrf_of(page)})
        assert answer.status_code == 200
        assert "Polling failed" in answer.text and "server-words" in answer.text


def test_operator_switches_workspace(console_server: ConsoleServer) -> None:
    """An operator acts in the workspace they choose; the choice is theirs only."""
    first = console_server.workspace("switch-one")
    second = console_server.workspace("switch-two")
    console_server.user("ops@switch.example.com", "operator", None)
    with console_server.login("ops@switch.example.com") as c:
        page = c.get("/").text
        assert f'value="{first}"' in page and f'value="{second}"' in page
        moved = c.post("/workspace", data={"csrf": csrf_of(page), "workspace": second})
        assert moved.status_code == 303
        assert f'<option value="{second}" selected>' in c.get("/").text
        nowhere = c.post("/workspace", data={"csrf": csrf_of(page), "workspace": "ws_nope"})
        assert nowhere.status_code == 303
        assert f'<option value="{second}" selected>' in c.get("/").text


def test_inbox_search_and_remote_images(console_server: ConsoleServer) -> None:
    """The inbox searches subject and address; a mail's remote image stays out of the
    page (and out of its CSP) until the agent asks for that message's images."""
    import time

    from mailgate.services import tenancy
    from mailgate.store.models import SupportAddress, new_id

    ws = console_server.workspace("inbox-http")
    console_server.user("agent@inbox-http.example.com", "agent", ws)
    with transaction(console_server.app.sessions) as session:
        session.add(
            SupportAddress(id=new_id("adr"), workspace_id=ws, address="help@inbox-http.example.com")
        )
        _, key = tenancy.create_api_key(session, ws)
    raw = (
        b"From: Wang <wang@buyer.example.net>\r\nTo: help@inbox-http.example.com\r\n"
        b"Subject: Pixel tracking check\r\nMessage-ID: <pixel-1@buyer.example.net>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>Hello</p><img src="https://tracker.example/p.gif">\r\n'
    )
    with httpx.Client(base_url=console_server.url) as api:
        stored = api.post(
            "/v1/inbound", content=raw,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "message/rfc822"},
        )
        assert stored.status_code == 202, stored.text
    with console_server.login("agent@inbox-http.example.com") as c:
        deadline = time.monotonic() + 20
        while "Pixel tracking check" not in (page := c.get("/conversations").text):
            assert time.monotonic() < deadline, "the mail never became a conversation"
            time.sleep(0.1)
        assert "Pixel tracking check" in c.get("/conversations", params={"q": "tracking"}).text
        assert "Pixel tracking check" in c.get("/conversations", params={"q": "wang@"}).text
        assert "Pixel tracking check" not in c.get("/conversations", params={"q": "zzz"}).text
        conv = re.search(r'href="/conversations/(cv_[^"]+)"', page)
        assert conv is not None
        thread = c.get(f"/conversations/{conv.group(1)}")
        assert "tracker.example" not in thread.text
        assert "https:" not in thread.headers["content-security-policy"]
        message = re.search(r'images=(msg_[^"#&]+)', thread.text)
        assert message is not None
        shown = c.get(f"/conversations/{conv.group(1)}", params={"images": message.group(1)})
        assert "tracker.example" in shown.text
        assert "https:" in shown.headers["content-security-policy"]


def test_dead_letter_reason_raw_and_reprocess(console_server: ConsoleServer) -> None:
    """A dead letter shows its reason on /inbound and the dashboard, downloads raw, and
    Reprocess runs it through the pipeline again; B's admin cannot touch it."""
    import time

    from mailgate.services import tenancy
    from mailgate.store.models import MessageRow

    ws = console_server.workspace("dead-http")
    console_server.user("admin@dead-http.example.com", "admin", ws)
    with transaction(console_server.app.sessions) as session:
        _, key = tenancy.create_api_key(session, ws)
    raw = b"From: a@sender.example.net\r\nSubject: Lost one\r\n\r\nhello\r\n"
    with httpx.Client(base_url=console_server.url) as api:
        msg_id = api.post(
            "/v1/inbound", content=raw,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "message/rfc822"},
        ).json()["id"]
    deadline = time.monotonic() + 20
    while True:  # let the worker finish with it, then make it a dead letter
        with transaction(console_server.app.sessions) as session:
            row = session.get_one(MessageRow, msg_id)
            if row.status in ("processed", "dead"):
                row.status, row.last_error = "dead", "routing failed: a test's own reason"
                break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with console_server.login("admin@dead-http.example.com") as c:
        assert "a test&#39;s own reason" in c.get("/").text
        page = c.get("/inbound").text
        assert "Lost one" in page and "a test&#39;s own reason" in page
        assert c.get(f"/messages/{msg_id}/raw").content == raw
    console_server.user("admin@dead-other.example.com", "admin",
                        console_server.workspace("dead-other"))
    with console_server.login("admin@dead-other.example.com") as b:
        token_b = csrf_of(b.get("/inbound").text)
        assert b.post(f"/messages/{msg_id}/reprocess", data={"csrf": token_b}).status_code == 404
        assert b.get(f"/messages/{msg_id}/raw").status_code == 404
    with console_server.login("admin@dead-http.example.com") as c:
        token = csrf_of(c.get("/inbound").text)  # a new session, a new token
        done = c.post(f"/messages/{msg_id}/reprocess", data={"csrf": token})
        assert done.status_code == 303
        assert "Lost one" not in c.get("/inbound").text
