"""Every way in, end to end with real servers: a customer's mail becomes a conversation,
the agent's reply reaches the customer's mailbox threaded, and the customer's answer
to it lands in the same conversation.

The customer is a real mailbox (Dovecot behind a private Postfix); the agent's reply
leaves through that Postfix's authenticated submission port. The ways in: Postfix
relaying to mailgate's SMTP listener, an IMAP and a POP3 support mailbox (a second
Dovecot), and Mailgun's route request (the one test double: its documented form).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import secrets
import smtplib
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailgate.inbound.smtp import start_listener
from tests.helpers import wait_for
from tests.servers.dovecot import Dovecot, start_dovecot
from tests.servers.mailgate import Server
from tests.servers.postfix import PostfixSubmission
from tests.servers.postgres import free_port
from tests.servers.smtpsink import stop_process_group
from tests.servers.tls import TlsCert

SUPPORT = "support@acme.example.com"


@pytest.fixture
def listener_port() -> int:
    return free_port()


@pytest.fixture
def postfix_routes(listener_port: int) -> dict[str, int]:
    """Postfix relays mail for acme.example.com to mailgate's listener."""
    return {"acme.example.com": listener_port}


@pytest.fixture
def support_mailbox(tls_cert: TlsCert) -> Iterator[Dovecot]:
    """The company's own support mailbox, on a second Dovecot."""
    with tempfile.TemporaryDirectory(prefix="mailgate-support-") as tmp:
        box = start_dovecot(Path(tmp), tls_cert, user=SUPPORT, password="support-pw")
        try:
            yield box
        finally:
            stop_process_group(box.proc)


def setup_desk(c: httpx.Client, pf: PostfixSubmission) -> None:
    """A transport through the Postfix submission port and the support address.

    ``c`` holds an operator key: the transport names a CA file on the server.
    """
    t = c.post(
        "/v1/transports",
        json={
            "name": "company smtp",
            "kind": "smtp",
            "default": True,
            "mode": "immediate",
            "sender": SUPPORT,
            "config": {
                "host": "127.0.0.1",
                "port": pf.port,
                "security": "starttls",
                "username": pf.dovecot.user,
                "password": pf.dovecot.password,
                "ca_file": str(pf.dovecot.tls.ca_file),
            },
        },
    )
    assert t.status_code == 201, t.text
    r = c.post("/v1/addresses", json={"address": SUPPORT, "transport": t.json()["id"]})
    assert r.status_code == 201, r.text


def customer_mail(
    pf: PostfixSubmission, to: str, subject: str, body: str, in_reply_to: str | None = None
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Alice Customer <{pf.dovecot.user}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg["Date"] = email.utils.format_datetime(email.utils.localtime())
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg


def one_conversation(c: httpx.Client) -> dict[str, Any]:
    items = wait_for(lambda: c.get("/v1/conversations").json()["items"], what="a conversation")
    assert len(items) == 1, items
    return items[0]  # type: ignore[no-any-return]


def converse(
    server: Server,
    pf: PostfixSubmission,
    deliver: Callable[[EmailMessage], None],
) -> None:
    """The whole exchange, whatever the way in (``deliver`` puts mail into it)."""
    with server.operator_client() as op:
        setup_desk(op, pf)
    with server.client() as c:
        first = customer_mail(pf, SUPPORT, "订单 1043 没有收到 / order missing", "包裹还没到。")
        deliver(first)
        conv = one_conversation(c)
        assert conv["participants"][0]["address"] == pf.dovecot.user
        r = c.post(
            f"/v1/conversations/{conv['id']}/replies",
            json={"text": "已经补发，请查收。", "author": "Agent Wang"},
        )
        assert r.status_code == 202, r.text
        assert r.json()["message"]["status"] == "sent"
    [raw] = pf.dovecot.messages(expect=1)  # the agent's reply, in the customer's mailbox
    reply = email.message_from_bytes(raw, policy=email.policy.default)
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in reply["References"]
    assert reply["Subject"] == "Re: 订单 1043 没有收到 / order missing"
    assert reply["From"].addresses[0].display_name == "Agent Wang"
    reply_to = reply["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("reply+") and reply_to.endswith("@acme.example.com")
    body = reply.get_body(("plain",))
    assert body is not None and "已经补发" in body.get_content()
    answer = customer_mail(pf, reply_to, "Re: 订单 1043", "收到了，谢谢！", reply["Message-ID"])
    deliver(answer)
    with server.client() as c:

        def three() -> list[dict[str, Any]] | None:
            detail = c.get(f"/v1/conversations/{conv['id']}").json()
            return detail["messages"] if len(detail["messages"]) == 3 else None

        messages = wait_for(three, what="the answer in the same conversation")
        assert [m["direction"] for m in messages] == ["in", "out", "in"]
        assert messages[2]["reply_text"] == "收到了，谢谢！"
        assert len(c.get("/v1/conversations").json()["items"]) == 1


def submit(pf: PostfixSubmission) -> Callable[[EmailMessage], None]:
    """The customer's client: authenticated submission to their own Postfix."""

    def send(msg: EmailMessage) -> None:
        context = ssl.create_default_context(cafile=str(pf.dovecot.tls.ca_file))
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as smtp:
            smtp.starttls(context=context)
            smtp.login(pf.dovecot.user, pf.dovecot.password)
            smtp.send_message(msg)

    return send


def test_postfix_relays_to_the_listener(
    server: Server, postfix_submission: PostfixSubmission, listener_port: int
) -> None:
    """Customer → their Postfix → mailgate's SMTP listener; the answer takes the same road."""
    listener = server.run(start_listener(server.app, "127.0.0.1", listener_port))
    try:
        converse(server, postfix_submission, submit(postfix_submission))
    finally:
        server.run(listener.stop())


@pytest.mark.parametrize("kind", ["imap", "pop3"])
def test_support_mailbox_polled(
    server: Server, postfix_submission: PostfixSubmission, support_mailbox: Dovecot, kind: str
) -> None:
    """The support mailbox is read over IMAP (IDLE) or POP3; mail is taken once."""
    box = support_mailbox
    with server.client() as c:
        r = c.post(
            "/v1/sources",
            json={
                "name": f"support {kind}",
                "kind": kind,
                "config": {
                    "host": "127.0.0.1",
                    "port": box.imap_port if kind == "imap" else box.pop3_port,
                    "security": "none",
                    "username": SUPPORT,
                    "password": "support-pw",
                    "poll_interval": 0.2,
                },
            },
        )
        assert r.status_code == 201, r.text

    def into_mailbox(msg: EmailMessage) -> None:
        box.add_message(msg.as_bytes(policy=email.policy.SMTP))

    converse(server, postfix_submission, into_mailbox)


def test_mailgun_route(server: Server, postfix_submission: PostfixSubmission) -> None:
    """Mailgun's route posts its parsed form, signed; both mails come in that way."""
    key = "key-" + secrets.token_hex(16)
    with server.client() as c:
        r = c.post(
            "/v1/sources",
            json={"name": "mg route", "kind": "mailgun", "config": {"signing_key": key}},
        )
        assert r.status_code == 201, r.text
        path = r.json()["webhook_path"]

    def route(msg: EmailMessage) -> None:
        timestamp, token = str(int(time.time())), secrets.token_hex(25)
        signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
        headers = [[k, str(v)] for k, v in msg.items()]
        body = msg.get_body(("plain",))
        assert body is not None
        form = {
            "recipient": str(msg["To"]),
            "sender": postfix_submission.dovecot.user,
            "from": str(msg["From"]),
            "subject": str(msg["Subject"]),
            "body-plain": body.get_content(),
            "stripped-text": body.get_content(),
            "message-headers": json.dumps(headers),
            "attachment-count": "0",
            "timestamp": timestamp,
            "token": token,
            "signature": signature,
        }
        with httpx.Client(base_url=server.url, timeout=30) as mailgun:
            answer = mailgun.post(path, data=form)
            assert answer.status_code == 200, answer.text

    converse(server, postfix_submission, route)
