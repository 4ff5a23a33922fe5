"""Bounded requests: the size cap and the key are checked before a body is read; named limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailgate.api.app import create_app
from mailgate.api.limits import keyed_routes
from mailgate.runtime import Mailgate
from tests.servers.mailgate import Server

MiB = 1024 * 1024
BIG = 256 * MiB  # what a hostile client streams; the server must not hold it


def _rss(field: str) -> int:
    """This process's resident memory in bytes (the server runs in a thread of it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM, the peak resident size, to the current one.
    Path("/proc/self/clear_refs").write_text("5")


def _chunks(total: int, size: int = MiB) -> Iterator[bytes]:
    chunk = b"x" * size  # one buffer sent again and again: the client holds 1 MiB
    for _ in range(total // size):
        yield chunk


def _post_streaming(
    server: Server, path: str, *, key: str | None, length: bool
) -> tuple[httpx.Response, int]:
    """POST a BIG body; the answer and how much the process's peak memory grew."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if length:
        headers["Content-Length"] = str(BIG)
    _reset_peak()
    before = _rss("VmRSS")
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post(path, content=_chunks(BIG), headers=headers)
    return r, _rss("VmHWM") - before


sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@sqlite_only
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/inbound"])
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_no_key_is_refused_before_the_body(server: Server, length: bool, path: str) -> None:
    """A 256 MiB send or upload without a key gets 401; the server never holds the body."""
    r, growth = _post_streaming(server, path, key=None, length=length)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    assert growth < BIG // 2, f"memory grew by {growth / MiB:.0f} MiB"


@sqlite_only
def test_every_v1_route_but_signed_webhooks_counts_as_keyed(mailgate_app: Mailgate) -> None:
    """The pre-check reads keys from OpenAPI: every /v1 route is keyed but the signed push
    routes (inbound sources and provider event callbacks), which check their own signature."""
    table = keyed_routes(create_app(mailgate_app).openapi())
    assert len(table) > 30
    signed_routes = {
        ("POST", "/v1/inbound/mailgun/[^/]+"),
        ("POST", "/v1/inbound/mailgun/[^/]+/mime"),
        ("POST", "/v1/inbound/[^/]+"),
        ("POST", "/v1/transports/[^/]+/events"),
    }
    for pattern, method, keyed in table:
        if pattern.pattern.startswith("/v1/"):
            signed = (method, pattern.pattern) in signed_routes
            assert keyed is not signed, (method, pattern.pattern)
    assert any(p.fullmatch("/v1/messages/batch") and m == "POST" for p, m, _ in table)


@sqlite_only
def test_unknown_key_is_refused_before_a_large_body(server: Server) -> None:
    """A made-up Bearer token does not buy reading 256 MiB: the key is looked up first."""
    r, growth = _post_streaming(server, "/v1/messages", key="mg_not-a-key", length=False)
    assert r.status_code == 401, r.text
    assert growth < BIG // 2, f"memory grew by {growth / MiB:.0f} MiB"


@sqlite_only
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_oversized_body_is_refused_while_streaming(server: Server, length: bool) -> None:
    """With a good key, a body over the cap gets 413 naming the settings, without buffering it."""
    server.app.settings.max_message_bytes = MiB  # cap: 1.5 MiB + 1 MiB
    r, growth = _post_streaming(server, "/v1/messages", key=server.key, length=length)
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert err["code"] == "too_large" and err["field"] == "body"
    assert "MAILGATE_MAX_MESSAGE_BYTES" in err["message"]
    assert "MAILGATE_MAX_REQUEST_BYTES" in err["message"]
    assert str(MiB * 3 // 2 + MiB) in err["message"]
    assert growth < BIG // 2, f"memory grew by {growth / MiB:.0f} MiB"


@sqlite_only
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_signed_provider_route_keeps_a_size_cap(server: Server, length: bool) -> None:
    """The Mailgun route takes no key (its signature is checked inside) but is capped too."""
    server.app.settings.max_message_bytes = MiB
    path = "/v1/inbound/mailgun/src_nothing"
    r, growth = _post_streaming(server, path, key=None, length=length)
    # 406 is the route's own answer (Mailgun does not retry it), 413 the middleware's.
    assert r.status_code in (406, 413), r.text
    assert r.json()["error"]["code"] == "too_large"
    assert growth < BIG // 2


@sqlite_only
def test_request_cap_setting_and_ordinary_requests(server: Server) -> None:
    """MAILGATE_MAX_REQUEST_BYTES sets the cap; bodies under it pass to the route as before."""
    server.app.settings.max_request_bytes = 2000
    with server.client() as c:
        r = c.post("/v1/messages", json={"to": ["a@example.net"], "text": "x" * 3000})
        assert r.status_code == 413, r.text
        assert "2000" in r.json()["error"]["message"]
        r = c.post("/v1/messages", json={"to": ["a@example.net"], "text": "hello"})
        # Under the cap the route answers; with no transport that is a 404 naming it.
        assert r.status_code not in (401, 413), r.text
    with httpx.Client(base_url=server.url) as anon:
        r = anon.post("/v1/messages", json={"to": ["a@example.net"], "text": "hello"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert anon.get("/healthz").status_code == 200


# --- named limits: recipients, names, pages ----------------------------------------------

CAPTURE = {"name": "cap", "kind": "capture", "default": True, "sender": "app@acme.example.com"}


def _error(r: httpx.Response, status: int = 422) -> dict[str, str]:
    assert r.status_code == status, r.text
    err: dict[str, str] = r.json()["error"]
    return err


def test_recipients_per_message_are_capped(server: Server) -> None:
    """To + Cc + Bcc over MAILGATE_MAX_RECIPIENTS is refused naming the list that crosses it."""
    server.app.settings.max_recipients = 3
    with server.client() as c:
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        many = [f"r{i}@example.net" for i in range(4)]
        err = _error(c.post("/v1/messages", json={"to": many, "text": "x"}))
        assert err["field"] == "to" and "MAILGATE_MAX_RECIPIENTS" in err["message"]
        body = {"to": many[:2], "cc": many[2:], "text": "x"}
        assert _error(c.post("/v1/messages", json=body))["field"] == "cc"
        body = {"to": many[:1], "cc": many[1:3], "bcc": many[3:], "text": "x"}
        assert _error(c.post("/v1/messages", json=body))["field"] == "bcc"
        r = c.post("/v1/messages", json={"to": many[:2], "bcc": many[2:3], "text": "x"})
        assert r.status_code == 202, r.text
        batch = {"messages": [{"to": many, "text": "x"}, {"to": many[:1], "text": "y"}]}
        items = c.post("/v1/messages/batch", json=batch).json()["items"]
        assert items[0]["error"]["field"] == "to" and "id" in items[1]


def test_the_default_recipient_cap_refuses_fifty_thousand(server: Server) -> None:
    """The issue's 50,000 recipients are refused by the default cap, before any is parsed."""
    with server.client() as c:
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        many = [f"r{i}@example.net" for i in range(50_000)]
        err = _error(c.post("/v1/messages", json={"to": many, "text": "x"}))
        assert err["field"] == "to"
        assert str(server.app.settings.max_recipients) in err["message"]


def test_names_are_capped(server: Server) -> None:
    """Names of transports, sources, keys and workspaces over MAILGATE_MAX_NAME_LENGTH: 422."""
    server.app.settings.max_name_length = 10
    long = "n" * 11
    with server.client() as c:
        err = _error(c.post("/v1/transports", json={**CAPTURE, "name": long}))
        assert err["field"] == "name" and "MAILGATE_MAX_NAME_LENGTH" in err["message"]
        r = c.post("/v1/transports", json={**CAPTURE, "name": "n" * 10})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        assert _error(c.patch(f"/v1/transports/{tid}", json={"name": long}))["field"] == "name"
        source = {"name": long, "kind": "mailgun", "config": {"signing_key": "k" * 20}}
        assert _error(c.post("/v1/sources", json=source))["field"] == "name"
        assert _error(c.post("/v1/apikeys", json={"name": long}))["field"] == "name"
        assert c.get(f"/v1/transports/{tid}").json()["name"] == "n" * 10


LISTS = [
    "/v1/messages",
    "/v1/conversations",
    "/v1/suppressions",
    "/v1/captured",
    "/v1/inbound",
]


@pytest.mark.parametrize("path", LISTS)
def test_page_size_is_bounded(server: Server, path: str) -> None:
    """?limit=-1 no longer returns everything, and over MAILGATE_MAX_PAGE_SIZE is refused."""
    server.app.settings.max_page_size = 20
    with server.client() as c:
        for bad in ("-1", "0", "21", "abc"):
            err = _error(c.get(path, params={"limit": bad}))
            assert err["field"] == "limit", (bad, err)
        assert "MAILGATE_MAX_PAGE_SIZE" in _error(c.get(path, params={"limit": 21}))["message"]
        assert c.get(path, params={"limit": 20}).status_code == 200
        assert c.get(path).status_code == 200


def test_webhook_delivery_log_page_size_is_bounded(server: Server) -> None:
    """The one nested list, /v1/webhooks/{id}/deliveries, has the same bounds."""
    with server.client() as c:
        r = c.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["message.sent"]}
        )
        assert r.status_code == 201, r.text
        path = f"/v1/webhooks/{r.json()['id']}/deliveries"
        assert _error(c.get(path, params={"limit": -1}))["field"] == "limit"
        assert _error(c.get(path, params={"limit": 501}))["field"] == "limit"
        assert c.get(path, params={"limit": 500}).status_code == 200


def test_captured_limit_minus_one_returned_everything(server: Server) -> None:
    """The bug: /v1/captured?limit=-1 was LIMIT -1 on SQLite, i.e. every row."""
    with server.client() as c:
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        for i in range(3):
            r = c.post("/v1/messages", json={"to": ["a@example.net"], "text": str(i)})
            assert r.status_code == 202, r.text
        assert _error(c.get("/v1/captured", params={"limit": -1}))["field"] == "limit"
        assert len(c.get("/v1/captured", params={"limit": 2}).json()["items"]) <= 2


# --- smaller defects ----------------------------------------------------------------------


def test_patch_conversation_team_empty_string(server: Server) -> None:
    """{"team": ""} answers 422 naming team (it was a foreign-key 500); null clears."""
    with server.client() as c:
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        r = c.post("/v1/conversations", json={"to": ["cust@example.net"], "text": "hi"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        err = _error(c.patch(f"/v1/conversations/{cid}", json={"team": ""}))
        assert err["field"] == "team"
        assert _error(c.patch(f"/v1/conversations/{cid}", json={"team": "   "}))["field"] == "team"
        r = c.patch(f"/v1/conversations/{cid}", json={"team": None})
        assert r.status_code == 200 and r.json()["team"] is None
        assert _error(c.patch(f"/v1/conversations/{cid}", json={"team": "team_x"}), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"to": ["a@example.net"], "subject": "\\ud800", "text": "x"}', "subject"),
        (b'{"to": ["a@example.net", "\\udc00b@example.net"], "text": "x"}', "to[1]"),
        (b'{"to": ["a@example.net"], "headers": {"X-Tag": "a\\ud83d"}, "text": "x"}',
         "headers.X-Tag"),
        (
            b'{"to": ["a@example.net"], "text": "x", "attachments": [{"filename": "a.txt",'
            b' "content_base64": ""}, {"filename": "\\udfff.txt", "content_base64": ""}]}',
            "attachments[1].filename",
        ),
        (b'{"messages": [{"to": ["a@example.net"], "text": "\\ud800"}]}', "messages[0].text"),
    ],
)
def test_lone_surrogate_names_the_field(server: Server, body: bytes, field: str) -> None:
    """A lone surrogate (JSON "\\ud800") is a 422 naming the field and saying it is not Unicode."""
    path = "/v1/messages/batch" if body.startswith(b'{"messages"') else "/v1/messages"
    with server.client() as c:
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        r = c.post(path, content=body, headers={"Content-Type": "application/json"})
        err = _error(r)
        assert err["field"] == field
        assert "not valid Unicode" in err["message"]


def test_a_surrogate_pair_is_fine(server: Server) -> None:
    """An escaped pair ("\\ud83d\\ude00") is one character, not an error."""
    with server.client() as c:
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        body = b'{"to": ["a@example.net"], "subject": "\\ud83d\\ude00", "text": "x"}'
        r = c.post("/v1/messages", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 202, r.text


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"text": "x" * 5000}, "text"),
        ({"text": "é" * 2600}, "text"),
        ({"html": "<p>" + "y" * 5000}, "html"),
        ({"text": "x", "attachments": [{"filename": "a", "content_base64": "QUFB" * 2000}]},
         "attachments[0]"),
        ({"text": "x" * 2000, "html": "y" * 2000}, None),  # each fits, together they do not
    ],
)
def test_oversized_part_is_named(
    server: Server, extra: dict[str, object], field: str | None
) -> None:
    """An oversized text is reported as text (it used to say attachments), html as html."""
    server.app.settings.max_message_bytes = 4096
    with server.client() as c:
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        err = _error(c.post("/v1/messages", json={"to": ["a@example.net"], **extra}), 413)
        assert err["code"] == "too_large"
        assert "MAILGATE_MAX_MESSAGE_BYTES" in err["message"]
        assert err["field"] == field if field else err["field"] in ("text", "html")


def test_automatic_mail_keeps_its_marker(server: Server) -> None:
    """With "auto": true, Auto-Submitted: no and X-Auto-Response-Suppress are refused."""
    with server.client() as c:
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        base = {"from": "app@acme.example.com", "to": ["a@example.net"], "text": "x"}
        for headers, field in (
            ({"Auto-Submitted": "no"}, "headers.Auto-Submitted"),
            ({"auto-submitted": " No ; reason=x"}, "headers.auto-submitted"),
            ({"X-Auto-Response-Suppress": "None"}, "headers.X-Auto-Response-Suppress"),
        ):
            err = _error(c.post("/v1/messages", json={**base, "auto": True, "headers": headers}))
            assert err["field"] == field
        # No from: automatic as well.
        no_from = {"to": ["a@example.net"], "text": "x", "headers": {"Auto-Submitted": "no"}}
        assert _error(c.post("/v1/messages", json=no_from))["field"] == "headers.Auto-Submitted"
        # A caller may refine the marker…
        r = c.post(
            "/v1/messages",
            json={**base, "auto": True, "headers": {"Auto-Submitted": "auto-replied"}},
        )
        assert r.status_code == 202, r.text
        raw = c.get(f"/v1/messages/{r.json()['id']}/raw").content
        assert raw.count(b"Auto-Submitted:") == 1 and b"Auto-Submitted: auto-replied" in raw
        assert b"X-Auto-Response-Suppress: All" in raw
        # …and a person's mail may say it is not automatic.
        r = c.post("/v1/messages", json={**base, "headers": {"Auto-Submitted": "no"}})
        assert r.status_code == 202, r.text


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'{"to": ["a@example.net"], "text": "x"', "body"),  # broken JSON
        (b"", "body"),  # no body
        (b"[1, 2]", "body"),  # not an object
        (b'{"to": ["a@example.net"], "text": "x", "reply_to": 5}', "reply_to"),
        (b'{"to": ["a@example.net"], "text": "x", "reply_to": [5]}', "reply_to[0]"),
        (b'{"to": "a@example.net", "text": "x"}', "to"),
        (b'{"to": ["a@example.net", 7], "text": "x"}', "to[1]"),
        (b'{"to": ["a@example.net"], "text": "x", "attachments": [{}, {"filename": "a"}]}',
         "attachments[0].filename"),
        (b'{"to": ["a@example.net"], "text": "x", "attachments": [{"filename": "a",'
         b' "content_base64": ""}, {"filename": 3, "content_base64": ""}]}',
         "attachments[1].filename"),
        (b'{"to": ["a@example.net"], "text": "x", "headers": {"X-A": 1}}', "headers.X-A"),
        (b'{"to": ["a@example.net"], "text": "x", "colour": "red"}', "colour"),
        (b'{"to": ["a@example.net"], "text": "x", "mode": "later"}', "mode"),
    ],
)
def test_every_validation_error_names_its_field(
    server: Server, content: bytes, field: str
) -> None:
    """Body, type, union, list-item and extra-field errors all name their field."""
    with server.client() as c:
        r = c.post("/v1/messages", content=content, headers={"Content-Type": "application/json"})
        err = _error(r)
        assert err["field"] == field, err
        assert err["message"].startswith(field) or field == "body", err


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/webhooks", b'{"url": "http://h\\ud800.test/", "events": ["*"]}', "url"),
        ("POST", "/v1/suppressions", b'{"address": "\\udc00@example.net"}', "address"),
        (
            "POST",
            "/v1/transports",
            b'{"name": "t", "kind": "capture", "config": {"x": ["a", "\\ud800"]}}',
            "config.x[1]",
        ),
        ("POST", "/v1/conversations", b'{"to": ["a@example.net"], "text": "\\ud800"}', "text"),
    ],
)
def test_lone_surrogate_on_other_routes(
    server: Server, method: str, path: str, body: bytes, field: str
) -> None:
    """Every request body model refuses broken text naming the field, not only messages."""
    with server.client() as c:
        r = c.request(method, path, content=body, headers={"Content-Type": "application/json"})
        err = _error(r)
        assert err["field"] == field and "not valid Unicode" in err["message"], err


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/suppressions", b'{"address": "a\\u0000b@example.net"}', "address"),
        ("POST", "/v1/messages", b'{"to": ["a@example.net"], "text": "x\\u0000"}', "text"),
        ("GET", "/v1/messages/msg%00x", None, "message_id"),
        ("GET", "/v1/conversations?address=a%00b", None, "address"),
        ("GET", "/v1/suppressions?after=a%00", None, "after"),
        ("DELETE", "/v1/suppressions/a%00b@example.net", None, "address"),
    ],
)
def test_nul_in_any_text_is_refused_naming_it(
    server: Server, method: str, path: str, body: bytes | None, field: str
) -> None:
    """NUL in a body, path or query is a 422 naming it, not PostgreSQL's 500."""
    with server.client() as c:
        headers = {"Content-Type": "application/json"} if body else {}
        err = _error(c.request(method, path, content=body, headers=headers))
        assert err["field"] == field, err
