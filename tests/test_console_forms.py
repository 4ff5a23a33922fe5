"""The console's configuration forms over plain HTTP: inbound sources (IMAP, POP3,
Mailgun), webhook editing, secret rotation, delivery log and test, the SMTP ``auth``
selector with its OAuth2 sign-in, warm-up plans on transports and sending domains,
and the login hint of *Connect*.

Each form goes through the service the API uses: a refusal shows the API's own
message beside the field it names; secrets are never written back into a page;
another workspace's object answers 404, an agent 403, a POST without the CSRF
token 403.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mailgate.services import oauth, tenancy
from mailgate.services import sources as source_service
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.store.models import SendingDomain, Source, new_id, utcnow
from tests.helpers import wait_for
from tests.servers.console import ConsoleServer, csrf_of
from tests.servers.smtpsink import free_port

ADMIN = "admin@forms-a.example.com"
OTHER = "admin@forms-b.example.com"
AGENT = "agent@forms-a.example.com"


@pytest.fixture(scope="module")
def ws(console_server: ConsoleServer) -> dict[str, str]:
    """Workspace A (admin, agent, an API key to compare with the API's answers) and B."""
    a = console_server.workspace("forms-a")
    b = console_server.workspace("forms-b")
    console_server.user(ADMIN, "admin", a)
    console_server.user(AGENT, "agent", a)
    console_server.user(OTHER, "admin", b)
    with transaction(console_server.app.sessions) as session:
        _, key = tenancy.create_api_key(session, a, "forms")
    return {"a": a, "b": b, "key": key}


Signed = Callable[[str], AbstractContextManager[httpx.Client]]


@pytest.fixture(scope="module")
def signed(console_server: ConsoleServer, ws: dict[str, str]) -> Iterator[Signed]:
    """One signed-in client per user for the module: sign-ins (argon2) are the slow part."""
    clients: dict[str, httpx.Client] = {}
    with ExitStack() as stack:

        def client(email: str) -> AbstractContextManager[httpx.Client]:
            if email not in clients:
                clients[email] = stack.enter_context(console_server.login(email))
            return nullcontext(clients[email])

        yield client


def field_error(page: str, name: str) -> str:
    """The message shown beside field ``name`` (web templates: ``data-field``)."""
    found = re.search(rf'<p class="field-error" data-field="{re.escape(name)}">([^<]*)</p>', page)
    assert found is not None, f"no error beside {name}"
    return html.unescape(found.group(1))


def api_error(console_server: ConsoleServer, key: str, method: str, path: str, body: Any) -> str:
    with httpx.Client(base_url=console_server.url, timeout=30) as api:
        answer = api.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 422, answer.text
    message: str = answer.json()["error"]["message"]
    return message


def _stored_secrets(console_server: ConsoleServer, source_id: str) -> dict[str, Any]:
    with console_server.app.sessions() as session:
        row = session.get(Source, source_id)
        assert row is not None
        return console_server.app.secrets.decrypt(row.secrets)


# --- inbound sources ---------------------------------------------------------------------------


def test_imap_source_create_edit_disable_delete(
    console_server: ConsoleServer, ws: dict, signed: Signed
) -> None:
    """Add an IMAP source from its schema-drawn form, edit it with the password left
    empty (the stored one stays), disable it, delete it. The password never appears."""
    password = "imap-Secret-4711"
    port = str(free_port())
    with signed(ADMIN) as c:
        form = c.get("/inbound/sources/new", params={"kind": "imap"}).text
        for name in ("host", "port", "username", "folder", "after", "auth"):
            assert f'name="config.{name}"' in form, name
        assert 'type="password" name="config.password" value=""' in form
        assert 'name="config.ca_file"' not in form  # a local file: operators only
        token = csrf_of(form)
        made = c.post(
            "/inbound/sources/new",
            data={"csrf": token, "kind": "imap", "name": "helpdesk", "config.host": "127.0.0.1",
                  "config.port": port, "config.security": "none", "config.username": "help",
                  "config.password": password, "config.folder": "INBOX", "config.after": "flag",
                  "config.auth": "password", "config.poll_interval": "600"},
        )
        assert made.status_code == 303, made.text
        page_url = made.headers["location"].split("?")[0]
        source_id = page_url.rsplit("/", 1)[1]
        edit = c.get(page_url).text
        assert "helpdesk" in edit and port in edit and password not in edit
        assert password not in c.get("/inbound").text
        assert _stored_secrets(console_server, source_id) == {"password": password}

        # Edit with the password field empty: the stored password stays.
        changed = c.post(
            page_url,
            data={"csrf": token, "name": "helpdesk cn", "config.host": "127.0.0.1",
                  "config.port": port, "config.security": "none", "config.username": "help",
                  "config.password": "", "config.folder": "Support", "config.after": "flag",
                  "config.auth": "password", "enabled": "on"},
        )
        assert changed.status_code == 303, changed.text
        with console_server.app.sessions() as session:
            row = source_service.get(session, ws["a"], source_id)
            assert (row.name, row.config["folder"], row.enabled) == ("helpdesk cn", "Support", True)
        assert _stored_secrets(console_server, source_id) == {"password": password}
        assert password not in c.get(page_url).text

        off = c.post(f"/inbound/sources/{source_id}/enabled", data={"csrf": token})
        assert off.status_code == 303
        with console_server.app.sessions() as session:
            assert source_service.get(session, ws["a"], source_id).enabled is False
        gone = c.post(f"/inbound/sources/{source_id}/delete", data={"csrf": token})
        assert gone.status_code == 303
        assert c.get(page_url).status_code == 404


def test_source_refusals_are_the_apis_words_beside_the_field(
    console_server: ConsoleServer, ws: dict, signed: Signed
) -> None:
    """A port out of range gets, beside *port*, exactly what ``POST /v1/sources`` answers;
    a POP3 source without a password is refused beside *password*; the typed password
    is not written back into the refused form."""
    config = {"host": "127.0.0.1", "port": 99999, "security": "none", "username": "u",
              "password": "pw"}
    expected = api_error(
        console_server, ws["key"], "POST", "/v1/sources",
        {"name": "bad", "kind": "imap", "config": config},
    )
    with signed(ADMIN) as c:
        token = csrf_of(c.get("/inbound").text)
        bad = c.post(
            "/inbound/sources/new",
            data={"csrf": token, "kind": "imap", "name": "bad", "config.host": "127.0.0.1",
                  "config.port": "99999", "config.security": "none", "config.username": "u",
                  "config.password": "typed-Secret-99"},
        )
        assert bad.status_code == 422
        assert field_error(bad.text, "port") == expected
        assert "typed-Secret-99" not in bad.text
        assert 'value="bad"' in bad.text  # what was typed stays, but the secret

        pop = c.post(
            "/inbound/sources/new",
            data={"csrf": token, "kind": "pop3", "name": "pop", "config.host": "127.0.0.1",
                  "config.security": "none", "config.username": "u", "config.password": ""},
        )
        assert pop.status_code == 422
        assert "config.password: Field required" in field_error(pop.text, "password")


def test_mailgun_source_shows_its_push_url_never_its_key(
    console_server: ConsoleServer, ws: dict, signed: Signed
) -> None:
    """A push source: its signing key is write-only, its URL is ready to paste."""
    with signed(ADMIN) as c:
        form = c.get("/inbound/sources/new", params={"kind": "mailgun"}).text
        assert 'type="password" name="config.signing_key"' in form
        made = c.post(
            "/inbound/sources/new",
            data={"csrf": csrf_of(form), "kind": "mailgun", "name": "mg route",
                  "config.signing_key": "key-Signing-1234", "config.max_age_seconds": "300",
                  "enabled": "on"},
        )
        assert made.status_code == 303, made.text
        page = c.get(made.headers["location"]).text
        source_id = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
        public = console_server.app.settings.public_base.rstrip("/")
        assert f"{public}/v1/inbound/{source_id}" in page
        assert "key-Signing-1234" not in page
        assert "key-Signing-1234" not in c.get("/inbound").text


def test_oauth_imap_source_goes_on_to_the_provider(
    console_server: ConsoleServer, ws: dict, signed: Signed, oauth_client: str
) -> None:
    """An IMAP source with auth xoauth2 needs no password: saved, then the browser goes
    to the provider's sign-in with the login hint; its page then says *not connected*."""
    with signed(ADMIN) as c:
        form = c.get("/inbound/sources/new", params={"kind": "imap"}).text
        assert '<option value="generic"' in form and 'name="login_hint"' in form
        went = c.post(
            "/inbound/sources/new",
            data={"csrf": csrf_of(form), "kind": "imap", "name": "gmail inbox",
                  "config.host": "127.0.0.1", "config.port": str(free_port()),
                  "config.security": "none", "config.username": "li.lei@forms-a.example.com",
                  "config.auth": "xoauth2", "config.after": "flag", "config.folder": "INBOX",
                  "oauth_provider": oauth_client, "login_hint": "li.lei@forms-a.example.com"},
        )
        assert went.status_code == 303, went.text
        target = urlsplit(went.headers["location"])
        assert target.path == "/authorize"
        assert parse_qs(target.query)["login_hint"] == ["li.lei@forms-a.example.com"]
        with console_server.app.sessions() as session:
            row = next(r for r in source_service.list_(session, ws["a"])
                       if r.name == "gmail inbox")
        page = c.get(f"/inbound/sources/{row.id}").text
        assert '<option value="xoauth2" selected>' in page and "not connected" in page


def test_sources_of_another_workspace_answer_404_agents_403_and_csrf(
    console_server: ConsoleServer, ws: dict, signed: Signed
) -> None:
    with transaction(console_server.app.sessions) as session:
        row = source_service.create(
            session, console_server.app.secrets, ws["a"],
            {"name": "a-only", "kind": "mailgun", "enabled": False,
             "config": {"signing_key": "k-a-only"}},
        )
        source_id = row.id
    with signed(OTHER) as b:
        token = csrf_of(b.get("/inbound").text)
        assert b.get(f"/inbound/sources/{source_id}").status_code == 404
        for suffix, data in (("", {"name": "stolen"}), ("/enabled", {"enabled": "on"}),
                             ("/delete", {}), ("/poll", {})):
            answer = b.post(f"/inbound/sources/{source_id}{suffix}", data={"csrf": token, **data})
            assert answer.status_code == 404, suffix
        assert "a-only" not in b.get("/inbound").text
    with signed(AGENT) as agent:
        assert agent.get("/inbound/sources/new").status_code == 403
        assert agent.get(f"/inbound/sources/{source_id}").status_code == 403
    with signed(ADMIN) as c:
        forged = c.post(f"/inbound/sources/{source_id}/delete", data={})
        assert forged.status_code == 403
        made = c.post("/inbound/sources/new", data={"kind": "mailgun", "name": "no-csrf",
                                                    "config.signing_key": "k"})
        assert made.status_code == 403
    with console_server.app.sessions() as session:
        kept = source_service.get(session, ws["a"], source_id)
        assert kept.name == "a-only" and kept.enabled is False
        assert "no-csrf" not in [s.name for s in source_service.list_(session, ws["a"])]


# --- webhooks ---------------------------------------------------------------------------------


class Receiver:
    """An HTTP endpoint on loopback that answers every webhook with ``code``."""

    def __init__(self, code: int) -> None:
        self.hits = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.hits += 1
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(204)
    yield r
    r.close()


def test_webhook_edit_rotate_test_and_delivery_log(
    console_server: ConsoleServer, ws: dict, signed: Signed, receiver: Receiver
) -> None:
    """Edit URL, events and enabled (refusals beside the field, as PATCH answers them);
    a new secret is shown once; *Send a test* reaches the endpoint and the log shows
    its status, HTTP code and time; B gets 404 on every route; agents 403; CSRF 403."""
    with signed(ADMIN) as c:
        token = csrf_of(c.get("/webhooks").text)
        made = c.post("/webhooks", data={"csrf": token, "url": "http://127.0.0.1:9/old",
                                         "events": "*"})
        assert made.status_code == 201
        first = re.search(r'<code class="secret">([^<]+)</code>', made.text)
        hook_id = re.search(r'href="/webhooks/(wh[^"]+)"', made.text)
        assert first is not None and hook_id is not None
        url = f"/webhooks/{hook_id.group(1)}"

        page = c.get(url).text
        assert 'name="url" value="http://127.0.0.1:9/old"' in page
        assert first.group(1) not in page

        no_events = c.post(url, data={"csrf": token, "url": receiver.url, "enabled": "on"})
        assert no_events.status_code == 422
        expected = api_error(console_server, ws["key"], "PATCH", f"/v1{url}", {"events": []})
        assert field_error(no_events.text, "events") == expected
        bad_url = c.post(url, data={"csrf": token, "url": "ftp://x", "events": "*"})
        assert bad_url.status_code == 422
        assert field_error(bad_url.text, "url") == api_error(
            console_server, ws["key"], "PATCH", f"/v1{url}", {"url": "ftp://x"}
        )

        saved = c.post(url, data={"csrf": token, "url": receiver.url, "enabled": "on",
                                  "events": ["message.sent", "message.failed"]})
        assert saved.status_code == 303, saved.text
        page = c.get(url).text
        assert f'value="{receiver.url}"' in page
        assert 'value="message.sent" checked' in page and 'value="*" checked' not in page

        rotated = c.post(f"{url}/rotate", data={"csrf": token})
        new = re.search(r'<code class="secret">([^<]+)</code>', rotated.text)
        assert new is not None and new.group(1) != first.group(1)
        assert new.group(1) not in c.get(url).text  # shown once

        assert c.post(f"{url}/test", data={"csrf": token}).status_code == 303
        wait_for(lambda: receiver.hits >= 1, what="the test webhook")

        def delivered() -> str | None:
            page = c.get(url).text
            return page if "<code>204</code>" in page else None

        log = wait_for(delivered, what="the delivery in the log")
        assert "webhook.test" in log and "delivered" in log

        disabled = c.post(url, data={"csrf": token, "url": receiver.url, "events": "*"})
        assert disabled.status_code == 303
        assert "disabled" in c.get("/webhooks").text
    with signed(OTHER) as b:
        token_b = csrf_of(b.get("/webhooks").text)
        assert b.get(url).status_code == 404
        for suffix in ("", "/rotate", "/test", "/delete"):
            answer = b.post(f"{url}{suffix}", data={"csrf": token_b, "url": "http://127.0.0.1:9/x",
                                                    "events": "*"})
            assert answer.status_code == 404, suffix
    with signed(AGENT) as agent:
        assert agent.get(url).status_code == 403
    with signed(ADMIN) as c:
        forged = c.post(url, data={"url": "http://127.0.0.1:9/forged", "events": "*"})
        assert forged.status_code == 403
        assert "forged" not in c.get(url).text


# --- transports: auth, OAuth2 sign-in, warm-up ------------------------------------------------


@pytest.fixture(scope="module")
def oauth_client(console_server: ConsoleServer, ws: dict) -> str:
    """Workspace A's own OAuth client (generic provider); never contacted by these tests:
    they only read the authorization URL the browser is sent to."""
    with transaction(console_server.app.sessions) as session:
        oauth.register_client(
            session, console_server.app.secrets, ws["a"],
            {"provider": "generic", "client_id": "forms-client", "client_secret": "cs-forms",
             "authorize_url": "http://127.0.0.1:9/authorize",
             "token_url": "http://127.0.0.1:9/token", "scopes": ["mail"]},
            guard=None,
        )
    return "generic"


def smtp_form(token: str, **extra: str) -> dict[str, str]:
    return {"csrf": token, "kind": "smtp", "name": "gmail", "host": "127.0.0.1",
            "port": "2525", "security": "none", "username": "li.lei@forms-a.example.com",
            "password": "", "mode": "queued", "enabled": "on", **extra}


def test_smtp_xoauth2_goes_on_to_the_provider_with_the_login_hint(
    console_server: ConsoleServer, ws: dict, signed: Signed, oauth_client: str
) -> None:
    """auth = xoauth2 with a provider chosen: saved, then the browser goes to the
    provider's sign-in with the login hint; the edit page says *not connected*."""
    with signed(ADMIN) as c:
        form = c.get("/transports/new").text
        assert 'name="auth"' in form and 'value="xoauth2"' in form
        assert '<option value="generic"' in form
        token = csrf_of(form)
        bad = c.post("/transports/new", data=smtp_form(token, auth="bogus"))
        assert bad.status_code == 422
        assert field_error(bad.text, "auth").startswith("config.auth:")

        went = c.post("/transports/new", data=smtp_form(
            token, auth="xoauth2", oauth_provider=oauth_client,
            login_hint="li.lei@forms-a.example.com"))
        assert went.status_code == 303, went.text
        target = urlsplit(went.headers["location"])
        assert target.netloc == "127.0.0.1:9" and target.path == "/authorize"
        query = parse_qs(target.query)
        assert query["login_hint"] == ["li.lei@forms-a.example.com"]
        assert query["client_id"] == ["forms-client"]
        with console_server.app.sessions() as session:
            row = next(t for t in transport_service.visible(session, ws["a"])
                       if t.name == "gmail")
            assert row.config["auth"] == "xoauth2"
        edit = c.get(f"/transports/{row.id}").text
        assert '<option value="xoauth2" selected>' in edit and "not connected" in edit

        # A provider without a client (a forged choice): saved, and the refusal is
        # shown beside the provider, in the service's words.
        other = c.post(f"/transports/{row.id}", data=smtp_form(
            token, auth="xoauth2", oauth_provider="google"))
        assert other.status_code == 404
        assert "no OAuth client is registered for 'google'" in field_error(
            other.text, "oauth_provider")

        # Back to a password: no sign-in, straight to the list.
        plain = c.post(f"/transports/{row.id}", data=smtp_form(
            token, auth="login", password="smtp-Secret-77", oauth_provider=oauth_client))
        assert plain.status_code == 303 and plain.headers["location"] == "/transports"
        assert "smtp-Secret-77" not in c.get(f"/transports/{row.id}").text


def test_oauth_connect_passes_the_login_hint(
    console_server: ConsoleServer, ws: dict, signed: Signed, oauth_client: str
) -> None:
    """*Connect* on /oauth sends the login hint (prefilled with the account) as the API's
    ``login_hint``; one longer than the API allows is refused, nothing started."""
    with transaction(console_server.app.sessions) as session:
        row = transport_service.create(
            session, console_server.app.secrets, ws["a"],
            {"name": "o365", "kind": "smtp", "mode": "queued",
             "config": {"host": "127.0.0.1", "port": 2525, "username": "ops@forms-a.example.com",
                        "auth": "oauthbearer"}},
        )
    with signed(ADMIN) as c:
        page = c.get("/oauth").text
        assert 'name="login_hint" value="ops@forms-a.example.com"' in page
        token = csrf_of(page)
        went = c.post("/oauth/connect", data={
            "csrf": token, "kind": "transport", "id": row.id, "provider": oauth_client,
            "login_hint": "someone@forms-a.example.com"})
        assert went.status_code == 303
        hint = parse_qs(urlsplit(went.headers["location"]).query)["login_hint"]
        assert hint == ["someone@forms-a.example.com"]
        too_long = c.post("/oauth/connect", data={
            "csrf": token, "kind": "transport", "id": row.id, "provider": oauth_client,
            "login_hint": "x" * 321})
        assert too_long.status_code == 422 and "login_hint" in too_long.text


def test_transport_warmup_plan(
    console_server: ConsoleServer, ws: dict, signed: Signed
) -> None:
    """A warm-up plan set, shown back, refused beside its field (the API's words), removed."""
    expected = api_error(
        console_server, ws["key"], "POST", "/v1/transports",
        {"name": "w", "kind": "smtp", "config": {"host": "127.0.0.1"},
         "warmup": {"start": 500, "target": 100}},
    )
    with signed(ADMIN) as c:
        token = csrf_of(c.get("/transports/new").text)
        bad = c.post("/transports/new", data=smtp_form(
            token, name="warm", **{"warmup.start": "500", "warmup.target": "100"}))
        assert bad.status_code == 422
        assert field_error(bad.text, "warmup.target") == expected
        assert 'name="warmup.start" inputmode="decimal" value="500"' in bad.text

        made = c.post("/transports/new", data=smtp_form(
            token, name="warm", **{"warmup.start": "200", "warmup.growth": "1.5",
                                   "warmup.target": "50000"}))
        assert made.status_code == 303, made.text
        with console_server.app.sessions() as session:
            row = next(t for t in transport_service.visible(session, ws["a"])
                       if t.name == "warm")
        assert row.warmup == {"start": 200, "growth": 1.5, "target": 50000,
                              "max_bounce_rate": 0.05, "max_complaint_rate": 0.001}
        edit = c.get(f"/transports/{row.id}").text
        assert 'name="warmup.growth" inputmode="decimal" value="1.5"' in edit
        growth = c.post(f"/transports/{row.id}", data=smtp_form(
            token, name="warm", **{"warmup.start": "200", "warmup.growth": "11",
                                   "warmup.target": "50000"}))
        assert growth.status_code == 422
        assert field_error(
            growth.text, "warmup.growth") == "warmup.growth must be a number from 1.05 to 10.0"
        removed = c.post(f"/transports/{row.id}", data=smtp_form(token, name="warm"))
        assert removed.status_code == 303
        with console_server.app.sessions() as session:
            assert transport_service.get_own(session, ws["a"], row.id).warmup is None
    with signed(OTHER) as b:
        hostile = b.post(f"/transports/{row.id}", data=smtp_form(
            csrf_of(b.get("/transports").text), **{"warmup.start": "1", "warmup.target": "2"}))
        assert hostile.status_code == 404
    with signed(AGENT) as agent:
        assert agent.get(f"/transports/{row.id}").status_code == 403
        agent_token = csrf_of(agent.get("/conversations").text)
        refused = agent.post("/transports/new", data=smtp_form(agent_token))
        assert refused.status_code == 403
    with signed(ADMIN) as c:
        forged = c.post(f"/transports/{row.id}", data=smtp_form(
            "", name="forged", **{"warmup.start": "1", "warmup.target": "2"}))
        assert forged.status_code == 403
    with console_server.app.sessions() as session:
        kept = transport_service.get_own(session, ws["a"], row.id)
        assert (kept.name, kept.warmup) == ("warm", None)


def test_sending_domain_warmup_plan(
    console_server: ConsoleServer, ws: dict, signed: Signed
) -> None:
    """The domain's limits form carries the warm-up plan; the refusal names its field."""
    now = utcnow()
    with transaction(console_server.app.sessions) as session:
        domain = SendingDomain(
            id=new_id("sdom"), workspace_id=ws["a"], name="warm.forms-a.example.com",
            state="pending", warnings=[], records=[], created_at=now,
            next_check_at=now + timedelta(days=1),  # no DNS look-up during the test
        )
        session.add(domain)
        domain_id = domain.id
    url = f"/domains/{domain_id}"
    with signed(ADMIN) as c:
        token = csrf_of(c.get(url).text)
        bad = c.post(f"{url}/limits", data={"csrf": token, "warmup.start": "200",
                                            "warmup.target": "1000",
                                            "warmup.max_bounce_rate": "2"})
        assert bad.status_code == 422
        assert field_error(bad.text, "warmup.max_bounce_rate") == (
            "warmup.max_bounce_rate must be a number from 0.0 to 1.0")
        ok = c.post(f"{url}/limits", data={"csrf": token, "warmup.start": "200",
                                           "warmup.target": "1000", "daily_quota": "5000"})
        assert ok.status_code == 303
        page = c.get(url).text
        assert 'name="warmup.target" inputmode="decimal" value="1000"' in page
        assert "Warm-up: step 0, today's quota 200" in page
    with console_server.app.sessions() as session:
        stored = session.get(SendingDomain, domain_id)
        assert stored is not None and stored.warmup is not None
        assert (stored.warmup["start"], stored.daily_quota) == (200, 5000)
    with signed(OTHER) as b:
        hostile = b.post(f"{url}/limits", data={"csrf": csrf_of(b.get("/domains").text),
                                                "warmup.start": "1", "warmup.target": "1"})
        assert hostile.status_code == 404
    with signed(ADMIN) as c:
        assert c.post(f"{url}/limits", data={"warmup.start": "1"}).status_code == 403


def test_the_new_forms_in_chinese(
    console_server: ConsoleServer, ws: dict, signed: Signed
) -> None:
    """The forms speak zh-CN: the source form, the SMTP sign-in and warm-up fields."""
    zh = {"Accept-Language": "zh-CN"}
    with signed(ADMIN) as c:
        source = c.get("/inbound/sources/new", params={"kind": "imap"}, headers=zh).text
        assert "添加收信来源" in source and "OAuth2 登录" in source
        smtp = c.get("/transports/new", headers=zh).text
        for words in ("认证方式", "预热", "起始配额", "增长倍数", "目标配额", "最高退信率"):
            assert words in smtp, words
        assert "添加：mailgun" in c.get("/inbound", headers=zh).text
