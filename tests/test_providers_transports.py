"""HTTP provider transports (outbound/http.py) against the Mailgun and SendCloud doubles.

The doubles are real HTTP servers on loopback following each provider's published
contract (tests/servers/PROVIDERS.md); these tests drive the transports directly.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from typing import Any

import pytest

from mailgate.errors import InvalidInput
from mailgate.outbound.base import Envelope
from mailgate.outbound.http import map_status, retry_after
from mailgate.outbound.netguard import NetGuard
from mailgate.outbound.registry import build_transport, secret_fields
from tests.servers.mailgun_double import MailgunDouble
from tests.servers.sendcloud_double import SendCloudDouble

RAW = (
    b"From: PPMessage Support <support@mg.ppmessage.example>\r\n"
    b"To: ana@customer.example, bo@customer.example\r\n"
    b"Reply-To: help@mg.ppmessage.example\r\n"
    b"Subject: Your ticket #41\r\n"
    b"Message-ID: <t41.reply@mg.ppmessage.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/alternative; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWe fixed it.\r\n"
    b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>We fixed it.</p>\r\n"
    b"--b1--\r\n"
)
ENV = Envelope("bounce@mg.ppmessage.example", ("ana@customer.example", "bo@customer.example"))


def mailgun(double: MailgunDouble, **extra: Any) -> Any:
    config = {"domain": "mg.ppmessage.example", "api_key": double.api_key,
              "base_url": double.url, **extra}
    return build_transport("mailgun", config)


def sendcloud(double: SendCloudDouble, **extra: Any) -> Any:
    config = {
        "api_user": "fxiaoke_trigger",
        "api_key": double.users["fxiaoke_trigger"],
        "bulk_api_user": "fxiaoke_batch",
        "bulk_api_key": double.users["fxiaoke_batch"],
        "base_url": double.url,
        **extra,
    }
    return build_transport("sendcloud", config)


async def _deliver(transport: Any, envelope: Envelope = ENV, raw: bytes = RAW) -> Any:
    try:
        return await transport.deliver(envelope, raw)
    finally:
        await transport.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_mailgun_sends_our_mime_with_one_to_per_recipient(mailgun_double: MailgunDouble) -> None:
    result = run(_deliver(mailgun(mailgun_double)))
    [sent] = mailgun_double.sent
    assert sent.mime == RAW  # byte for byte: DKIM and headers stay ours
    assert sent.to == list(ENV.recipients)
    assert [r.accepted for r in result.recipients] == [True, True]
    assert {r.provider_message_id for r in result.recipients} == {sent.id}
    assert "Queued" in (result.recipients[0].response or "")


def test_mailgun_error_answers_are_mapped_in_one_place(mailgun_double: MailgunDouble) -> None:
    bad = run(_deliver(mailgun(mailgun_double, api_key="key-wrong")))
    assert all(r.permanent and not r.accepted for r in bad.recipients)
    assert "credentials" in bad.recipients[0].text and bad.recipients[0].code == 401
    mailgun_double.fail(400, {"message": "to parameter is not a valid address"})
    refused = run(_deliver(mailgun(mailgun_double)))
    assert refused.recipients[0].permanent
    assert "not a valid address" in refused.recipients[0].text
    # 429 with Retry-After, then 503: retried within the delivery, then sent.
    mailgun_double.fail(429, {"message": "slow down"}, {"Retry-After": "0"})
    mailgun_double.fail(503, "busy")
    ok = run(_deliver(mailgun(mailgun_double)))
    assert ok.recipients[0].accepted and len(mailgun_double.sent) == 1
    # Still failing after the bounded retries: transient, the queue tries later.
    for _ in range(3):
        mailgun_double.fail(500, {"message": "internal"})
    later = run(_deliver(mailgun(mailgun_double)))
    assert not later.recipients[0].accepted and not later.recipients[0].permanent
    # A Retry-After longer than we wait here: one try, transient, the wait named.
    mailgun_double.fail(429, {"message": "quota"}, {"Retry-After": "3600"})
    held = run(_deliver(mailgun(mailgun_double)))
    assert not held.recipients[0].permanent and "retry after 3600" in held.recipients[0].text


def test_mailgun_domain_state_and_check(mailgun_double: MailgunDouble) -> None:
    mailgun_double.domains["mg.ppmessage.example"] = "unverified"

    async def go() -> Any:
        t = mailgun(mailgun_double)
        try:
            return await t.account(), await t.check()
        finally:
            await t.close()

    state, check = run(go())
    assert state["domain_state"] == "unverified"
    assert check.ok and "unverified" in check.message
    bad = run(_check(mailgun(mailgun_double, api_key="nope")))
    assert not bad.ok and bad.stage == "auth"


async def _check(t: Any) -> Any:
    try:
        return await t.check()
    finally:
        await t.close()


def test_sendcloud_picks_the_api_user_by_category(sendcloud_double: SendCloudDouble) -> None:
    run(_deliver(sendcloud(sendcloud_double)))
    bulk = Envelope(ENV.mail_from, ENV.recipients, "bulk")
    result = run(_deliver(sendcloud(sendcloud_double), bulk))
    users = [s.api_user for s in sendcloud_double.sent]
    assert users == ["fxiaoke_trigger", "fxiaoke_batch"]
    first = sendcloud_double.sent[0]
    assert first.to == list(ENV.recipients)
    assert first.fields["from"] == "support@mg.ppmessage.example"
    assert first.fields["fromName"] == "PPMessage Support"
    assert first.fields["replyTo"] == "help@mg.ppmessage.example"
    assert "We fixed it." in first.fields["plain"] and "<p>" in first.fields["html"]
    assert "t41.reply@mg.ppmessage.example" in first.fields["headers"]
    ids = [r.provider_message_id for r in result.recipients]
    assert ids == sendcloud_double.sent[1].email_ids  # per recipient, in envelope order


def test_sendcloud_refusals(sendcloud_double: SendCloudDouble) -> None:
    bad = run(_deliver(sendcloud(sendcloud_double, api_key="wrong")))
    assert bad.recipients[0].permanent and "API_USER/API_KEY" in bad.recipients[0].text
    sendcloud_double.fail(502, "bad gateway")
    sendcloud_double.fail(502, "bad gateway")
    sendcloud_double.fail(502, "bad gateway")
    later = run(_deliver(sendcloud(sendcloud_double)))
    assert not later.recipients[0].permanent and not later.recipients[0].accepted
    no_from = RAW.replace(b"From: PPMessage Support <support@mg.ppmessage.example>\r\n", b"")
    refused = run(_deliver(sendcloud(sendcloud_double), ENV, no_from))
    assert refused.recipients[0].permanent and "From" in refused.recipients[0].text


def test_sendcloud_quota_refusal_is_retried_later(sendcloud_double: SendCloudDouble) -> None:
    sendcloud_double.used_today = sendcloud_double.quota
    result = run(_deliver(sendcloud(sendcloud_double)))
    assert not result.recipients[0].accepted and not result.recipients[0].permanent
    assert "quota" in result.recipients[0].text


def test_sendcloud_account_quota_and_balance(sendcloud_double: SendCloudDouble) -> None:
    sendcloud_double.used_today = 2400

    async def go() -> Any:
        t = sendcloud(sendcloud_double)
        try:
            return await t.account()
        finally:
            await t.close()

    state = run(go())
    assert state["quota"] == {"daily": 2500, "used_today": 2400, "remaining": 100}
    assert state["balance"] == 10000


def test_config_validation_names_the_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        build_transport("mailgun", {"domain": "mg.example.com", "api_key": "k", "region": "asia"})
    assert exc.value.field == "config.region"
    with pytest.raises(InvalidInput) as exc:
        build_transport("mailgun", {"domain": "x", "api_key": "k", "base_url": "ftp://h"})
    assert exc.value.field == "config.domain"
    with pytest.raises(InvalidInput) as exc:
        build_transport(
            "mailgun",
            {"domain": "mg.example.com", "api_key": "k", "base_url": "https://u:p@h.example"},
        )
    assert exc.value.field == "config.base_url"
    with pytest.raises(InvalidInput) as exc:
        build_transport("sendcloud", {"api_user": "u", "api_key": "k", "bulk_api_user": "b"})
    assert exc.value.field == "config"
    assert secret_fields("mailgun") == {"api_key", "webhook_signing_key"}
    assert secret_fields("sendcloud") == {"api_key", "bulk_api_key", "app_key"}


def test_a_refused_base_url_fails_at_the_policy_stage(mailgun_double: MailgunDouble) -> None:
    """At connect time too: a workspace's transport may not reach loopback unless allowed."""
    config = {"domain": "mg.ppmessage.example", "api_key": "k", "base_url": mailgun_double.url}
    t = build_transport("mailgun", config, guard=NetGuard())
    result = run(_deliver(t))
    assert result.recipients[0].text.startswith("policy:") and not mailgun_double.sent
    assert run(_check(build_transport("mailgun", config, guard=NetGuard()))).stage == "policy"


def test_retry_after_and_status_mapping() -> None:
    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0) == 0.0
    assert retry_after("soon") is None
    assert map_status(403, "no")[0] and map_status(400, "bad")[0]
    assert not map_status(429, "")[0] and not map_status(502, "")[0]


def test_sendcloud_keeps_attachments(sendcloud_double: SendCloudDouble) -> None:
    msg = email.message_from_bytes(RAW, policy=email.policy.default)
    msg.make_mixed()  # type: ignore[attr-defined]
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",  # type: ignore[attr-defined]
                       filename="invoice.pdf")
    run(_deliver(sendcloud(sendcloud_double), ENV, msg.as_bytes()))
    assert sendcloud_double.sent[0].files == ["invoice.pdf"]
