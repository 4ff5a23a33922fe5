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


def test_the_check_button_probes_the_real_sender(
    server: Server, postfix_submission: PostfixSubmission
) -> None:
    """The test MAILs FROM the sender mail will carry: a foreign one is refused, explained."""
    pf = postfix_submission
    foreign = _transport(pf, "as_is", bounce_address="noreply@example.com")
    own = _transport(pf, "restrict_from")
    with server.operator_client() as op:
        bad = op.post("/v1/transports", json=foreign).json()["id"]
        good = op.post("/v1/transports", json=own).json()["id"]
        refused = op.post(f"/v1/transports/{bad}/check").json()
        passed = op.post(f"/v1/transports/{good}/check").json()
    assert (refused["ok"], refused["stage"]) == (False, "sender")
    assert "553" in refused["message"] and "not owned by user" in refused["message"]
    assert "restrict_from" in refused["message"] and "on_behalf_of" in refused["message"]
    # Postfix judges the sender at RCPT (smtpd_delay_reject); QQ and 163 at MAIL.
    assert refused["transcript"][-1].startswith("RCPT TO:<noreply@example.com> → 553")
    assert (passed["ok"], passed["message"]) == (True, "connect success")
    assert [line.split(" → ")[1][:3] for line in passed["transcript"]] == ["250", "250"]
    assert pf.dovecot.messages(expect=0) == []  # RSET: nothing was sent


def test_a_preset_fills_the_server_and_its_hint_explains_a_failed_login(
    server: Server, postfix_submission: PostfixSubmission
) -> None:
    """163's preset: its servers filled in; a refused login says to use the authorisation code."""
    pf = postfix_submission
    with server.client() as c:
        presets = {p["name"]: p for p in c.get("/v1/transports/presets").json()["items"]}
        assert presets["163"]["smtp"] == {"host": "smtp.163.com", "port": 465, "security": "tls"}
        assert presets["qq"]["imap"]["host"] == "imap.qq.com"
        bad = c.post(
            "/v1/transports",
            json={"name": "x", "kind": "smtp", "config": {"preset": "hotmail2", "username": "a"}},
        )
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "config.preset"
        made = c.post(
            "/v1/transports",
            json={"name": "163", "kind": "smtp", "config": {"preset": "163", "username": "a"}},
        )
        assert made.status_code == 201, made.text
        assert made.json()["config"]["host"] == "smtp.163.com"
    # The same preset in front of the real Postfix (an operator may point at loopback).
    body = _transport(pf, "restrict_from")
    body["config"]["preset"] = "163"  # type: ignore[index]
    body["config"]["password"] = "the-web-mail-password"  # type: ignore[index]
    with server.operator_client() as op:
        tid = op.post("/v1/transports", json=body).json()["id"]
        result = op.post(f"/v1/transports/{tid}/check").json()
    assert (result["ok"], result["stage"]) == (False, "auth")
    assert "客户端授权密码" in result["message"] and "authorisation code" in result["message"]


@pytest.mark.parametrize(
    ("code", "text", "foreign"),
    [
        (553, "Mail from must equal authorized user", True),  # QQ, 163 at MAIL FROM
        (553, "5.7.1 <a@b>: Sender address rejected: not owned by user c@d", True),  # Postfix
        (550, "5.7.60 SMTP; Client does not have permissions to send as this sender", True),
        (501, "mail from address must be same as authorization user", True),  # Aliyun
        (550, "5.1.1 <x@y>: Recipient address rejected: User unknown", False),
        (421, "Too many connections, must equal authorized user", False),  # not a refusal
    ],
)
def test_which_refusals_mean_send_as_the_account(code: int, text: str, foreign: bool) -> None:
    from mailgate.outbound.smtp import refuses_foreign_sender

    assert refuses_foreign_sender(code, text) is foreign
