"""Agent replies always thread, also in conversations with no registered support address.

A catch-all, a Mailgun route or an unregistered mailbox opens a conversation with
no ``address_id``. Its replies used to leave as automatic mail (``Auto-Submitted``,
the transport's sender, no signed Reply-To), so the customer's answer opened a new
conversation. Now they leave from the address the customer wrote to, as the agent.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from mailgate.inbound.pipeline import Incoming, receive
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server

SUPPORT = "support@acme.example.com"


@pytest.fixture
def outbox() -> Iterator[ScriptedSMTPServer]:
    with ScriptedSMTPServer() as smtp:
        yield smtp


@pytest.fixture
def desk(server: Server, outbox: ScriptedSMTPServer) -> Server:
    """A default transport and one registered address; other addresses are unregistered."""
    with server.client() as c:
        r = c.post("/v1/transports", json=smtp_transport(outbox.port, mode="immediate"))
        assert r.status_code == 201, r.text
        assert c.post("/v1/addresses", json={"address": SUPPORT}).status_code == 201
    return server


def customer_mail(to: str, subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Li Lei <li.lei@customer.example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="customer.example.org")
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


def arrive(server: Server, raw: bytes, source: str, rcpt: list[str]) -> str:
    """Store like the listener, a Mailgun route or a poller would; wait until routed."""
    [got] = receive(server.app, [Incoming(server.workspace_id, raw, source, "x@y.org", rcpt)])
    with server.client() as c:
        done = wait_for(
            lambda: (m := c.get(f"/v1/messages/{got.id}").json())["status"]
            in ("processed", "dead")
            and m,
            what="inbound processed",
        )
    assert done["status"] == "processed", done
    return str(done["conversation"])


@pytest.mark.parametrize(
    ("source", "rcpt"),
    [
        ("mailgun", ["help@acme.example.com"]),  # a route: the envelope recipient is known
        ("imap", []),  # an unregistered mailbox: only the To header says where it went
    ],
)
def test_reply_from_an_unregistered_address_threads_back(
    desk: Server, outbox: ScriptedSMTPServer, source: str, rcpt: list[str]
) -> None:
    """Normal mail from the address written to, signed Reply-To; the answer threads back."""
    conv = arrive(desk, customer_mail("help@acme.example.com", "printer", "Broken."), source, rcpt)
    with desk.client() as c:
        assert c.get(f"/v1/conversations/{conv}").json()["address"] is None
        r = c.post(
            f"/v1/conversations/{conv}/replies",
            json={"text": "Please restart it.", "author": "Agent Wang"},
        )
        assert r.status_code == 202, r.text
        reply = c.get(f"/v1/messages/{r.json()['message']['id']}").json()
    assert reply["kind"] == "normal"
    [sent] = outbox.messages
    msg = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert msg["Auto-Submitted"] is None
    assert msg["From"].addresses[0].display_name == "Agent Wang"
    assert msg["From"].addresses[0].addr_spec == "help@acme.example.com"
    reply_to = msg["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("reply+") and reply_to.endswith("@acme.example.com")
    # The customer answers from a client that drops In-Reply-To and the subject tag.
    back = customer_mail(reply_to, "something else", "Works now, thanks.")
    assert arrive(desk, back, source, [reply_to] if rcpt else []) == conv


def test_reply_uses_the_transport_of_the_address_domain(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """No transport for the address itself: the one sending for its domain, not the default."""
    with ScriptedSMTPServer() as brand_smtp, desk.client() as c:
        brand = smtp_transport(
            brand_smtp.port,
            name="brand",
            default=False,
            mode="immediate",
            sender="noreply@brand.example.net",
        )
        assert c.post("/v1/transports", json=brand).status_code == 201
        raw = customer_mail("info@brand.example.net", "question", "Hello?")
        conv = arrive(desk, raw, "smtp", ["info@brand.example.net"])
        r = c.post(f"/v1/conversations/{conv}/replies", json={"text": "Hi!", "author": "Ann"})
        assert r.status_code == 202, r.text
        [sent] = brand_smtp.messages
    assert outbox.messages == []
    msg = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert msg["From"].addresses[0].addr_spec == "info@brand.example.net"
    assert msg["Reply-To"].addresses[0].addr_spec.endswith("@brand.example.net")
    assert msg["Auto-Submitted"] is None


def test_reply_prefers_the_workspace_domain_among_several_recipients(
    desk: Server, outbox: ScriptedSMTPServer
) -> None:
    """A mailbox copy written to a partner and to us: the answer comes from our address."""
    raw = customer_mail("Bob <bob@partner.example.net>, help@acme.example.com", "both", "Hi.")
    conv = arrive(desk, raw, "imap", [])
    with desk.client() as c:
        r = c.post(f"/v1/conversations/{conv}/replies", json={"text": "ok", "author": "Ann"})
        assert r.status_code == 202, r.text
    msg = email.message_from_bytes(outbox.messages[-1].data, policy=email.policy.default)
    assert msg["From"].addresses[0].addr_spec == "help@acme.example.com"
    assert msg["Reply-To"].addresses[0].addr_spec.endswith("@acme.example.com")
