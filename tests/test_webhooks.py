"""Webhooks end to end: subscriptions, signed deliveries to a real HTTP receiver, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from mailgate.events import delivery
from mailgate.events.webhooks import sign, verify_signature
from mailgate.runtime import Mailgate
from mailgate.store.db import transaction
from mailgate.store.eventlog import emit
from mailgate.store.models import WebhookDelivery, WebhookSubscription, utcnow
from tests.helpers import wait_for
from tests.servers.mailgate import Server
from tests.servers.postgres import free_port

DOCS = Path(__file__).parent.parent / "docs" / "webhooks.md"
SECRET = "whsec_test_0123456789abcdef"
CAPTURE = {
    "name": "cap",
    "kind": "capture",
    "default": True,
    "mode": "queued",
    "sender": "noreply@acme.example.com",
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers scripted codes."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.codes: list[int] = []  # answered in order; 200 once they run out
        self.default = 200
        self.headers: dict[str, str] = {}
        self.answer: bytes | None = None  # the body of a non-2xx answer, when set
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    code = receiver.codes.pop(0) if receiver.codes else receiver.default
                    extra = dict(receiver.headers)
                    scripted = receiver.answer
                self.send_response(code)
                for name, value in extra.items():
                    self.send_header(name, value)
                answer = b"ok" if code < 300 else scripted or b"receiver says no"
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def got(self, n: int) -> list[Received]:
        """Wait until at least ``n`` requests arrived; returns them all."""
        wait_for(lambda: len(self.requests) >= n, what=f"{n} webhook requests")
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def subscribe(c: httpx.Client, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    r = c.post("/v1/webhooks", json={"url": url, "events": events, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_delivery(c: httpx.Client, webhook_id: str, *statuses: str) -> dict[str, Any]:
    """Wait until the newest delivery of a webhook reaches one of ``statuses``."""

    def check() -> dict[str, Any] | None:
        items = c.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"]
        return items[0] if items and items[0]["status"] in statuses else None

    found: dict[str, Any] = wait_for(check, what=f"a delivery to become {'/'.join(statuses)}")
    return found


def test_message_sent_reaches_the_receiver_signed(server: Server, receiver: Receiver) -> None:
    """A sent message produces a `message.sent` POST whose signature verifies two ways."""
    with server.client() as c:
        hook = subscribe(c, receiver.url, ["message.sent"], secret=SECRET)
        assert c.post("/v1/transports", json=CAPTURE).status_code == 201
        r = c.post(
            "/v1/messages",
            json={"from": "kevin@acme.example.com", "to": ["a@example.net"], "text": "hi"},
        )
        assert r.status_code == 202, r.text
        [got] = receiver.got(1)
        logged = wait_delivery(c, hook["id"], "delivered")
    assert got.path == "/hooks"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Mailgate-Event"] == "message.sent"
    assert got.headers["X-Mailgate-Delivery"] == logged["id"]
    header = got.headers["X-Mailgate-Signature"]
    assert verify_signature(SECRET, header, got.body)
    # Independently of mailgate's code: t=<unix>,v1=<hex hmac-sha256 of "t.body">.
    m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert m is not None
    expected = hmac.new(SECRET.encode(), m[1].encode() + b"." + got.body, hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), m[2])
    body = json.loads(got.body)
    assert set(body) == {"id", "type", "created_at", "workspace", "data"}
    assert body["type"] == "message.sent"
    assert body["workspace"] == server.workspace_id
    assert body["data"]["message"] == r.json()["id"]
    assert logged["event"] == body["id"] and logged["type"] == "message.sent"
    assert (logged["attempts"], logged["last_code"], logged["last_error"]) == (1, 200, None)


def test_receiver_errors_are_retried_until_it_answers(server: Server, receiver: Receiver) -> None:
    """500, 500, then 200: three attempts of the same delivery, and the log says so."""
    receiver.codes = [500, 500, 200]
    with server.client() as c:
        hook = subscribe(c, receiver.url, ["*"], secret=SECRET)
        sent = c.post(f"/v1/webhooks/{hook['id']}/test")
        assert sent.status_code == 202, sent.text
        logged = wait_delivery(c, hook["id"], "delivered")
    got = receiver.got(3)
    assert len(got) == 3
    assert {g.headers["X-Mailgate-Delivery"] for g in got} == {sent.json()["delivery"]}
    assert all(g.headers["X-Mailgate-Event"] == "webhook.test" for g in got)
    assert len({g.body for g in got}) == 1  # the same body on every attempt
    assert all(verify_signature(SECRET, g.headers["X-Mailgate-Signature"], g.body) for g in got)
    assert logged["id"] == sent.json()["delivery"] and logged["event"] == sent.json()["event"]
    assert (logged["status"], logged["attempts"], logged["last_code"]) == ("delivered", 3, 200)


def test_a_failing_receiver_ends_failed_after_the_attempt_cap(
    server: Server, receiver: Receiver
) -> None:
    """Always 503: retried up to the configured cap, then failed with the last reason."""
    server.app.settings.extra["webhook_max_attempts"] = "3"
    receiver.default = 503
    with server.client() as c:
        hook = subscribe(c, receiver.url, ["*"], secret=SECRET)
        c.post(f"/v1/webhooks/{hook['id']}/test")
        logged = wait_delivery(c, hook["id"], "failed")
    assert (logged["attempts"], logged["last_code"]) == (3, 503)
    assert logged["last_error"].startswith("gave up after 3 attempts")
    assert "503" in logged["last_error"] and "receiver says no" in logged["last_error"]
    assert len(receiver.requests) == 3


def test_a_delivery_older_than_the_message_lifetime_fails(
    server: Server, receiver: Receiver
) -> None:
    """Past the message lifetime a failed attempt is final, whatever the attempt cap."""
    server.app.settings.message_lifetime_seconds = 0
    receiver.default = 500
    with server.client() as c:
        hook = subscribe(c, receiver.url, ["*"], secret=SECRET)
        c.post(f"/v1/webhooks/{hook['id']}/test")
        logged = wait_delivery(c, hook["id"], "failed")
    assert (logged["attempts"], logged["last_code"]) == (1, 500)
    assert logged["last_error"].startswith("expired after 1 attempts")
    assert len(receiver.requests) == 1


def test_connection_errors_and_redirects_are_failures(server: Server, receiver: Receiver) -> None:
    """Nobody listening, or a 3xx (never followed): not delivered, with the reason kept."""
    server.app.settings.extra["webhook_max_attempts"] = "1"
    receiver.codes = [302]
    receiver.headers = {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}
    with server.client() as c:
        dead = subscribe(c, f"http://127.0.0.1:{free_port()}/gone", ["*"], secret=SECRET)
        moved = subscribe(c, receiver.url, ["*"], secret=SECRET)
        c.post(f"/v1/webhooks/{dead['id']}/test")
        c.post(f"/v1/webhooks/{moved['id']}/test")
        refused = wait_delivery(c, dead["id"], "failed")
        redirected = wait_delivery(c, moved["id"], "failed")
    assert refused["last_code"] is None and "Connect" in refused["last_error"]
    assert redirected["last_code"] == 302
    assert "redirects are not followed" in redirected["last_error"]
    assert [g.path for g in receiver.requests] == ["/hooks"]


def test_the_secret_is_write_only(server: Server, receiver: Receiver) -> None:
    """A generated secret is shown once; no later response and no column holds it in clear."""
    with server.client() as c:
        created = subscribe(c, receiver.url, ["message.sent"])
        secret = created.pop("secret")
        assert secret.startswith("whsec_") and len(secret) > 30
        assert set(created) == {
            "id",
            "url",
            "events",
            "enabled",
            "private_network",
            "created_at",
        }
        hid = created["id"]
        given = subscribe(c, receiver.url, ["*"], secret=SECRET)
        assert "secret" not in given
        responses = [
            c.get("/v1/webhooks"),
            c.get(f"/v1/webhooks/{hid}"),
            c.patch(f"/v1/webhooks/{hid}", json={"events": ["*"]}),
            c.patch(f"/v1/webhooks/{given['id']}", json={"secret": SECRET + "-rotated"}),
            c.post(f"/v1/webhooks/{hid}/test"),
        ]
        [got] = receiver.got(1)
        responses.append(c.get(f"/v1/webhooks/{hid}/deliveries"))
        for r in responses:
            assert r.status_code < 300, r.text
            assert secret not in r.text and SECRET not in r.text
        # The generated secret is the one deliveries are signed with.
        assert verify_signature(secret, got.headers["X-Mailgate-Signature"], got.body)
    with server.app.sessions() as session:
        rows = session.scalars(select(WebhookSubscription)).all()
        assert all(secret not in r.secret and SECRET not in r.secret for r in rows)
        stored = session.get(WebhookSubscription, hid)
        assert stored is not None
        assert server.app.secrets.decrypt(stored.secret) == {"secret": secret}


def test_rotating_the_secret_signs_with_the_new_one(server: Server, receiver: Receiver) -> None:
    """After PATCH {"secret"}, deliveries verify with the new secret and not the old."""
    with server.client() as c:
        hook = subscribe(c, receiver.url, ["*"], secret=SECRET)
        new = SECRET + "-rotated"
        assert c.patch(f"/v1/webhooks/{hook['id']}", json={"secret": new}).status_code == 200
        c.post(f"/v1/webhooks/{hook['id']}/test")
        [got] = receiver.got(1)
    header = got.headers["X-Mailgate-Signature"]
    assert verify_signature(new, header, got.body)
    assert not verify_signature(SECRET, header, got.body)


def test_workspaces_never_see_each_other(server: Server, receiver: Receiver) -> None:
    """Another workspace gets 404 on every route, an empty list, and none of the events."""
    other_ws, other_key = server.new_workspace("globex")
    with server.client() as c:
        hook = subscribe(c, receiver.url, ["*"], secret=SECRET)
    hid = hook["id"]
    with server.client(other_key) as other:
        assert other.get("/v1/webhooks").json()["items"] == []
        assert other.get(f"/v1/webhooks/{hid}").status_code == 404
        assert other.patch(f"/v1/webhooks/{hid}", json={"enabled": False}).status_code == 404
        assert other.get(f"/v1/webhooks/{hid}/deliveries").status_code == 404
        assert other.post(f"/v1/webhooks/{hid}/test").status_code == 404
        assert other.delete(f"/v1/webhooks/{hid}").status_code == 404
        theirs = subscribe(other, receiver.url, ["*"], secret=SECRET)
        other.post(f"/v1/webhooks/{theirs['id']}/test")
        [got] = receiver.got(1)
    assert json.loads(got.body)["workspace"] == other_ws
    with transaction(server.app.sessions) as session:
        emit(session, other_ws, "message.sent", {"message": "msg_x"})
    with server.app.sessions() as session:
        ours = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.subscription_id == hid)
        ).all()
        assert ours == []
    with server.client() as c:
        assert c.get(f"/v1/webhooks/{hid}").json()["enabled"] is True
        assert [h["id"] for h in c.get("/v1/webhooks").json()["items"]] == [hid]


def test_bad_input_names_the_field(server: Server) -> None:
    """Non-http(s) URLs and unknown event types are 422 naming `url` or `events[i]`."""
    with server.client() as c:

        def field(body: dict[str, Any], method: str = "POST", path: str = "/v1/webhooks") -> str:
            r = c.request(method, path, json=body)
            assert r.status_code == 422, r.text
            return str(r.json()["error"]["field"])

        ok = {"url": "https://app.example.com/hooks", "events": ["message.sent"]}
        for url in ("ftp://app.example.com/x", "not a url", "https://", "", "javascript:alert(1)"):
            assert field({**ok, "url": url}) == "url", url
        assert field({"events": ["message.sent"]}) == "url"
        assert field({**ok, "events": ["message.sent", "message.exploded"]}) == "events[1]"
        assert field({**ok, "events": ["webhook.test"]}) == "events[0]"
        assert field({**ok, "events": []}) == "events"
        assert field({**ok, "secret": "short"}) == "secret"
        assert field({**ok, "colour": "red"}) == "colour"
        hook = c.post("/v1/webhooks", json=ok).json()
        path = f"/v1/webhooks/{hook['id']}"
        assert field({"url": "mailto:a@example.com"}, "PATCH", path) == "url"
        assert field({"events": ["*", "nope"]}, "PATCH", path) == "events[1]"
        assert c.get(path).json()["url"] == ok["url"]


def test_update_disable_and_delete(server: Server, receiver: Receiver) -> None:
    """PATCH changes only what is given; a disabled hook gets nothing; DELETE removes it."""
    with server.client() as c:
        hook = subscribe(c, "https://app.example.com/hooks", ["message.sent"], secret=SECRET)
        path = f"/v1/webhooks/{hook['id']}"
        changed = c.patch(path, json={"url": receiver.url, "events": ["*", "*"]}).json()
        assert (changed["url"], changed["events"], changed["enabled"]) == (
            receiver.url,
            ["*"],
            True,
        )
        assert c.patch(path, json={"enabled": False}).json()["enabled"] is False
        assert c.post(f"{path}/test").status_code == 409
        with transaction(server.app.sessions) as session:
            emit(session, server.workspace_id, "message.sent", {"message": "msg_x"})
        assert c.get(f"{path}/deliveries").json()["items"] == []
        assert c.delete(path).status_code == 204
        assert c.get(path).status_code == 404
        assert c.delete(path).status_code == 404
        assert c.get("/v1/webhooks").json()["items"] == []


def test_delivery_log_is_paginated_newest_first(server: Server, receiver: Receiver) -> None:
    """`next` is the cursor for `before`; pages do not overlap and end with next = null."""
    with server.client() as c:
        hook = subscribe(c, receiver.url, ["*"], secret=SECRET)
        sent = [c.post(f"/v1/webhooks/{hook['id']}/test").json()["delivery"] for _ in range(3)]
        log = f"/v1/webhooks/{hook['id']}/deliveries"
        first = c.get(log, params={"limit": 2}).json()
        assert [d["id"] for d in first["items"]] == sent[::-1][:2]
        assert first["next"] is not None
        rest = c.get(log, params={"limit": 2, "before": first["next"]}).json()
        assert [d["id"] for d in rest["items"]] == sent[:1]
        assert rest["next"] is None
        receiver.got(3)


def test_an_abandoned_lease_is_delivered_again(server: Server, receiver: Receiver) -> None:
    """A row left `sending` by a dead worker is retried once its lease ran out, not before."""
    with server.client() as c:
        hook = subscribe(c, receiver.url, ["*"], secret=SECRET)
    now = utcnow()
    with transaction(server.app.sessions) as session:
        dead = emit(session, server.workspace_id, "message.sent", {"message": "msg_dead"})
        alive = emit(session, server.workspace_id, "message.sent", {"message": "msg_alive"})
        for event_id, until in (
            (dead, now - timedelta(seconds=1)),
            (alive, now + timedelta(hours=1)),
        ):
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.event_id == event_id)
                .values(status="sending", lease_owner="killed-worker", lease_until=until)
            )
    [got] = receiver.got(1)
    assert json.loads(got.body)["id"] == dead
    wait_for(lambda: _status(server.app, dead) == "delivered", what="the retried delivery")
    assert _status(server.app, alive) == "sending"
    with transaction(server.app.sessions) as session:
        assert delivery.claim(session, "another-worker", limit=10, lease_seconds=30) == []
    assert len(receiver.requests) == 1
    assert hook["id"]


def _status(app: Mailgate, event_id: str) -> str | None:
    with app.sessions() as session:
        return session.scalar(
            select(WebhookDelivery.status).where(WebhookDelivery.event_id == event_id)
        )


def test_verify_signature_rejects_tampering_staleness_and_garbage() -> None:
    """Wrong secret, changed body, old timestamp or malformed header: all False."""
    body = b'{"id":"ev_1","type":"message.sent"}'
    header = sign(SECRET, body, timestamp=1_700_000_000)
    now = 1_700_000_100.0
    assert verify_signature(SECRET, header, body, now=now)
    assert not verify_signature("another-secret-value", header, body, now=now)
    assert not verify_signature(SECRET, header, body + b" ", now=now)
    assert not verify_signature(SECRET, header, body, now=now + 300)
    assert verify_signature(SECRET, header, body, now=now + 300, tolerance=600)
    assert not verify_signature(SECRET, header, body, now=1_700_000_000 - 301)
    t, v1 = header.split(",")
    assert verify_signature(SECRET, f"{t},v1={'0' * 64},{v1}", body, now=now)  # rotation
    for bad in ("", "garbage", t, v1, f"t=abc,{v1}", f"{t},{v1[:-1]}", f"{t};{v1}"):
        assert not verify_signature(SECRET, bad, body, now=now), bad


def test_the_docs_example_runs() -> None:
    """Every Python block in docs/webhooks.md runs as written."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {"__name__": "docs_example"})
