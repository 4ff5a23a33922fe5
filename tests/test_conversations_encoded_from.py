"""A conversation opened by mail whose whole From is one encoded word can be answered.

Python's ``email.mime`` writes ``From: =?utf-8?b?<name <address>>?=``; the address
used to come out as the encoded word itself and the reply was refused (422).
"""

from __future__ import annotations

import base64

from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.servers.mailgate import Server
from tests.test_conversations import SUPPORT, deliver_in, desk, outbox, processed

__all__ = ["desk", "outbox"]  # the fixtures, shared with test_conversations


def test_reply_to_a_mailbox_in_one_encoded_word(desk: Server, outbox: ScriptedSMTPServer) -> None:
    word = base64.b64encode("张三 <customer@example.net>".encode()).decode()
    raw = (
        f"From: =?utf-8?b?{word}?=\r\nTo: {SUPPORT}\r\nSubject: invoice\r\n"
        "Message-ID: <mime-whole-word@example.net>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0800\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease resend it.\r\n"
    ).encode()
    assert processed(desk, deliver_in(desk, raw))["conversation"]
    with desk.client() as c:
        [conv] = c.get("/v1/conversations").json()["items"]
        assert conv["participants"] == [{"name": "张三", "address": "customer@example.net"}]
        r = c.post(f"/v1/conversations/{conv['id']}/replies", json={"text": "Sent again."})
        assert r.status_code == 202, r.text
    [sent] = outbox.messages
    assert sent.rcpt_tos == ["customer@example.net"]
