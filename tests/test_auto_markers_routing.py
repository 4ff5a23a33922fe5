"""Issue 11, class 22 end to end: what the automatic-mail markers do to routing.

``Precedence: bulk`` and ``X-Loop`` make mail kind auto_reply, which routing
never lets open a conversation (so nothing acknowledges it: RFC 3834 §2), while
a person's mail that an Exchange server rule touched
(``X-MS-Exchange-Inbox-Rules-Loop``) opens one like any other, with its reply text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from mailgate.inbound.pipeline import Incoming, receive
from mailgate.store.models import Event
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server

SUPPORT = "support@acme.example.com"


@pytest.fixture
def outbox() -> Iterator[ScriptedSMTPServer]:
    with ScriptedSMTPServer() as smtp:
        yield smtp


def _mail(sender: str, subject: str, body: str, extra: list[str]) -> bytes:
    head = [
        f"From: {sender}",
        f"To: {SUPPORT}",
        f"Subject: {subject}",
        f"Message-ID: <{re.sub(r'[^A-Za-z0-9]+', '.', subject).strip('.')}@remote.example>",
        "Date: Mon, 04 Mar 2024 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


def _processed(server: Server, raw: bytes) -> dict[str, object]:
    [got] = receive(
        server.app, [Incoming(server.workspace_id, raw, "api", "x@remote.example", [SUPPORT])]
    )
    with server.client() as c:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (
                (m := c.get(f"/v1/messages/{got.id}").json())["status"] in ("processed", "dead")
                and m
            ),
            what="the message to be processed",
        )


def test_markers_decide_who_opens_a_conversation(
    server: Server, outbox: ScriptedSMTPServer
) -> None:
    """Bulk and X-Loop mail open nothing; a rule-touched human reply opens a conversation."""
    with server.client() as c:
        t = c.post("/v1/transports", json=smtp_transport(outbox.port, mode="immediate")).json()
        assert c.post("/v1/addresses", json={"address": SUPPORT, "transport": t["id"]}).is_success
    bulk = _mail(
        "Example News <news@lists.example.org>",
        "Spring catalogue",
        "Our spring catalogue is out.\n",
        ["Precedence: bulk"],
    )
    looped = _mail(
        "Helpdesk <helpdesk@tickets.example.net>",
        "[#88123] Your request was received",
        "We received your request.\n",
        ["X-Loop: helpdesk@tickets.example.net"],
    )
    human = _mail(
        "Rachel Green <rachel@contoso.example>",
        "RE: Printer not working",
        "It works now, thanks!\n\nFrom: Acme <support@acme.example.com>\n"
        "Sent: Monday, March 4, 2024 9:00 AM\nTo: Rachel Green\nSubject: Printer\n\nRestart it.\n",
        ["X-MS-Exchange-Inbox-Rules-Loop: rachel@contoso.example"],
    )
    assert _processed(server, bulk)["kind"] == "auto_reply"
    assert _processed(server, looped)["kind"] == "auto_reply"
    assert _processed(server, human)["kind"] == "normal"
    with server.client() as c:
        [conv] = c.get("/v1/conversations").json()["items"]
        assert conv["subject"] == "RE: Printer not working"
    with server.app.sessions() as session:
        events = session.scalars(select(Event).where(Event.type == "message.received")).all()
        assert [e.payload["reply_text"] for e in events] == ["It works now, thanks!"]
    assert outbox.messages == []  # nothing was answered automatically
