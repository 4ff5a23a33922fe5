"""Sending through the API into real SMTP servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable

from sqlalchemy import select

from mailgate.store.models import TransportRow
from tests.helpers import smtp_transport, wait_status
from tests.servers.mailgate import Server
from tests.servers.smtpsink import SmtpSink


def test_queued_message_is_delivered_and_journaled(server: Server, smtp_sink: SmtpSink) -> None:
    """A queued send answers 202 at once; the worker delivers it and records the 250."""
    with server.client() as c:
        assert c.post("/v1/transports", json=smtp_transport(smtp_sink.port)).status_code == 201
        r = c.post(
            "/v1/messages",
            json={
                "from": "Kevin <kevin@acme.example.com>",
                "to": ["a@example.net"],
                "cc": ["b@example.net"],
                "bcc": ["c@example.net"],
                "subject": "Invoice 42",
                "text": "Hello",
            },
        )
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
        detail = wait_status(c, r.json()["id"], "sent")
        assert detail["message_id"].endswith("@acme.example.com")
        assert [x["status"] for x in detail["recipients"]] == ["sent"] * 3
        assert detail["recipients"][0]["attempts"][0]["code"] == 250
        assert "Bcc" not in detail["headers"]
        journal = c.get("/v1/messages", params={"status": "sent"}).json()
        assert [m["id"] for m in journal["items"]] == [r.json()["id"]]
        assert c.get("/v1/messages", params={"status": "failed"}).json()["items"] == []
    [got] = smtp_sink.messages(expect=1)
    assert got.mail_from == "kevin@acme.example.com"
    assert sorted(got.rcpt_tos) == ["a@example.net", "b@example.net", "c@example.net"]


def test_immediate_mode_returns_the_result(server: Server, smtp_sink: SmtpSink) -> None:
    """Immediate mode delivers before answering and returns each recipient's result."""
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port, mode="immediate"))
        r = c.post(
            "/v1/messages",
            json={"from": "kevin@acme.example.com", "to": ["a@example.net"], "text": "now"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "sent"
        assert body["recipients"][0]["code"] == 250


def test_chinese_subject_names_and_attachment_arrive_readable(
    server: Server, smtp_sink: SmtpSink
) -> None:
    """Non-ASCII subject, names and filenames are encoded so a client decodes them exactly."""
    import base64

    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
        r = c.post(
            "/v1/messages",
            json={
                "from": "王小明 <kevin@acme.example.com>",
                "to": ["李雷 <a@example.net>"],
                "subject": "您的发票已开具 — 请查收附件",
                "text": "您好，附件是本月发票。",
                "html": "<p>您好，附件是本月<b>发票</b>。</p>",
                "attachments": [
                    {
                        "filename": "发票 2026年11月.pdf",
                        "content_type": "application/pdf",
                        "content_base64": base64.b64encode(b"%PDF-1.4 test").decode(),
                    }
                ],
            },
        )
        wait_status(c, r.json()["id"], "sent")
    [got] = smtp_sink.messages(expect=1)
    raw = got.dump.split(b"\n", 4)[-1] if got.dump.startswith(b"X-") else got.dump
    msg = email.message_from_bytes(_strip_sink_headers(got.dump), policy=email.policy.default)
    assert msg["Subject"] == "您的发票已开具 — 请查收附件"
    assert msg["From"].addresses[0].display_name == "王小明"
    assert msg["To"].addresses[0].display_name == "李雷"
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "您好，附件是本月发票。"
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "发票 2026年11月.pdf"
    assert att.get_content() == b"%PDF-1.4 test"
    assert raw


def _strip_sink_headers(dump: bytes) -> bytes:
    """smtp-sink prefixes the message with its own X-Client-*/X-Mail-Args lines."""
    lines = dump.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].startswith((b"X-Client", b"X-Helo", b"X-Mail", b"X-Rcpt")):
        i += 1
    return b"\n".join(lines[i:])


def test_idempotency_key_never_sends_twice(server: Server, smtp_sink: SmtpSink) -> None:
    """The same Idempotency-Key returns the first message and sends nothing more."""
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
        body = {"from": "kevin@acme.example.com", "to": ["a@example.net"], "text": "once"}
        headers = {"Idempotency-Key": "order-42-confirmation"}
        first = c.post("/v1/messages", json=body, headers=headers).json()
        wait_status(c, first["id"], "sent")
        second = c.post("/v1/messages", json=body, headers=headers).json()
        assert second["id"] == first["id"]
    assert len(smtp_sink.messages(expect=1)) == 1


def test_permanent_failure_fails_at_once_and_retry_requeues(
    server: Server, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    """A 5xx at RCPT fails the recipient at once with the server's words; retry re-queues it."""
    sink = smtp_sink_factory("-f", "RCPT")
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(sink.port))
        r = c.post(
            "/v1/messages",
            json={"from": "kevin@acme.example.com", "to": ["a@example.net"], "text": "x"},
        )
        detail = wait_status(c, r.json()["id"], "failed")
        [rcpt] = detail["recipients"]
        assert rcpt["status"] == "failed"
        assert 500 <= rcpt["code"] < 600
        assert len(rcpt["attempts"]) == 1 and rcpt["attempts"][0]["transient"] is False
        failed = c.get("/v1/messages", params={"status": "failed"}).json()["items"]
        assert [m["id"] for m in failed] == [r.json()["id"]]
        again = c.post(f"/v1/messages/{r.json()['id']}/retry")
        assert again.status_code == 202 and again.json()["status"] == "queued"
        detail = wait_status(c, r.json()["id"], "failed")
        assert len(detail["recipients"][0]["attempts"]) == 2
        assert c.post(f"/v1/messages/{r.json()['id']}/retry").status_code == 202


def test_temporary_failure_is_retried_until_lifetime_ends(
    server: Server, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    """4xx replies defer with backoff; after the lifetime the recipient fails as expired."""
    server.app.settings.message_lifetime_seconds = 1
    sink = smtp_sink_factory("-r", "RCPT")
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(sink.port))
        r = c.post(
            "/v1/messages",
            json={"from": "kevin@acme.example.com", "to": ["a@example.net"], "text": "x"},
        )
        detail = wait_status(c, r.json()["id"], "failed")
        [rcpt] = detail["recipients"]
        assert len(rcpt["attempts"]) >= 2
        assert all(a["transient"] for a in rcpt["attempts"])
        assert rcpt["text"].startswith("expired after")


def test_per_recipient_results(server: Server) -> None:
    """One accepted, one refused for good, one deferred: each recipient keeps its own fate."""
    from mailgate.testing.smtpserver import ScriptedSMTPServer

    scripted = ScriptedSMTPServer(
        rcpt_replies={
            "bad@example.net": "550 5.1.1 no such user",
            "later@example.net": "451 4.3.0 busy",
        }
    )
    with scripted, server.client() as c:
        c.post("/v1/transports", json=smtp_transport(scripted.port, mode="immediate"))
        r = c.post(
            "/v1/messages",
            json={
                "from": "kevin@acme.example.com",
                "to": ["ok@example.net", "bad@example.net", "later@example.net"],
                "text": "x",
            },
        )
        body = r.json()
        assert body["status"] == "deferred"
        by = {x["address"]: x for x in body["recipients"]}
        assert by["ok@example.net"]["status"] == "sent"
        assert by["bad@example.net"]["status"] == "failed"
        assert by["bad@example.net"]["enhanced_status"] == "5.1.1"
        assert "no such user" in by["bad@example.net"]["text"]
        assert by["later@example.net"]["status"] == "deferred"
        # The retry goes to the deferred recipient only.
        scripted.rcpt_replies.clear()
        detail = wait_status(c, body["id"], "sent")
        assert {x["address"]: x["status"] for x in detail["recipients"]}[
            "later@example.net"
        ] == "sent"
    delivered = [m.rcpt_tos for m in scripted.messages]
    assert delivered == [["ok@example.net"], ["later@example.net"]]


def test_batch_send(server: Server, smtp_sink: SmtpSink) -> None:
    """A batch answers one result per item, errors in place, and delivers the rest."""
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
        items = [
            {"from": "kevin@acme.example.com", "to": [f"u{i}@example.net"], "text": f"n{i}"}
            for i in range(30)
        ]
        items[7]["to"] = ["not an address"]
        r = c.post("/v1/messages/batch", json={"messages": items})
        assert r.status_code == 200
        answers = r.json()["items"]
        assert answers[7]["error"]["field"] == "to[0]"
        ids = [a["id"] for i, a in enumerate(answers) if i != 7]
        for mid in ids:
            wait_status(c, mid, "sent")
    assert len(smtp_sink.messages(expect=29)) == 29


def test_secrets_are_encrypted_and_never_returned(server: Server, smtp_sink: SmtpSink) -> None:
    """The password is write-only in the API and not readable in the database."""
    with server.client() as c:
        body = smtp_transport(
            smtp_sink.port, config={"username": "u", "password": "hunter2-secret"}
        )
        created = c.post("/v1/transports", json=body).json()
        assert "password" not in created["config"]
        assert created["secrets_set"] == ["password"]
        listed = c.get("/v1/transports").text
        assert "hunter2" not in listed
        # PATCH without the password keeps it.
        c.patch(f"/v1/transports/{created['id']}", json={"config": {"port": smtp_sink.port}})
    with server.app.sessions() as session:
        row = session.scalars(select(TransportRow)).one()
        assert "hunter2" not in (row.secrets or "") and "hunter2" not in str(row.config)
        assert server.app.secrets.decrypt(row.secrets)["password"] == "hunter2-secret"


def test_one_default_per_scope(server: Server, smtp_sink: SmtpSink) -> None:
    """A second default in the same scope is refused by the database, with a clear 409."""
    with server.client() as c:
        assert c.post("/v1/transports", json=smtp_transport(smtp_sink.port)).status_code == 201
        r = c.post("/v1/transports", json=smtp_transport(smtp_sink.port, name="second"))
        assert r.status_code == 409
        assert r.json()["error"]["field"] == "default"


def test_choice_falls_back_from_team_to_workspace_default(
    server: Server, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    """No transport named: team default first, then the workspace default; disabled ones skipped."""
    from mailgate.services import tenancy
    from mailgate.store.db import transaction

    ws_sink, team_sink = smtp_sink_factory(), smtp_sink_factory()
    with transaction(server.app.sessions) as session:
        team = tenancy.create_team(session, server.workspace_id, "billing")
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(ws_sink.port, name="ws"))
        t = c.post(
            "/v1/transports",
            json=smtp_transport(team_sink.port, name="team", scope="team", team=team.id),
        ).json()
        msg = {"from": "kevin@acme.example.com", "to": ["a@example.net"], "text": "x"}
        # The team field is not part of the public body for API keys without a team;
        # the service takes it from the caller. Here: team default wins.
        from mailgate.services.transports import choose

        with server.app.sessions() as session:
            assert (
                choose(session, server.workspace_id, transport_id=None, team_id=team.id).id
                == t["id"]
            )
        c.patch(f"/v1/transports/{t['id']}", json={"enabled": False})
        with server.app.sessions() as session:
            chosen = choose(session, server.workspace_id, transport_id=None, team_id=team.id)
            assert chosen.name == "ws"
        r = c.post("/v1/messages", json={**msg, "transport": t["id"]})
        assert r.status_code == 409 and r.json()["error"]["code"] == "transport_disabled"


def test_bad_input_gets_a_clear_error_naming_the_field(server: Server, smtp_sink: SmtpSink) -> None:
    """Invalid addresses, header injection, unknown transports, size: 4xx with the field."""
    server.app.settings.max_message_bytes = 10_000
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
        base = {"from": "kevin@acme.example.com", "to": ["a@example.net"], "text": "x"}

        def err(body: dict[str, object], status: int = 422) -> dict[str, str]:
            r = c.post("/v1/messages", json=body)
            assert r.status_code == status, r.text
            return r.json()["error"]  # type: ignore[no-any-return]

        assert err({**base, "to": ["a@@example.net"]})["field"] == "to[0]"
        assert err({**base, "from": "nobody"})["field"] == "from"
        e = err({**base, "subject": "hi\r\nBcc: victim@example.org"})
        assert (e["code"], e["field"]) == ("header_injection", "subject")
        e = err({**base, "headers": {"X-Tag": "a\nb"}})
        assert e["code"] == "header_injection"
        assert err({**base, "transport": "tr_nope"}, 404)["field"] == "transport"
        assert err({**base, "text": "x" * 20_000}, 413)["code"] == "too_large"
        assert err({**base, "to": []})["field"] == "to"
        assert err({**base, "unknown": 1})["field"] == "unknown"
        r = c.post("/v1/messages", json=base, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and "apikey create" in r.json()["error"]["message"]


def test_workspaces_never_see_each_other(server: Server, smtp_sink: SmtpSink) -> None:
    """Another workspace's key gets 404 for this workspace's messages and transports."""
    _, other_key = server.new_workspace("globex")
    with server.client() as c:
        t = c.post("/v1/transports", json=smtp_transport(smtp_sink.port)).json()
        m = c.post(
            "/v1/messages",
            json={"from": "k@acme.example.com", "to": ["a@example.net"], "text": "x"},
        ).json()
    with server.client(other_key) as other:
        assert other.get(f"/v1/messages/{m['id']}").status_code == 404
        assert other.get(f"/v1/transports/{t['id']}").status_code == 404
        assert other.get("/v1/messages").json()["items"] == []
        assert other.get("/v1/transports").json()["items"] == []
        r = other.post(
            "/v1/messages", json={"to": ["a@example.net"], "text": "x", "transport": t["id"]}
        )
        assert r.status_code == 404


def test_check_button(server: Server, smtp_sink: SmtpSink) -> None:
    """The test button says `connect success`, or where it failed."""
    from tests.servers.postgres import free_port

    with server.client() as c:
        ok = c.post("/v1/transports", json=smtp_transport(smtp_sink.port)).json()
        assert c.post(f"/v1/transports/{ok['id']}/check").json() == {
            "ok": True,
            "message": "connect success",
            "stage": None,
            # The server was asked about the sender mail will carry, then RSET.
            "transcript": [
                "MAIL FROM:<noreply@acme.example.com> → 250 2.1.0 Ok",
                "RCPT TO:<noreply@acme.example.com> → 250 2.1.5 Ok",
            ],
        }
        bad = c.post("/v1/transports", json=smtp_transport(free_port(), name="b", default=False))
        result = c.post(f"/v1/transports/{bad.json()['id']}/check").json()
        assert result["ok"] is False and result["stage"] == "connect"


def test_another_workspaces_team_transport_is_out_of_reach(
    server: Server, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    """Naming another workspace's team never borrows its default transport."""
    from mailgate.services import tenancy
    from mailgate.store.db import transaction

    theirs = smtp_sink_factory()
    other_ws, other_key = server.new_workspace("globex")
    with transaction(server.app.sessions) as session:
        team = tenancy.create_team(session, other_ws, "sales")
    with server.client(other_key) as o:
        r = o.post(
            "/v1/transports",
            json=smtp_transport(theirs.port, scope="team", team=team.id),
        )
        assert r.status_code == 201, r.text
    with server.client() as c:
        c.post(
            "/v1/transports",
            json={
                "name": "cap",
                "kind": "capture",
                "default": True,
                "mode": "immediate",
                "sender": "noreply@acme.example.com",
            },
        )
        r = c.post(
            "/v1/messages",
            json={"to": ["a@example.net"], "text": "x", "team": team.id},
        )
        assert r.status_code == 404 and r.json()["error"]["field"] == "team"
    assert theirs.messages() == []
