"""Sender policies against a real Postfix that refuses foreign senders (553), end to end."""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.helpers import wait_status
from tests.servers.mailgate import Server
from tests.servers.postfix import PostfixSubmission


def _transport(pf: PostfixSubmission, policy: str, **extra: object) -> dict[str, object]:
    return {
        "name": f"strict-{policy}",
        "kind": "smtp",
        "mode": "immediate",
        "sender": pf.dovecot.user,
        "sender_policy": policy,
        "config": {
            "host": "127.0.0.1",
            "port": pf.strict_port,
            "security": "starttls",
            "username": pf.dovecot.user,
            "password": pf.dovecot.password,
            "ca_file": str(pf.dovecot.tls.ca_file),
        },
        **extra,
    }


def _send(c, transport_id: str, to: str):  # type: ignore[no-untyped-def]
    return c.post(
        "/v1/messages",
        json={
            "from": "Kevin Zhang <kevin@example.test>",
            "to": [to],
            "subject": "Quote 2026-118",
            "text": "Please find the quote.",
            "transport": transport_id,
        },
    ).json()


@pytest.mark.parametrize("policy", ["as_is", "restrict_from"])
def test_553_mail_from_must_equal_authorized_user(
    server: Server, postfix_submission: PostfixSubmission, policy: str
) -> None:
    """as_is is refused with the server's 553; restrict_from is delivered, Kevin kept in view."""
    pf = postfix_submission
    with server.operator_client() as op:  # the transport names a CA file: operator only
        t = op.post("/v1/transports", json=_transport(pf, policy))
        assert t.status_code == 201, t.text
    with server.client() as c:
        result = _send(c, t.json()["id"], pf.dovecot.user)
    [rcpt] = result["recipients"]
    if policy == "as_is":
        assert result["status"] == "failed"
        assert rcpt["code"] == 553 and "not owned by user" in rcpt["text"]
        return
    assert result["status"] == "sent", rcpt
    [raw] = pf.dovecot.messages(expect=1)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["From"].addresses[0].addr_spec == pf.dovecot.user
    assert msg["From"].addresses[0].display_name == "Kevin Zhang via acme"
    assert msg["Reply-To"].addresses[0].addr_spec == "kevin@example.test"


def test_on_behalf_of_uses_the_bounce_address_as_envelope(
    server: Server, postfix_submission: PostfixSubmission
) -> None:
    """on_behalf_of keeps the user in From, names the account in Sender, VERPs the bounce."""
    pf = postfix_submission
    body = _transport(pf, "on_behalf_of", bounce_address="bounces@example.test")
    body["config"]["port"] = pf.port  # type: ignore[index]
    with server.operator_client() as op:  # the transport names a CA file: operator only
        t = op.post("/v1/transports", json=body).json()
    with server.client() as c:
        result = _send(c, t["id"], pf.dovecot.user)
        assert result["status"] == "sent", result
        wait_status(c, result["id"], "sent")
    [raw] = pf.dovecot.messages(expect=1)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["From"].addresses[0].addr_spec == "kevin@example.test"
    assert msg["Sender"].addresses[0].addr_spec == pf.dovecot.user
    return_path = msg["Return-Path"]
    assert return_path.startswith("<bounces+msg_") and return_path.endswith("@example.test>")
