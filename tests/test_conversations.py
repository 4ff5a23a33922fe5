"""Inbound mail becomes conversations; answers thread back; bounces, loops, verification."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.utils import make_msgid

import pytest

from mailgate.inbound.pipeline import Incoming, receive
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server

SUPPORT = "support@acme.example.com"


@pytest.fixture
def outbox() -> Iterator[ScriptedSMTPServer]:
    """The customer's side of the wire: whatever mailgate sends lands here."""
    with ScriptedSMTPServer() as smtp:
        yield smtp


@pytest.fixture
def desk(server: Server, outbox: ScriptedSMTPServer) -> Server:
    """A workspace with a transport and support@acme.example.com."""
    with server.client() as c:
        t = c.post("/v1/transports", json=smtp_transport(outbox.port, mode="immediate")).json()
        r = c.post("/v1/addresses", json={"address": SUPPORT, "transport": t["id"]})
        assert r.status_code == 201, r.text
        assert r.json()["verified"] is False
    return server


def customer_mail(
    subject: str,
    body: str,
    *,
    to: str = SUPPORT,
    in_reply_to: str | None = None,
    references: str | None = None,
    extra: str = "",
) -> tuple[bytes, str]:
    mid = make_msgid(domain="customer.example.org")
    headers = [
        "From: Li Lei <li.lei@customer.example.org>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: {mid}",
        "Date: Tue, 24 Nov 2026 10:00:00 +0800",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(f"References: {references}")
    raw = ("\r\n".join(headers) + "\r\n" + extra + "\r\n" + body + "\r\n").encode()
    return raw, mid.strip("<>")


def deliver_in(server: Server, raw: bytes, rcpt: str = SUPPORT) -> str:
    [got] = receive(
        server.app, [Incoming(server.workspace_id, raw, "api", "x@customer.example.org", [rcpt])]
    )
    return got.id


def processed(server: Server, message_pk: str) -> dict[str, object]:
    with server.client() as c:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (
                (m := c.get(f"/v1/messages/{message_pk}", params={}).json())["status"]
                in ("processed", "dead")
                and m
            ),
            what=f"{message_pk} to be processed",
        )


def test_mail_reply_and_answer_stay_in_one_conversation(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """Customer mail → conversation; agent reply threads; the customer's answer lands back."""
    raw, first_mid = customer_mail("打印机坏了 / printer broken", "我的打印机不能用了。")
    first = deliver_in(desk, raw)
    assert processed(desk, first)["conversation"]
    with desk.client() as c:
        [conv] = c.get("/v1/conversations").json()["items"]
        assert conv["subject"] == "打印机坏了 / printer broken"
        assert conv["address"] == SUPPORT
        assert conv["participants"] == [
            {"name": "Li Lei", "address": "li.lei@customer.example.org"}
        ]
        r = c.post(
            f"/v1/conversations/{conv['id']}/replies",
            json={"text": "请重启一下打印机。", "author": "Agent Wang"},
        )
        assert r.status_code == 202, r.text
        reply = r.json()["message"]
        assert reply["status"] == "sent"
    [sent] = outbox.messages
    assert sent.rcpt_tos == ["li.lei@customer.example.org"]
    msg = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert msg["In-Reply-To"] == f"<{first_mid}>"
    assert f"<{first_mid}>" in msg["References"]
    assert msg["Subject"] == "Re: 打印机坏了 / printer broken"
    assert msg["From"].addresses[0].display_name == "Agent Wang"
    reply_to = msg["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("reply+") and reply_to.endswith("@acme.example.com")
    # The customer answers from a client that keeps the headers…
    raw2, _ = customer_mail(
        "Re: 打印机坏了",
        "好了，谢谢！\n\n> 请重启一下打印机。",
        to=reply_to,
        in_reply_to=msg["Message-ID"],
        references=f"<{first_mid}> {msg['Message-ID']}",
    )
    second = deliver_in(desk, raw2, rcpt=reply_to)
    assert processed(desk, second)["conversation"] == conv["id"]
    # …and from one that drops them: the signed Reply-To alone still finds the thread.
    raw3, _ = customer_mail("new subject", "one more thing", to=reply_to)
    third = deliver_in(desk, raw3, rcpt=reply_to)
    assert processed(desk, third)["conversation"] == conv["id"]
    with desk.client() as c:
        detail = c.get(f"/v1/conversations/{conv['id']}").json()
        assert [m["direction"] for m in detail["messages"]] == ["in", "out", "in", "in"]
        assert detail["messages"][2]["reply_text"] == "好了，谢谢！"
        assert len(c.get("/v1/conversations").json()["items"]) == 1


def test_forged_reply_token_does_not_enter_a_conversation(desk: Server) -> None:
    """A reply address with a wrong signature opens a new conversation instead."""
    first = deliver_in(desk, customer_mail("hello", "hi")[0])
    conv_id = processed(desk, first)["conversation"]
    with desk.client() as c:
        tag = None
        detail = c.get(f"/v1/conversations/{conv_id}").json()
        assert detail["id"] == conv_id
    from mailgate.store.models import Conversation

    with desk.app.sessions() as session:
        tag = session.get_one(Conversation, conv_id).tag
    forged = f"reply+{tag}.000000000000@acme.example.com"
    other = deliver_in(desk, customer_mail("hi", "sneaky", to=forged)[0], rcpt=forged)
    assert processed(desk, other)["conversation"] != conv_id


def test_bounce_marks_the_recipient_and_suppresses_it(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """A DSN about our mail marks that recipient bounced and blocks later sends to it."""
    with desk.client() as c:
        r = c.post(
            "/v1/messages",
            json={"from": SUPPORT, "to": ["gone@customer.example.org"], "text": "hi"},
        )
        sent = r.json()
        assert sent["status"] == "sent"
        mid = sent["message_id"]
    dsn = (
        "From: MAILER-DAEMON@customer.example.org\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@customer.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example.org\r\n\r\n"
        "Final-Recipient: rfc822; gone@customer.example.org\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{mid}>\r\nSubject: x\r\n\r\n--B--\r\n"
    ).encode()
    bounce = processed(desk, deliver_in(desk, dsn, rcpt=SUPPORT))
    assert bounce["kind"] == "bounce"
    with desk.client() as c:
        detail = c.get(f"/v1/messages/{sent['id']}").json()
        assert detail["recipients"][0]["status"] == "bounced"
        again = c.post(
            "/v1/messages",
            json={"from": SUPPORT, "to": ["gone@customer.example.org"], "text": "again"},
        ).json()
        assert again["recipients"][0]["status"] == "suppressed"
        assert c.get("/v1/conversations").json()["items"] == []
    assert len(outbox.messages) == 1


def test_out_of_office_and_loops_never_open_conversations(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """Auto-replies never start a conversation; our own mail coming back is a loop."""
    ooo, _ = customer_mail(
        "Automatic reply: hello",
        "I am out of the office.",
        extra="Auto-Submitted: auto-replied\r\n",
    )
    assert processed(desk, deliver_in(desk, ooo))["kind"] == "auto_reply"
    with desk.client() as c:
        c.post("/v1/messages", json={"from": SUPPORT, "to": [SUPPORT], "text": "to myself"})
    [own] = outbox.messages
    looped = processed(desk, deliver_in(desk, own.data))
    assert looped["kind"] == "loop"
    with desk.client() as c:
        assert c.get("/v1/conversations").json()["items"] == []


def test_address_verification_round_trip(desk: Server, outbox: ScriptedSMTPServer) -> None:
    """The verification mail coming back through an inbound path verifies the address."""
    with desk.client() as c:
        [address] = c.get("/v1/addresses").json()["items"]
        r = c.post(f"/v1/addresses/{address['id']}/verify")
        assert r.status_code == 202, r.text
    [mail] = outbox.messages
    assert mail.rcpt_tos == [SUPPORT]
    deliver_in(desk, mail.data)  # the company's server forwarded it to mailgate
    with desk.client() as c:
        wait_for(
            lambda: c.get(f"/v1/addresses/{address['id']}").json()["verified"],
            what="the address to be verified",
        )
        assert c.get("/v1/conversations").json()["items"] == []


def test_start_a_conversation_with_a_reference(desk: Server, outbox: ScriptedSMTPServer) -> None:
    """The business app opens a conversation about ticket 42 and finds it by reference."""
    with desk.client() as c:
        r = c.post(
            "/v1/conversations",
            json={
                "to": ["li.lei@customer.example.org"],
                "subject": "Your ticket #42",
                "text": "We are on it.",
                "reference": {"type": "ticket", "id": "42"},
            },
        )
        assert r.status_code == 201, r.text
        conv = r.json()
        found = c.get(
            "/v1/conversations", params={"reference_type": "ticket", "reference_id": "42"}
        ).json()["items"]
        assert [x["id"] for x in found] == [conv["id"]]
    [sent] = outbox.messages
    msg = email.message_from_bytes(sent.data, policy=email.policy.default)
    raw, _ = customer_mail("Re: Your ticket #42", "Thanks", in_reply_to=msg["Message-ID"])
    assert processed(desk, deliver_in(desk, raw))["conversation"] == conv["id"]


def test_a_conversation_cannot_be_given_another_workspaces_team(desk: Server) -> None:
    """Teams are checked against the workspace when a conversation is assigned."""
    from mailgate.services import tenancy
    from mailgate.store.db import transaction

    other_ws, _ = desk.new_workspace("globex")
    with transaction(desk.app.sessions) as session:
        foreign = tenancy.create_team(session, other_ws, "sales")
        mine = tenancy.create_team(session, desk.workspace_id, "support")
    conv_id = processed(desk, deliver_in(desk, customer_mail("hello", "hi")[0]))["conversation"]
    with desk.client() as c:
        r = c.patch(f"/v1/conversations/{conv_id}", json={"team": foreign.id})
        assert r.status_code == 404 and r.json()["error"]["field"] == "team"
        r = c.patch(f"/v1/conversations/{conv_id}", json={"team": mine.id, "status": "pending"})
        assert r.status_code == 200 and r.json()["team"] == mine.id
