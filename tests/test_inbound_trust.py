"""Inbound mail is evidence, not authority: bounces and complaints we can prove, loops
signed per workspace, threads that admit only their people, a breaker per correspondent.

Every test plays the hostile side: a forged report, another tenant's mail, a stranger
quoting a Message-ID, an auto-responder that does not stop.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.utils import make_msgid
from typing import Any

import pytest
from sqlalchemy import select

from mailgate.crypto import SecretBox
from mailgate.inbound import markers
from mailgate.inbound.pipeline import Incoming, receive
from mailgate.services import admission
from mailgate.store.db import transaction
from mailgate.store.models import Conversation, Event, Suppression
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server

SUPPORT = "support@acme.example.com"
CUSTOMER = "li.lei@customer.example.org"


@pytest.fixture
def outbox() -> Iterator[ScriptedSMTPServer]:
    """The other side of the wire: whatever mailgate sends lands here."""
    with ScriptedSMTPServer() as smtp:
        yield smtp


@pytest.fixture
def desk(server: Server, outbox: ScriptedSMTPServer) -> Server:
    """Workspace acme with a transport and support@acme.example.com."""
    with server.client() as c:
        t = c.post("/v1/transports", json=smtp_transport(outbox.port, mode="immediate")).json()
        r = c.post("/v1/addresses", json={"address": SUPPORT, "transport": t["id"]})
        assert r.status_code == 201, r.text
    return server


def mail(
    subject: str,
    body: str,
    *,
    sender: str = f"Li Lei <{CUSTOMER}>",
    to: str = SUPPORT,
    in_reply_to: str | None = None,
    extra: str = "",
) -> tuple[bytes, str]:
    mid = make_msgid(domain="mail.example.org")
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: {mid}",
        "Date: Tue, 24 Nov 2026 10:00:00 +0800",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    raw = ("\r\n".join(headers) + "\r\n" + extra + "\r\n" + body + "\r\n").encode()
    return raw, mid.strip("<>")


def deliver_in(server: Server, raw: bytes, *, ws: str | None = None, rcpt: str = SUPPORT) -> str:
    [got] = receive(
        server.app,
        [Incoming(ws or server.workspace_id, raw, "api", "x@mail.example.org", [rcpt])],
    )
    return got.id


def processed(server: Server, pk: str, key: str | None = None) -> dict[str, Any]:
    with server.client(key) as c:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (
                (m := c.get(f"/v1/messages/{pk}").json())["status"] in ("processed", "dead") and m
            ),
            what=f"{pk} to be processed",
        )


def events(server: Server, type_: str, ws: str | None = None) -> list[dict[str, Any]]:
    with server.app.sessions() as session:
        rows = session.scalars(
            select(Event)
            .where(Event.workspace_id == (ws or server.workspace_id), Event.type == type_)
            .order_by(Event.created_at, Event.id)
        ).all()
        return [dict(r.payload) for r in rows]


def suppressed(server: Server, ws: str | None = None) -> list[str]:
    with server.app.sessions() as session:
        return list(
            session.scalars(
                select(Suppression.address).where(
                    Suppression.workspace_id == (ws or server.workspace_id)
                )
            )
        )


def send(server: Server, to: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    with server.client(key) as c:
        r = c.post("/v1/messages", json={"from": SUPPORT, "to": [to], "text": "hi", **extra})
        assert r.status_code in (200, 201, 202), r.text
        body: dict[str, Any] = r.json()
        assert body["status"] == "sent", body
        return body


def dsn(final_recipient: str, returned_headers: str, *, status: str = "5.1.1") -> bytes:
    """An RFC 3464 report from a daemon, returning ``returned_headers`` as rfc822-headers."""
    return (
        "From: MAILER-DAEMON@mx.customer.example.org\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.customer.example.org')}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {final_recipient}\r\n"
        f"Action: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} no such user\r\n\r\n"
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{returned_headers}Subject: hi\r\n\r\n--R--\r\n"
    ).encode()


def arf(rcpt_to: str | None, original: str) -> bytes:
    """An RFC 5965 feedback report returning ``original`` (headers and a body)."""
    field = f"Original-Rcpt-To: <{rcpt_to}>\r\n" if rcpt_to else ""
    return (
        "From: fbl@isp.example.net\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: FW: complaint\r\n"
        f"Message-ID: {make_msgid(domain='isp.example.net')}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nA user marked this as spam.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: ExampleFBL/2.0\r\nVersion: 1\r\n{field}\r\n"
        f"--F\r\nContent-Type: message/rfc822\r\n\r\n{original}\r\nhi\r\n--F--\r\n"
    ).encode()


def recipient_status(server: Server, message_pk: str, key: str | None = None) -> str:
    with server.client(key) as c:
        [rcpt] = c.get(f"/v1/messages/{message_pk}").json()["recipients"]
        return str(rcpt["status"])


# --- loops: signed per workspace ---------------------------------------------------


def test_mail_from_another_workspace_becomes_a_conversation(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """Workspace B writing to A's support address on the same installation is A's mail.

    Before, the X-Mailgate-Id that B's mail carries made A file it as a loop.
    """
    _, other_key = desk.new_workspace("globex")
    with desk.client(other_key) as b:
        t = b.post(
            "/v1/transports",
            json=smtp_transport(outbox.port, mode="immediate", sender="sales@globex.example"),
        )
        assert t.status_code == 201, t.text
        r = b.post(
            "/v1/messages",
            json={"from": "sales@globex.example", "to": [SUPPORT], "subject": "Order", "text": "x"},
        )
        assert r.status_code < 300 and r.json()["status"] == "sent", r.text
    [from_b] = outbox.messages
    assert markers.HEADER in email.message_from_bytes(from_b.data)
    got = processed(desk, deliver_in(desk, from_b.data))
    assert got["kind"] == "normal"
    assert got["conversation"]
    with desk.client() as c:
        [conv] = c.get("/v1/conversations").json()["items"]
        assert conv["participants"] == [{"name": "", "address": "sales@globex.example"}]
    # A's own mail coming back to A is still a loop.
    send(desk, SUPPORT)
    looped = processed(desk, deliver_in(desk, outbox.messages[-1].data))
    assert looped["kind"] == "loop"


def test_forged_or_foreign_marker_is_not_a_loop(desk: Server) -> None:
    """An unsigned or wrongly signed X-Mailgate-Id is ordinary mail, not a silent drop."""
    box: SecretBox = desk.app.secrets
    foreign = markers.marker(box, "ws_other", "msg_1")
    for value in ("msg_123", foreign, "msg_1." + "0" * 32):
        raw, _ = mail("hello", "a question", extra=f"X-Mailgate-Id: {value}\r\n")
        got = processed(desk, deliver_in(desk, raw))
        assert got["kind"] == "normal", value
        assert got["conversation"], value


def test_marker_signs_workspace_and_message() -> None:
    """A mark verifies for its own workspace only, and not once altered."""
    box = SecretBox("k" * 40)
    mark = markers.marker(box, "ws_a", "msg_1")
    assert markers.verify(box, "ws_a", mark) == "msg_1"
    assert markers.verify(box, "ws_b", mark) is None
    assert markers.verify(box, "ws_a", mark.replace("msg_1", "msg_2")) is None
    assert markers.verify(SecretBox("j" * 40), "ws_a", mark) is None
    # After a key rotation our mail in flight is still ours (MAILGATE_OLD_SECRET_KEYS).
    assert markers.verify(SecretBox("j" * 40, "k" * 40), "ws_a", mark) == "msg_1"
    assert markers.verify(box, "ws_a", None) is None


# --- bounces we can prove ---------------------------------------------------------


def test_forged_dsn_for_an_address_we_never_sent_to(desk: Server) -> None:
    """A DSN quoting our real Message-ID but naming someone else changes nothing."""
    sent = send(desk, "gone@customer.example.org")
    raw = dsn("ceo@customer.example.org", f"Message-ID: <{sent['message_id']}>\r\n")
    got = processed(desk, deliver_in(desk, raw))
    assert got["kind"] == "bounce"
    assert suppressed(desk) == []
    assert recipient_status(desk, sent["id"]) == "sent"
    [unmatched] = events(desk, "bounce.unmatched")
    assert unmatched["message"] == sent["id"]
    assert "not a recipient" in unmatched["reason"]
    assert events(desk, "message.bounced") == []


def test_dsn_about_another_workspaces_message(desk: Server, outbox: ScriptedSMTPServer) -> None:
    """A bounce carrying workspace B's Message-ID, delivered to A, touches neither."""
    other_ws, other_key = desk.new_workspace("globex")
    with desk.client(other_key) as b:
        b.post(
            "/v1/transports",
            json=smtp_transport(outbox.port, mode="immediate", sender="sales@globex.example"),
        )
        theirs = b.post(
            "/v1/messages",
            json={"from": "sales@globex.example", "to": ["x@customer.example.org"], "text": "x"},
        ).json()
    returned = email.message_from_bytes(outbox.messages[-1].data)
    headers = f"Message-ID: {returned['Message-ID']}\r\n"
    headers += f"X-Mailgate-Id: {returned['X-Mailgate-Id']}\r\n"
    got = processed(desk, deliver_in(desk, dsn("x@customer.example.org", headers)))
    assert got["kind"] == "bounce"
    assert suppressed(desk) == [] and suppressed(desk, other_ws) == []
    assert recipient_status(desk, theirs["id"], other_key) == "sent"
    [unmatched] = events(desk, "bounce.unmatched")
    assert unmatched["message"] is None and "no message" in unmatched["reason"]


@pytest.mark.parametrize(
    "body",
    [
        "Hi. This is the qmail-send program at mx.customer.example.org.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n"
        "<victim@customer.example.org>:\r\nSorry, no mailbox here by that name.\r\n",
        "This is the mail system at host mx.customer.example.org.\r\n\r\n"
        "<victim@customer.example.org>: host said: user unknown\r\n",
    ],
    ids=["qmail", "postfix"],
)
def test_prose_bounce_without_a_match_changes_nothing(desk: Server, body: str) -> None:
    """A MAILER-DAEMON prose bounce about no message of ours suppresses no one."""
    raw = (
        "From: MAILER-DAEMON@mx.customer.example.org\r\n"
        f"To: {SUPPORT}\r\nSubject: failure notice\r\n"
        f"Message-ID: {make_msgid(domain='mx.customer.example.org')}\r\n\r\n{body}"
    ).encode()
    got = processed(desk, deliver_in(desk, raw))
    assert got["kind"] == "bounce"
    assert suppressed(desk) == []
    [unmatched] = events(desk, "bounce.unmatched")
    assert unmatched["recipients"][0]["address"] == "victim@customer.example.org"
    with desk.client() as c:
        assert c.get("/v1/conversations").json()["items"] == []


def test_dsn_proven_by_the_signed_marker(desk: Server, outbox: ScriptedSMTPServer) -> None:
    """The returned copy's X-Mailgate-Id alone (no Message-ID) proves the bounce."""
    sent = send(desk, "gone@customer.example.org")
    mark = email.message_from_bytes(outbox.messages[-1].data)["X-Mailgate-Id"]
    raw = dsn("gone@customer.example.org", f"X-Mailgate-Id: {mark}\r\n")
    got = processed(desk, deliver_in(desk, raw))
    assert got["kind"] == "bounce"
    assert recipient_status(desk, sent["id"]) == "bounced"
    assert suppressed(desk) == ["gone@customer.example.org"]
    assert events(desk, "bounce.unmatched") == []


def test_delay_and_success_reports_fail_and_suppress_nobody(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """Delay warnings and success notices are kind bounce and change no recipient.

    Proven (our signed marker) or not, nobody becomes bounced or suppressed and
    no message.bounced or bounce.unmatched is emitted.
    """
    for action, status in (("delayed", "4.4.7"), ("delivered", "2.0.0")):
        sent = send(desk, f"{action}@customer.example.org")
        mark = email.message_from_bytes(outbox.messages[-1].data)["X-Mailgate-Id"]
        raw = dsn(f"{action}@customer.example.org", f"X-Mailgate-Id: {mark}\r\n", status=status)
        raw = raw.replace(b"Action: failed", f"Action: {action}".encode())
        got = processed(desk, deliver_in(desk, raw))
        assert got["kind"] == "bounce"
        assert recipient_status(desk, sent["id"]) == "sent"
    unproven = dsn("slow@customer.example.org", "", status="4.4.7")
    got = processed(desk, deliver_in(desk, unproven.replace(b"Action: failed", b"Action: delayed")))
    assert got["kind"] == "bounce"
    assert suppressed(desk) == []
    assert events(desk, "message.bounced") == [] and events(desk, "bounce.unmatched") == []


def test_verp_proves_a_bounce_only_in_its_own_workspace(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """The signed VERP envelope alone proves a bounce; in another workspace it proves nothing."""
    with desk.client() as c:
        t = c.post(
            "/v1/transports",
            json=smtp_transport(
                outbox.port,
                name="verp",
                default=False,
                mode="immediate",
                bounce_address="bounces@acme.example.com",
            ),
        )
        assert t.status_code == 201, t.text
    sent = send(desk, "gone@customer.example.org", transport=t.json()["id"])
    verp = outbox.messages[-1].mail_from
    assert verp.startswith("bounces+") and verp.endswith("@acme.example.com")
    other_ws, other_key = desk.new_workspace("globex")
    raw = dsn("gone@customer.example.org", "")  # a report that returns no headers at all
    foreign = processed(desk, deliver_in(desk, raw, ws=other_ws, rcpt=verp), other_key)
    assert foreign["kind"] == "bounce"
    assert suppressed(desk, other_ws) == [] and suppressed(desk) == []
    [unmatched] = events(desk, "bounce.unmatched", other_ws)
    assert unmatched["message"] is None
    processed(desk, deliver_in(desk, raw, rcpt=verp))
    assert recipient_status(desk, sent["id"]) == "bounced"
    assert suppressed(desk) == ["gone@customer.example.org"]


# --- complaints --------------------------------------------------------------------


def test_forged_arf_suppresses_nobody(desk: Server) -> None:
    """An ARF report about mail we never sent, or naming a stranger, changes nothing."""
    original = "From: news@acme.example.com\r\nTo: victim@customer.example.org\r\n"
    original += "Message-ID: <made-up@acme.example.com>\r\nSubject: x\r\n"
    processed(desk, deliver_in(desk, arf("victim@customer.example.org", original)))
    sent = send(desk, "reader@customer.example.org")
    ours = f"From: {SUPPORT}\r\nTo: reader@customer.example.org\r\n"
    ours += f"Message-ID: <{sent['message_id']}>\r\nSubject: hi\r\n"
    processed(desk, deliver_in(desk, arf("victim@customer.example.org", ours)))
    assert suppressed(desk) == []
    assert events(desk, "message.complained") == []
    first, second = events(desk, "complaint.unmatched")
    assert first["message"] is None and first["addresses"] == ["victim@customer.example.org"]
    assert second["message"] == sent["id"] and "not a recipient" in second["reason"]
    # The genuine report about the same message suppresses its recipient.
    processed(desk, deliver_in(desk, arf("reader@customer.example.org", ours)))
    assert suppressed(desk) == ["reader@customer.example.org"]
    [complained] = events(desk, "message.complained")
    assert complained["addresses"] == ["reader@customer.example.org"]


# --- threads admit only their people --------------------------------------------------


def test_stranger_quoting_a_message_id_opens_a_linked_conversation(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """mallory answering the customer's Message-ID is not let into the thread nor CC'd."""
    raw, first_mid = mail("printer broken", "it does not print")
    conv_id = processed(desk, deliver_in(desk, raw))["conversation"]
    evil, _ = mail(
        "Re: printer broken",
        "send me the invoice",
        sender="Mallory <mallory@evil.test>",
        in_reply_to=f"<{first_mid}>",
        extra="Cc: eve@evil.test\r\n",
    )
    other = processed(desk, deliver_in(desk, evil))["conversation"]
    assert other and other != conv_id
    with desk.app.sessions() as session:
        linked = session.get_one(Conversation, other)
        assert linked.related_id == conv_id
        original = session.get_one(Conversation, conv_id)
        assert original.participants == [{"name": "Li Lei", "address": CUSTOMER}]
    created = [e for e in events(desk, "conversation.created") if e["conversation"] == other]
    assert created[0]["related"] == conv_id
    with desk.client() as c:
        assert c.get(f"/v1/conversations/{other}").json()["related"] == conv_id
        assert c.get(f"/v1/conversations/{conv_id}").json()["related"] is None
        r = c.post(f"/v1/conversations/{conv_id}/replies", json={"text": "please restart it"})
        assert r.status_code == 202, r.text
    sent = outbox.messages[-1]
    assert sent.rcpt_tos == [CUSTOMER]
    # The customer answering from the known address still threads.
    answer = email.message_from_bytes(sent.data)["Message-ID"]
    raw2, _ = mail("Re: printer broken", "works now", in_reply_to=answer)
    assert processed(desk, deliver_in(desk, raw2))["conversation"] == conv_id


def test_stranger_with_the_subject_tag_is_not_let_in(desk: Server) -> None:
    """A subject tag is no more an invitation than a Message-ID."""
    conv_id = processed(desk, deliver_in(desk, mail("hello", "hi")[0]))["conversation"]
    with desk.app.sessions() as session:
        tag = session.get_one(Conversation, conv_id).tag
    evil, _ = mail(f"Re: hello [#{tag}]", "me too", sender="mallory@evil.test")
    other = processed(desk, deliver_in(desk, evil))["conversation"]
    assert other != conv_id


def test_workspace_admitting_anyone_lets_strangers_in_but_never_adds_them(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """thread_admission "anyone": the stranger's mail joins; the CC list stays as it was."""
    with desk.client() as c:
        assert c.get("/v1/workspace").json()["thread_admission"] == "participants"
        answer = c.patch("/v1/workspace", json={"thread_admission": "anyone"})
        assert answer.status_code == 200 and answer.json()["thread_admission"] == "anyone"
    raw, first_mid = mail("printer broken", "it does not print")
    conv_id = processed(desk, deliver_in(desk, raw))["conversation"]
    evil, _ = mail(
        "Re: printer broken", "same here", sender="mallory@evil.test", in_reply_to=f"<{first_mid}>"
    )
    assert processed(desk, deliver_in(desk, evil))["conversation"] == conv_id
    with desk.client() as c:
        c.post(f"/v1/conversations/{conv_id}/replies", json={"text": "on it"})
    assert outbox.messages[-1].rcpt_tos == [CUSTOMER]


def test_thread_admission_rejects_unknown_values(desk: Server) -> None:
    """The setting names its field when the value is not one it knows."""
    from mailgate.errors import InvalidInput

    with transaction(desk.app.sessions) as session, pytest.raises(InvalidInput) as err:
        admission.set_thread_admission(session, desk.workspace_id, "everyone")
    assert err.value.field == "thread_admission"
    with desk.client() as c:
        answer = c.patch("/v1/workspace", json={"thread_admission": "everyone"})
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == "thread_admission"
        assert c.get("/v1/workspace").json()["thread_admission"] == "participants"


# --- the breaker per correspondent -----------------------------------------------------


def test_breaker_stops_a_correspondent_opening_conversations(desk: Server) -> None:
    """Past the limit in the window: stored, no more conversations, one event per trip."""
    desk.app.settings.automatic_limit = 3
    robot = "robot@autoresponder.example.net"
    sent = [mail(f"ticket {i}", "beep", sender=robot) for i in range(6)]
    got = [processed(desk, deliver_in(desk, raw)) for raw, _ in sent]
    assert [bool(m["conversation"]) for m in got] == [True, True, True, False, False, False]
    assert all(m["status"] == "processed" for m in got)
    [tripped] = events(desk, "correspondent.throttled")
    assert tripped["address"] == robot and tripped["limit"] == 3
    # Auto-replies from the tripped correspondent no longer enter their conversations either.
    ooo, _ = mail(
        "Automatic reply: ticket 0",
        "away",
        sender=robot,
        in_reply_to=f"<{sent[0][1]}>",
        extra="Auto-Submitted: auto-replied\r\n",
    )
    assert processed(desk, deliver_in(desk, ooo))["conversation"] is None
    # Someone else is not affected.
    assert processed(desk, deliver_in(desk, mail("hello", "hi")[0]))["conversation"]
    assert len(events(desk, "correspondent.throttled")) == 1
