"""Unsubscribe and suppression scopes: List-Unsubscribe, one-click, mailto, soft bounces."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from mailgate.config import Settings
from mailgate.crypto import SecretBox
from mailgate.errors import ConfigurationError
from mailgate.inbound import tokens
from mailgate.inbound.pipeline import Incoming, receive
from mailgate.inbound.smtp import start_listener
from mailgate.inbound.suppression import suppress
from mailgate.store.db import transaction
from mailgate.store.models import Event, MessageRow, Suppression, utcnow
from tests.helpers import wait_for
from tests.servers.listener import LoopThread, RunningListener
from tests.servers.mailgate import Server

FROM = "news@acme.example.com"
BOUNCES = "bounces@acme.example.com"
PERSON = "Reader@Example.net"


def capture(c: httpx.Client, bounces: str = BOUNCES) -> None:
    r = c.post(
        "/v1/transports",
        json={
            "name": "cap",
            "kind": "capture",
            "default": True,
            "mode": "immediate",
            "sender": FROM,
            "bounce_address": bounces,
        },
    )
    assert r.status_code == 201, r.text


def send(c: httpx.Client, to: list[str], **extra: object) -> httpx.Response:
    return c.post("/v1/messages", json={"from": FROM, "to": to, "text": "news", **extra})


def header(detail: dict[str, object], name: str) -> str | None:
    """An unfolded header of the stored message."""
    text = str(detail["headers"]).replace("\r\n ", " ")
    m = re.search(rf"^{name}: (.*)$", text, re.M | re.I)
    return m.group(1).rstrip("\r") if m else None


def public(server: Server) -> httpx.Client:
    """No API key: what a mail client or a person's browser sends."""
    return httpx.Client(base_url=server.url, timeout=30)


def bulk_link(c: httpx.Client, to: str = PERSON) -> tuple[str, str, str]:
    """(message id, HTTPS link path, mailto address) of a bulk message to ``to``."""
    r = send(c, [to], category="bulk")
    assert r.status_code == 200, r.text
    detail = c.get(f"/v1/messages/{r.json()['id']}").json()
    m = re.fullmatch(r"<([^>]+)>, <mailto:([^>]+)>", header(detail, "List-Unsubscribe") or "")
    assert m is not None, detail["headers"]
    url, mailto = m.groups()
    return r.json()["id"], httpx.URL(url).path, mailto


def test_bulk_message_carries_exact_one_click_headers(server: Server) -> None:
    """RFC 2369 HTTPS + mailto links naming this recipient, and RFC 8058's Post header."""
    box = server.app.secrets
    with server.client() as c:
        capture(c)
        r = send(c, [PERSON], category="bulk")
        assert r.status_code == 200, r.text
        detail = c.get(f"/v1/messages/{r.json()['id']}").json()
        assert detail["category"] == "bulk"
        token = tokens.unsubscribe_token(box, server.workspace_id, PERSON, "bulk")
        mailto = tokens.unsubscribe_address(box, r.json()["id"], "acme.example.com")
        base = server.app.settings.public_base
        assert header(detail, "List-Unsubscribe") == f"<{base}/u/{token}>, <mailto:{mailto}>"
        assert header(detail, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        # Transactional mail (the default) carries neither; asking for it adds them.
        plain = c.get(f"/v1/messages/{send(c, [PERSON]).json()['id']}").json()
        assert plain["category"] == "transactional"
        assert header(plain, "List-Unsubscribe") is None
        asked = send(c, [PERSON], unsubscribe=True).json()
        asked_detail = c.get(f"/v1/messages/{asked['id']}").json()
        assert header(asked_detail, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"


def test_bulk_with_several_recipients_is_refused_naming_to(server: Server) -> None:
    """One MIME per message: a link that names one person cannot go to several."""
    with server.client() as c:
        capture(c)
        r = send(c, [PERSON], cc=["other@example.net"], category="bulk")
        assert r.status_code == 422 and r.json()["error"]["field"] == "to", r.text
        assert "exactly one recipient" in r.json()["error"]["message"]
        bad = send(c, [PERSON], category="bulk", headers={"List-Unsubscribe": "<https://x>"})
        assert bad.json()["error"]["field"] == "headers.List-Unsubscribe"
        assert send(c, [PERSON], category="newsletter").status_code == 422
        # Several recipients are fine for transactional mail, without the headers.
        ok = send(c, [PERSON, "other@example.net"])
        assert ok.status_code == 200
        detail = c.get(f"/v1/messages/{ok.json()['id']}").json()
        assert header(detail, "List-Unsubscribe") is None


def test_get_changes_nothing_and_one_click_post_suppresses_bulk_only(server: Server) -> None:
    """A link scanner's GET leaves the list alone; the one-click POST blocks bulk mail only."""
    with server.client() as c, public(server) as p:
        capture(c)
        _, path, _ = bulk_link(c)
        page = p.get(path)
        assert page.status_code == 200 and '<form method="post"' in page.text
        assert "reader@example.net" in page.text
        assert c.get("/v1/suppressions").json()["items"] == []
        r = p.post(path, data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 200 and "Unsubscribed" in r.text
        assert p.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        with server.app.sessions() as session:  # the repeat is harmless: one event
            kinds = session.scalars(
                select(Event.type).where(Event.workspace_id == server.workspace_id)
            )
            assert list(kinds).count("suppression.unsubscribed") == 1
        [entry] = c.get("/v1/suppressions").json()["items"]
        assert (entry["address"], entry["reason"], entry["scope"]) == (
            "reader@example.net",
            "unsubscribe",
            "bulk",
        )
        assert send(c, [PERSON]).json()["status"] == "sent"  # transactional still goes
        blocked = send(c, [PERSON], category="bulk").json()
        assert blocked["recipients"][0]["status"] == "suppressed"


def test_forged_and_retired_tokens_are_refused_with_a_page(server: Server) -> None:
    """An altered token, or one signed by a key no longer held: 400 with a page, never 500."""
    with server.client() as c, public(server) as p:
        capture(c)
        _, path, _ = bulk_link(c)
        data, sig = path.rsplit("/", 1)[1].split(".")
        box = server.app.secrets
        other = tokens.unsubscribe_token(box, server.workspace_id, "x@example.net", "bulk")
        swapped = f"/u/{other.split('.')[0]}.{sig}"  # someone else's address, this signature
        retired = SecretBox("an-old-key-that-was-dropped-" + "k" * 40)
        stale = tokens.unsubscribe_token(retired, server.workspace_id, PERSON, "bulk")
        for bad in (swapped, f"/u/{data}.{'0' * 32}", f"/u/{stale}", "/u/nonsense", f"/u/{data}"):
            for method in ("GET", "POST"):
                r = p.request(method, bad, data={"List-Unsubscribe": "One-Click"})
                assert r.status_code == 400, (method, bad, r.status_code)
                assert "not valid" in r.text
        assert c.get("/v1/suppressions").json()["items"] == []


def test_a_token_of_workspace_a_never_touches_b(server: Server) -> None:
    """The token names its workspace: B's list and B's bulk mail stay as they were."""
    _, other = server.new_workspace("globex")
    with server.client() as c, server.client(other) as o, public(server) as p:
        capture(c)
        capture(o, "bounces@globex.example.com")
        _, path, _ = bulk_link(c)
        assert p.post(path).status_code == 200
        assert o.get("/v1/suppressions").json()["items"] == []
        assert send(o, [PERSON], category="bulk").json()["status"] == "sent"
        assert len(c.get("/v1/suppressions").json()["items"]) == 1


def test_public_routes_need_no_key_even_with_a_body(server: Server) -> None:
    """api/limits.py reads the OpenAPI security: these routes declare none."""
    with public(server) as p:
        spec = p.get("/openapi.json").json()
    for method in ("get", "post"):
        assert "security" not in spec["paths"]["/u/{token}"][method]


def test_scope_in_the_suppressions_api(server: Server) -> None:
    """Manual entries default to all; scope is set, filtered and lifted one by one."""
    with server.client() as c:
        capture(c)
        bulk = {"address": PERSON, "scope": "bulk"}
        assert c.post("/v1/suppressions", json=bulk).status_code == 201
        r = c.post("/v1/suppressions", json={"address": PERSON})
        assert r.status_code == 201 and r.json()["scope"] == "all"
        assert c.post("/v1/suppressions", json=bulk).status_code == 409
        bad = c.post("/v1/suppressions", json={"address": PERSON, "scope": "some"})
        assert bad.status_code == 422 and "scope" in bad.text
        assert [e["scope"] for e in c.get("/v1/suppressions").json()["items"]] == ["all", "bulk"]
        page = c.get("/v1/suppressions", params={"limit": 1}).json()
        rest = c.get("/v1/suppressions", params={"limit": 1, "after": page["next"]}).json()
        assert [e["scope"] for e in page["items"] + rest["items"]] == ["all", "bulk"]
        only = c.get("/v1/suppressions", params={"scope": "bulk"}).json()["items"]
        assert [e["scope"] for e in only] == ["bulk"]
        assert send(c, [PERSON]).json()["status"] == "failed"  # all blocks transactional
        assert c.delete(f"/v1/suppressions/{PERSON}", params={"scope": "all"}).status_code == 204
        assert send(c, [PERSON]).json()["status"] == "sent"
        assert send(c, [PERSON], category="bulk").json()["status"] == "failed"


@pytest.fixture
def smtp(server: Server) -> Iterator[RunningListener]:
    """mailgate's SMTP listener over the server's own store, as ``mailgate serve`` runs it."""
    loop = LoopThread()
    listener = loop.run(start_listener(server.app, "127.0.0.1", 0))
    running = RunningListener(server.app, listener, loop, server.workspace_id)
    try:
        yield running
    finally:
        running.stop()


def test_mailto_unsubscribe_through_the_listener(server: Server, smtp: RunningListener) -> None:
    """Mail to the List-Unsubscribe mailto: is accepted by the listener and unsubscribes."""
    with server.client() as c:
        capture(c)
        pk, _, mailto = bulk_link(c)
        local, _, domain = mailto.partition("@")
        forged = f"{local[:-1]}{'1' if local.endswith('0') else '0'}@{domain}"
        with smtplib.SMTP(smtp.host, smtp.port) as client:
            client.ehlo()
            client.mail("reader@example.net")
            assert client.rcpt(forged)[0] == 550  # a forged token is nobody's address
            client.rset()
            raw = (
                f"From: reader@example.net\r\nTo: {mailto}\r\nSubject: unsubscribe\r\n"
                "Message-ID: <u1@example.net>\r\n\r\nplease stop\r\n"
            )
            client.sendmail("reader@example.net", [mailto], raw.encode())
            client.sendmail("reader@example.net", [mailto], raw.replace("u1@", "u2@").encode())

        def suppressed() -> list[dict[str, object]]:
            return c.get("/v1/suppressions").json()["items"]  # type: ignore[no-any-return]

        [entry] = wait_for(suppressed, what="the mailto unsubscribe")
        assert (entry["address"], entry["scope"], entry["source_message"]) == (
            "reader@example.net",
            "bulk",
            pk,
        )
        assert send(c, [PERSON]).json()["status"] == "sent"
        assert send(c, [PERSON], category="bulk").json()["status"] == "failed"
        assert c.get("/v1/conversations").json()["items"] == []

        def routed() -> bool:
            rows = smtp.inbound()
            return len(rows) == 2 and all(r.status == "processed" for r in rows)

        wait_for(routed, what="both mails routed")
        assert [r.kind for r in smtp.inbound()] == ["unsubscribe", "unsubscribe"]
        with server.app.sessions() as session:  # the second one is handled, and says nothing
            kinds = session.scalars(select(Event.type).where(Event.type.like("suppression.%")))
            assert list(kinds) == ["suppression.unsubscribed"]


def _soft_bounce(pk: str, mid: str) -> bytes:
    return (
        "From: MAILER-DAEMON@example.net\r\n"
        f"To: {BOUNCES}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <soft-{pk}@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="S"\r\n\r\n'
        "--S\r\nContent-Type: text/plain\r\n\r\nThe mailbox stayed full for days.\r\n"
        "--S\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; reader@example.net\r\n"
        "Action: failed\r\nStatus: 4.2.2\r\n"
        "Diagnostic-Code: smtp; 452 4.2.2 mailbox full\r\n\r\n"
        "--S\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{mid}>\r\nSubject: x\r\n\r\n--S--\r\n"
    ).encode()


def test_soft_bounces_over_the_limit_suppress_until_expiry(server: Server) -> None:
    """N proven 4.x.x reports within the window pause the address; the pause expires."""
    server.app.settings.soft_bounce_limit = 2
    server.app.settings.soft_bounce_suppress_days = 3
    with server.client() as c:
        capture(c)
        for i in range(2):
            sent = send(c, [PERSON]).json()
            assert sent["status"] == "sent", sent
            # The first message is reported twice: one message's notices count once.
            copies = ("a", "b") if i == 0 else ("a",)
            reports = [_soft_bounce(sent["id"] + n, sent["message_id"]) for n in copies]
            got = receive(server.app, [Incoming(server.workspace_id, r, "api") for r in reports])
            for g in got:
                wait_for(
                    lambda g=g: c.get(f"/v1/messages/{g.id}").json()["status"] == "processed",
                    what="the report",
                )
            if i == 0:
                assert c.get("/v1/suppressions").json()["items"] == []
        [entry] = c.get("/v1/suppressions").json()["items"]
        assert (entry["reason"], entry["scope"]) == ("soft_bounce", "all")
        assert entry["expires_at"] is not None
        assert send(c, [PERSON]).json()["status"] == "failed"
        with transaction(server.app.sessions) as session:
            row = session.scalar(select(Suppression))
            assert row is not None and row.expires_at is not None
            end = row.expires_at
            left = (end if end.tzinfo else end.replace(tzinfo=UTC)) - utcnow()
            assert timedelta(days=2) < left <= timedelta(days=3)
            session.execute(update(Suppression).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert send(c, [PERSON]).json()["status"] == "sent"  # expired: no longer blocks
    with server.app.sessions() as session:
        assert session.scalar(select(MessageRow.category).limit(1)) == "transactional"


def test_entries_of_each_scope_coexist_and_are_never_weakened(server: Server) -> None:
    """A hard bounce after an unsubscribe adds an ``all`` entry; permanence wins over expiry."""
    now = utcnow()
    ws = server.workspace_id
    with transaction(server.app.sessions) as session:
        suppress(session, ws, PERSON, reason="unsubscribe", scope="bulk", now=now)
        pause = now + timedelta(days=3)
        suppress(session, ws, PERSON, reason="soft_bounce", scope="all", now=now, expires_at=pause)
        # A later expiring entry extends; an earlier one changes nothing.
        longer = now + timedelta(days=5)
        assert suppress(
            session, ws, PERSON, reason="soft_bounce", scope="all", now=now, expires_at=longer
        )
        assert not suppress(
            session, ws, PERSON, reason="soft_bounce", scope="all", now=now, expires_at=pause
        )
        # A hard bounce makes the all entry permanent; a later pause cannot weaken it.
        assert suppress(session, ws, PERSON, reason="hard_bounce", scope="all", now=now)
        assert not suppress(
            session, ws, PERSON, reason="soft_bounce", scope="all", now=now, expires_at=pause
        )
    with server.app.sessions() as session:
        rows = {r.scope: r for r in session.scalars(select(Suppression))}
    assert set(rows) == {"all", "bulk"}
    assert (rows["all"].reason, rows["all"].expires_at) == ("hard_bounce", None)
    assert (rows["bulk"].reason, rows["bulk"].expires_at) == ("unsubscribe", None)


def test_a_mailto_token_of_a_quoted_message_of_another_workspace_changes_nothing(
    server: Server,
) -> None:
    """Mail to workspace B naming A's unsubscribe address in To: leaves A's list alone."""
    other_ws, other = server.new_workspace("globex")
    with server.client() as c, server.client(other) as o:
        capture(c)
        _, _, mailto = bulk_link(c)
        raw = (
            f"From: prankster@example.org\r\nTo: {mailto}\r\nSubject: stop\r\n"
            "Message-ID: <p1@example.org>\r\n\r\nunsubscribe them\r\n"
        ).encode()
        [got] = receive(server.app, [Incoming(other_ws, raw, "api")])
        wait_for(
            lambda: o.get(f"/v1/messages/{got.id}").json()["status"] == "processed",
            what="the mail",
        )
        assert o.get(f"/v1/messages/{got.id}").json()["kind"] != "unsubscribe"
        assert c.get("/v1/suppressions").json()["items"] == []
        assert o.get("/v1/suppressions").json()["items"] == []


def test_public_url_setting(tmp_path: Path) -> None:
    """MAILGATE_PUBLIC_URL is the links' base; a value that is not an http(s) URL is refused."""
    env = {"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_HTTP": "127.0.0.1:9000"}
    assert Settings.from_env(env).public_base == "http://127.0.0.1:9000"
    public = {**env, "MAILGATE_PUBLIC_URL": "https://mail.acme.example.com/"}
    assert Settings.from_env(public).public_base == "https://mail.acme.example.com"
    for bad in ("mail.acme.example.com", "javascript:alert(1)", "https://a b"):
        with pytest.raises(ConfigurationError) as err:
            Settings.from_env({**env, "MAILGATE_PUBLIC_URL": bad})
        assert "MAILGATE_PUBLIC_URL" in str(err.value)
