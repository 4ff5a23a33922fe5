"""The Mailgun route webhook: the exact forms Mailgun's route ``forward()`` posts.

Mailgun cannot run here, so each test posts what its Routes documentation says a
route sends (parsed form with attachments, or ``body-mime``), signed as Mailgun
signs: hex HMAC-SHA256 of timestamp + token with the webhook signing key.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import secrets
import time
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select, text

from mailgate.store.models import MessageRow
from tests.servers.mailbox import stored
from tests.servers.mailgate import Server

KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def signed(key: str = KEY, *, age: float = 0, token: str | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() - age))
    token = token or secrets.token_hex(25)
    sig = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": sig}


def mailgun_source(c: httpx.Client, key: str = KEY, **extra: Any) -> str:
    body = {"name": "mg route", "kind": "mailgun", "config": {"signing_key": key}, **extra}
    r = c.post("/v1/sources", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["webhook_path"] == f"/v1/inbound/mailgun/{r.json()['id']}"
    assert key not in r.text
    return str(r.json()["id"])


def post(
    server: Server, sid: str, data: dict[str, str], files: Any = None, *, suffix: str = ""
) -> httpx.Response:
    """Unauthenticated, as Mailgun posts (multipart/form-data when there are files)."""
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        return anon.post(f"/v1/inbound/mailgun/{sid}{suffix}", data=data, files=files)


def parsed_form(**sig: str) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    headers = [
        ["Received", "from mail.example.net by mxa.mailgun.org with ESMTP id 1; Mon, 1 Jan 2024"],
        ["From", "Zoë Customer <zoe@example.net>"],
        ["To", "support@mg.acme.com"],
        ["Subject", "Où est ma commande ?"],
        ["Message-Id", "<order-77@example.net>"],
        ["Date", "Mon, 01 Jan 2024 10:00:00 +0000"],
        ["Mime-Version", "1.0"],
        ["Content-Type", 'multipart/mixed; boundary="orig-boundary"'],
        ["X-Ticket", "77"],
    ]
    data = {
        "recipient": "support@mg.acme.com",
        "sender": "bounce+zoe@example.net",
        "from": "Zoë Customer <zoe@example.net>",
        "subject": "Où est ma commande ?",
        "body-plain": "Bonjour,\nma commande n'est pas arrivée.\n",
        "stripped-text": "Bonjour,\nma commande n'est pas arrivée.",
        "body-html": '<p>Bonjour, <img src="cid:logo@x"></p>',
        "message-headers": json.dumps(headers),
        "attachment-count": "2",
        "content-id-map": json.dumps({"<logo@x>": "attachment-2"}),
        **sig,
    }
    files = [
        ("attachment-1", ("facture.pdf", b"%PDF-1.4 binary \x00\xff", "application/pdf")),
        ("attachment-2", ("logo.png", b"\x89PNG\r\n\x1a\n", "image/png")),
    ]
    return data, files


def test_parsed_form_is_rebuilt_as_one_mime_message(server: Server) -> None:
    """Headers in order, both bodies, attachments and the inline part become one message."""
    with server.client() as c:
        sid = mailgun_source(c)
    data, files = parsed_form(**signed())
    r = post(server, sid, data, files)
    assert r.status_code == 200, r.text
    [raw] = stored(server.app, sid)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"] == "Où est ma commande ?"
    assert msg["From"].addresses[0].display_name == "Zoë Customer"
    assert msg["From"].addresses[0].addr_spec == "zoe@example.net"
    assert msg["Message-Id"] == "<order-77@example.net>"
    assert msg["X-Ticket"] == "77"
    assert raw.startswith(b"Received: from mail.example.net")
    assert raw.isascii()
    assert "orig-boundary" not in str(msg["Content-Type"])
    text_part = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert (
        text_part.get_content().replace("\r\n", "\n")
        == "Bonjour,\nma commande n'est pas arrivée.\n"
    )
    assert "cid:logo@x" in html_part.get_content()
    atts = {a.get_filename(): a for a in msg.iter_attachments()}
    assert atts["facture.pdf"].get_content() == b"%PDF-1.4 binary \x00\xff"
    assert atts["logo.png"]["Content-ID"] == "<logo@x>"
    assert atts["logo.png"].get_content_disposition() == "inline"
    with server.app.sessions() as session:
        row = session.scalars(select(MessageRow).where(MessageRow.id == r.json()["id"])).one()
    assert row.workspace_id == server.workspace_id
    assert row.source == "mailgun"
    assert row.mail_from == "bounce+zoe@example.net"
    assert row.rcpt_to == ["support@mg.acme.com"]


def test_raw_mime_form_is_stored_byte_for_byte(server: Server) -> None:
    """A route URL ending in ``mime`` sends ``body-mime``: stored exactly as sent."""
    raw = (
        b"From: a@example.net\r\nTo: support@mg.acme.com\r\nSubject: raw\r\n"
        b"Message-ID: <raw-1@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xc3\xa9 \xe2\x82\xac\r\n.\r\nend\r\n"
    )
    with server.client() as c:
        sid = mailgun_source(c)
    fields = {"recipient": "support@mg.acme.com", "sender": "a@example.net", **signed()}
    files = [("body-mime", (None, raw))]
    r = post(server, sid, fields, files, suffix="/mime")  # the route URL ends in "mime"
    assert r.status_code == 200, r.text
    assert stored(server.app, sid) == [raw]


def test_urlencoded_form_is_accepted(server: Server) -> None:
    """A post without files may come urlencoded; it is read the same way."""
    with server.client() as c:
        sid = mailgun_source(c)
    data = {
        "recipient": "support@mg.acme.com",
        "sender": "a@example.net",
        "body-plain": "short",
        "message-headers": json.dumps([["From", "a@example.net"], ["Subject", "hi"]]),
        **signed(),
    }
    r = post(server, sid, data)
    assert r.status_code == 200, r.text
    [raw] = stored(server.app, sid)
    assert raw.startswith(b"From: a@example.net\r\nSubject: hi\r\n")
    assert b"short" in raw


def test_bad_signature_is_refused_with_406(server: Server) -> None:
    """A wrong key, a tampered token or no signature: 406 (Mailgun stops), nothing stored."""
    with server.client() as c:
        sid = mailgun_source(c)
    data, files = parsed_form(**signed("key-wrong"))
    assert post(server, sid, data, files).status_code == 406
    data, files = parsed_form(**{**signed(), "token": "x" * 50})
    assert post(server, sid, data, files).status_code == 406
    data, files = parsed_form()
    r = post(server, sid, data, files)
    assert r.status_code == 406
    assert r.json()["error"]["code"] == "refused"
    assert stored(server.app, sid) == []


def test_stale_or_future_timestamp_is_refused(server: Server) -> None:
    """Signed more than 5 minutes ago, or an hour ahead: 406."""
    with server.client() as c:
        sid = mailgun_source(c)
    for age in (301 + 10, -3600):
        data, files = parsed_form(**signed(age=age))
        r = post(server, sid, data, files)
        assert r.status_code == 406, r.text
        assert r.json()["error"]["field"] == "timestamp"
    assert stored(server.app, sid) == []


def test_replayed_token_is_refused_and_stored_once(server: Server) -> None:
    """The same signed request twice: the first is stored, the replay gets 406."""
    with server.client() as c:
        sid = mailgun_source(c)
    data, files = parsed_form(**signed())
    assert post(server, sid, data, files).status_code == 200
    r = post(server, sid, data, files)
    assert r.status_code == 406
    assert r.json()["error"]["field"] == "token"
    assert len(stored(server.app, sid)) == 1


def test_storage_failure_answers_503_and_the_retry_is_stored_once(server: Server) -> None:
    """When the store fails Mailgun gets a 5xx and retries; the retry is stored once."""
    with server.client() as c:
        sid = mailgun_source(c)
    data, files = parsed_form(**signed())
    with server.app.engine.begin() as conn:
        conn.execute(text("ALTER TABLE source_items RENAME TO source_items_away"))
    try:
        assert post(server, sid, data, files).status_code == 503
    finally:
        with server.app.engine.begin() as conn:
            conn.execute(text("ALTER TABLE source_items_away RENAME TO source_items"))
    assert stored(server.app, sid) == []
    assert post(server, sid, data, files).status_code == 200
    assert post(server, sid, data, files).status_code == 406
    assert len(stored(server.app, sid)) == 1


def test_workspaces_are_isolated(server: Server) -> None:
    """Another workspace's key cannot sign for this source nor see it; mail lands in its owner."""
    other_ws, other_key = server.new_workspace("globex")
    with server.client() as c:
        sid = mailgun_source(c)
    with server.client(other_key) as o:
        other_sid = mailgun_source(o, key="key-globex")
        assert o.get(f"/v1/sources/{sid}").status_code == 404
        assert o.delete(f"/v1/sources/{sid}").status_code == 404
    data, files = parsed_form(**signed("key-globex"))
    assert post(server, sid, data, files).status_code == 406
    assert post(server, other_sid, data, files).status_code == 200
    data, files = parsed_form(**signed())
    assert post(server, sid, data, files).status_code == 200
    with server.app.sessions() as session:
        owners = session.scalars(
            select(MessageRow.workspace_id).where(MessageRow.source == "mailgun")
        )
        assert sorted(owners) == sorted([server.workspace_id, other_ws])
    assert len(stored(server.app, sid)) == 1
    assert len(stored(server.app, other_sid)) == 1


def test_unknown_and_disabled_sources(server: Server) -> None:
    """No such source: 406 (nothing to retry for). Disabled: 503, Mailgun keeps retrying."""
    data, files = parsed_form(**signed())
    assert post(server, "src_nope", data, files).status_code == 406
    with server.client() as c:
        sid = mailgun_source(c, enabled=False)
        assert post(server, sid, data, files).status_code == 503
        assert c.patch(f"/v1/sources/{sid}", json={"enabled": True}).status_code == 200
        # Polling is for mailboxes; a route is pushed to.
        assert c.post(f"/v1/sources/{sid}/poll").status_code == 409
    assert post(server, sid, data, files).status_code == 200


# -- hardening: what the signature check must refuse (issue 6) -------------------------------


def sign_raw(timestamp: str, token: str, key: str = KEY) -> dict[str, str]:
    """Sign any (timestamp, token) the way Mailgun does, however odd the timestamp."""
    sig = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": sig}


def test_a_timestamp_that_is_not_plain_digits_is_refused_even_when_signed(
    server: Server,
) -> None:
    """1e9, nan, +1, a space, a leading zero, a fraction: 406 naming timestamp, even signed."""
    with server.client() as c:
        sid = mailgun_source(c)
    now = str(int(time.time()))
    for timestamp in (
        now + "e0",
        f"{int(now) / 10:.0f}e1",
        "nan",
        "+" + now,
        " " + now,
        now + " ",
        "0" + now,
        now + ".0",
        "١٢٣٤٥٦٧٨٩٠",  # Unicode digits: str.isdigit() says yes
        "",
    ):
        data, files = parsed_form(**sign_raw(timestamp, secrets.token_hex(25)))
        r = post(server, sid, data, files)
        assert r.status_code == 406, (timestamp, r.text)
        assert r.json()["error"]["field"] == "timestamp", timestamp
    assert stored(server.app, sid) == []


def test_re_splitting_a_signed_string_does_not_make_a_new_token(server: Server) -> None:
    """The issue's bypass: ts+"e0" with the token's first two characters moved is refused.

    Mailgun signs timestamp + token with no separator, so a genuine token that starts
    with "e0" lets the same signature cover (ts + "e0", token[2:]); a token that starts
    with digits lets it cover (ts + "1", token[1:]). Neither may pass as a new request.
    """
    with server.client() as c:
        sid = mailgun_source(c)
    now = str(int(time.time()))
    genuine = sign_raw(now, "e0" + secrets.token_hex(24))
    data, files = parsed_form(**genuine)
    assert post(server, sid, data, files).status_code == 200
    token = genuine["token"]
    for timestamp, rest in ((now + "e0", token[2:]), (now + "e", token[1:])):
        forged = {**genuine, "timestamp": timestamp, "token": rest}
        data, files = parsed_form(**forged)
        assert post(server, sid, data, files).status_code == 406, timestamp
    digits = sign_raw(now, "12" + secrets.token_hex(24))
    data, files = parsed_form(**digits)
    assert post(server, sid, data, files).status_code == 200
    shifted = digits["token"]
    for timestamp, rest in ((now + "1", shifted[1:]), (now[:-1], now[-1] + shifted)):
        data, files = parsed_form(**{**digits, "timestamp": timestamp, "token": rest})
        r = post(server, sid, data, files)
        assert r.status_code == 406, timestamp
    assert len(stored(server.app, sid)) == 2


def test_the_replay_record_is_the_signature(server: Server) -> None:
    """A replay is recognised by its MAC: the same signature in upper case is no new request."""
    with server.client() as c:
        sid = mailgun_source(c)
    genuine = signed()
    data, files = parsed_form(**genuine)
    assert post(server, sid, data, files).status_code == 200
    shouted = {**genuine, "signature": genuine["signature"].upper()}
    data, files = parsed_form(**shouted)
    r = post(server, sid, data, files)
    assert r.status_code == 406 and r.json()["error"]["field"] == "token"
    assert len(stored(server.app, sid)) == 1


def test_the_signature_is_checked_before_the_body_is_parsed(
    server: Server, monkeypatch: Any
) -> None:
    """A forged post with 5 MB of attachments is refused without parsing its form or MIME."""
    import mailgate.inbound.mailgun as mailgun

    parsed: list[str] = []
    real_parse = mailgun.parse_form

    def spy(content_type: str, body: bytes) -> list[mailgun.Part]:
        parsed.append(content_type)
        return real_parse(content_type, body)

    monkeypatch.setattr(mailgun, "parse_form", spy)
    with server.client() as c:
        sid = mailgun_source(c)
    data, _ = parsed_form(**signed("key-wrong"))
    megabyte = b"\x00" * 1_000_000
    big = [(f"attachment-{i}", (f"f{i}.bin", megabyte, "application/pdf")) for i in range(5)]
    r = post(server, sid, data, big)
    assert r.status_code == 406 and r.json()["error"]["field"] == "signature"
    assert parsed == []
    data, files = parsed_form(**signed())
    assert post(server, sid, data, files).status_code == 200
    assert len(parsed) == 1  # a genuine post is parsed, once


def test_a_signed_field_given_twice_is_refused(server: Server) -> None:
    """Two timestamps (or tokens): which one counts is not for a parser to decide: 406."""
    with server.client() as c:
        sid = mailgun_source(c)
    good = signed()
    fields = [(k, v) for k, v in good.items()] + [("timestamp", str(int(time.time()) - 1))]
    body = httpx.QueryParams(fields)
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        r = anon.post(
            f"/v1/inbound/mailgun/{sid}/mime",
            content=str(body).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 406 and r.json()["error"]["field"] == "timestamp"
    assert stored(server.app, sid) == []
