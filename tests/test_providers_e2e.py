"""PPMessage's set-up (Mailgun) and Fxiaoke's (SendCloud), end to end through mailgate.

Real mailgate (HTTP API and worker) on both stores; the providers are the loopback
doubles in tests/servers/, which follow the published contracts
(tests/servers/PROVIDERS.md): mail goes out through them, their signed event
callbacks come back to ``/v1/transports/{id}/events``, a Mailgun route posts
inbound mail to ``/v1/inbound/{source_id}``.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx
from sqlalchemy import select

from mailgate.services.providers import refresh_all
from mailgate.store.models import (
    Attempt,
    Event,
    ProviderEvent,
    Recipient,
    Suppression,
)
from tests.servers.mailgate import Server
from tests.servers.mailgun_double import MailgunDouble
from tests.servers.sendcloud_double import SendCloudDouble

DOMAIN = "mg.ppmessage.example"
ROUTE_KEY = "route-signing-key-ppmessage"


def made(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def mailgun_transport(c: httpx.Client, double: MailgunDouble, **extra: Any) -> dict[str, Any]:
    config = {
        "domain": DOMAIN,
        "api_key": double.api_key,
        "base_url": double.url,
        "webhook_signing_key": double.signing_key,
    }
    body = {"name": "mailgun", "kind": "mailgun", "mode": "immediate", "default": True,
            "config": config, **extra}
    return made(c.post("/v1/transports", json=body))


def sendcloud_config(double: SendCloudDouble) -> dict[str, Any]:
    """Fxiaoke's binding: one API user for triggered mail and one for bulk mail."""
    return {
        "api_user": "fxiaoke_trigger",
        "api_key": double.users["fxiaoke_trigger"],
        "bulk_api_user": "fxiaoke_batch",
        "bulk_api_key": double.users["fxiaoke_batch"],
        "base_url": double.url,
        "app_key": double.app_key,
    }


def recipients(server: Server, message_id: str) -> dict[str, Recipient]:
    with server.app.sessions() as s:
        rows = s.scalars(select(Recipient).where(Recipient.message_pk == message_id)).all()
        return {r.address: r for r in rows}


def event_types(server: Server) -> list[str]:
    with server.app.sessions() as s:
        return list(s.scalars(select(Event.type).order_by(Event.created_at)))


def wait_for(check: Any, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def route_form(msg: dict[str, str], key: str = ROUTE_KEY) -> dict[str, str]:
    """A Mailgun route's parsed-form post (its Routes documentation), signed."""
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    mac = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    headers = [[k, v] for k, v in msg.items() if k != "body"]
    return {
        "recipient": msg["To"],
        "sender": msg["From"].rpartition("<")[2].rstrip(">"),
        "from": msg["From"],
        "subject": msg["Subject"],
        "body-plain": msg["body"],
        "message-headers": json.dumps(headers),
        "timestamp": timestamp,
        "token": token,
        "signature": mac,
    }


def test_ppmessage_mailgun(server: Server, mailgun_double: MailgunDouble) -> None:
    """Send through Mailgun, its signed events update the recipients, a route reply threads."""
    with server.client() as c:
        tr = mailgun_transport(c, mailgun_double)
        assert mailgun_double.api_key not in json.dumps(tr)  # write-only
        made(c.post("/v1/addresses", json={"address": f"support@{DOMAIN}"}))
        conv = made(
            c.post(
                "/v1/conversations",
                json={"to": ["ana@customer.example"], "subject": "Ticket 41", "text": "Fixed."},
            )
        )
        mid = conv["message"]["id"]
        assert conv["message"]["status"] == "sent"
        sent = made(
            c.post(
                "/v1/messages",
                json={"from": f"news@{DOMAIN}", "to": ["bo@customer.example",
                      "cy@customer.example"], "subject": "Release", "text": "v2"},
            ),
            200,
        )
        assert sent["status"] == "sent"
        # The MIME we composed went out as is: our Message-ID, one `to` per recipient.
        first, second = mailgun_double.sent
        assert first.to == ["ana@customer.example"]
        assert second.to == ["bo@customer.example", "cy@customer.example"]
        assert b"Subject: Release" in second.mime
        rec = recipients(server, sent["id"])
        assert {r.provider_message_id for r in rec.values()} == {second.id}
        with server.app.sessions() as s:
            attempt = s.scalars(select(Attempt).where(Attempt.recipient_id == rec[
                "bo@customer.example"].id)).one()
            assert attempt.provider_message_id == second.id
            assert "Queued" in (attempt.provider_response or "")

        # The check reads the domain's state; GET shows it with the absolute events URL.
        mailgun_double.domains[DOMAIN] = "unverified"
        check = made(c.post(f"/v1/transports/{tr['id']}/check"), 200)
        assert check["ok"] and "unverified" in check["message"]
        shown = made(c.get(f"/v1/transports/{tr['id']}"), 200)
        assert shown["provider_state"]["domain_state"] == "unverified"
        events_url = shown["events_url"]
        assert events_url.startswith("http") and events_url.endswith(
            f"/v1/transports/{tr['id']}/events")
        url = f"{server.url}/v1/transports/{tr['id']}/events"

        # delivered and bounced come back signed and update the recipients.
        ok = mailgun_double.post_event(
            url, mailgun_double.event_body("delivered", second.id, "bo@customer.example"))
        assert ok.json() == {"matched": 1, "unmatched": 0, "ignored": 0}
        # An event naming the message by our own Message-ID (kept in the MIME) matches too.
        ours = email.message_from_bytes(second.mime)["Message-ID"].strip("<>")
        opened = mailgun_double.event_body("opened", ours, "bo@customer.example")
        assert mailgun_double.post_event(url, opened).json()["matched"] == 1
        bounce = mailgun_double.event_body(
            "failed", second.id, "cy@customer.example", severity="permanent", code=550)
        assert mailgun_double.post_event(url, bounce).status_code == 200
        rec = recipients(server, sent["id"])
        assert rec["bo@customer.example"].provider_status == "opened"
        detail_view = made(c.get(f"/v1/messages/{sent['id']}"), 200)["recipients"]
        bo = next(r for r in detail_view if r["address"] == "bo@customer.example")
        assert bo["provider_status"] == "opened" and bo["provider_message_id"] == second.id
        assert bo["attempts"][0]["provider_message_id"] == second.id
        assert rec["cy@customer.example"].status == "bounced"
        assert "550" in (rec["cy@customer.example"].text or "")
        with server.app.sessions() as s:
            sup = s.scalars(select(Suppression)).one()
        assert (sup.address, sup.reason, sup.scope) == ("cy@customer.example", "hard_bounce", "all")
        assert {"message.delivered", "message.bounced"} <= set(event_types(server))

        # Refusals: replay, bad signature, stale timestamp; nothing changes.
        assert mailgun_double.post_event(url, bounce).status_code == 406
        forged = mailgun_double.event_body(
            "complained", second.id, "bo@customer.example", key="not-the-key")
        assert mailgun_double.post_event(url, forged).status_code == 406
        stale = mailgun_double.event_body("complained", second.id, "bo@customer.example",
                                          age=3600)
        assert mailgun_double.post_event(url, stale).status_code == 406
        # An id we never sent, and a recipient the message never had: recorded, no effect.
        stranger = mailgun_double.event_body("complained", "nope@mg", "bo@customer.example")
        assert mailgun_double.post_event(url, stranger).json()["unmatched"] == 1
        wrong = mailgun_double.event_body("complained", second.id, "eve@evil.example")
        assert mailgun_double.post_event(url, wrong).json()["unmatched"] == 1
        with server.app.sessions() as s:
            assert len(s.scalars(select(Suppression)).all()) == 1  # still only the bounce
            reasons = [e.reason for e in s.scalars(
                select(ProviderEvent).where(ProviderEvent.matched.is_(False)))]
        assert any("no message sent through this transport" in (r or "") for r in reasons)
        assert any("was not a recipient" in (r or "") for r in reasons)
        assert "provider_event.unmatched" in event_types(server)

        # The customer answers through a Mailgun route, at the one push URL: it threads.
        src = made(c.post("/v1/sources", json={"name": "mg route", "kind": "mailgun",
                                               "config": {"signing_key": ROUTE_KEY}}))
        assert src["push_path"] == f"/v1/inbound/{src['id']}"
        assert src["push_url"].startswith("http") and src["push_url"].endswith(src["push_path"])
        detail = made(c.get(f"/v1/conversations/{conv['id']}"), 200)
        our_id = detail["messages"][0]["message_id"]
        reply = route_form({
            "From": "Ana <ana@customer.example>",
            "To": f"support@{DOMAIN}",
            "Subject": "Re: Ticket 41",
            "Message-Id": "<ana-reply-1@customer.example>",
            "In-Reply-To": our_id,
            "References": our_id,
            "body": "Thanks, it works now.\n",
        })
        with httpx.Client(base_url=server.url, timeout=30) as anon:
            assert anon.post(src["push_path"], data=reply).status_code == 200
            assert anon.post(src["push_path"], data=reply).status_code == 406  # replay

        def threaded() -> bool:
            got = c.get(f"/v1/conversations/{conv['id']}").json()
            return len(got["messages"]) == 2
        assert wait_for(threaded)
    assert mid


def test_fxiaoke_sendcloud(server: Server, sendcloud_double: SendCloudDouble) -> None:
    """Two API users by category, the account quota held as quota_exceeded, events."""
    double = sendcloud_double
    config = sendcloud_config(double)
    with server.client() as c:
        tr = made(c.post("/v1/transports", json={
            "name": "sendcloud", "kind": "sendcloud", "mode": "immediate", "default": True,
            "config": config}))
        assert double.users["fxiaoke_batch"] not in json.dumps(tr)
        one = made(c.post("/v1/messages", json={
            "from": "crm@fxiaoke.example", "to": ["li@client.example"],
            "subject": "Your code", "text": "4711"}), 200)
        bulk = made(c.post("/v1/messages", json={
            "from": "news@fxiaoke.example", "to": ["wang@client.example"],
            "subject": "Spring offers", "html": "<p>Offers</p>", "category": "bulk"}), 200)
        assert one["status"] == bulk["status"] == "sent"
        assert [s.api_user for s in double.sent] == ["fxiaoke_trigger", "fxiaoke_batch"]
        email_id = double.sent[0].email_ids[0]
        assert recipients(server, one["id"])["li@client.example"].provider_message_id == email_id

        # The account API: daily quota and balance, shown and fed to the quota logic.
        double.quota, double.used_today = 10, 9
        check = made(c.post(f"/v1/transports/{tr['id']}/check"), 200)
        assert check["ok"], check
        shown = made(c.get(f"/v1/transports/{tr['id']}"), 200)
        assert shown["provider_state"]["quota"]["remaining"] == 1
        assert shown["provider_state"]["balance"] == double.balance
        answers = [
            made(c.post("/v1/messages", json={
                "from": "crm@fxiaoke.example", "to": [f"u{n}@client.example"],
                "subject": "Notice", "text": "hello"}), 200)["status"]
            for n in range(2)
        ]
        assert answers == ["sent", "held"]
        assert len(double.sent) == 3
        held = made(c.get("/v1/messages", params={"status": "held"}), 200)["items"]
        assert len(held) == 1
        # The worker re-reads the account (services/providers.py): a top-up shows.
        double.quota = 5000
        assert server.run(refresh_all(server.app)) == 1
        shown = made(c.get(f"/v1/transports/{tr['id']}"), 200)
        assert shown["provider_state"]["quota"]["remaining"] == 5000 - double.used_today

        # Events: delivered, invalid (hard bounce), report_spam; a stranger's emailId.
        url = f"{server.url}/v1/transports/{tr['id']}/events"
        assert double.post_event(url, double.event_form(
            "deliver", email_id, "li@client.example")).json()["matched"] == 1
        spam_id = double.sent[1].email_ids[0]
        assert double.post_event(url, double.event_form(
            "report_spam", spam_id, "wang@client.example")).json()["matched"] == 1
        bad = double.event_form("invalid", "1_2_3.sc-other0$x@client.example", "x@client.example")
        assert double.post_event(url, bad).json()["unmatched"] == 1
        forged = double.event_form("invalid", email_id, "li@client.example", key="guess")
        assert double.post_event(url, forged).status_code == 406
        assert recipients(server, one["id"])["li@client.example"].provider_status == "delivered"
        with server.app.sessions() as s:
            sups = {(x.address, x.reason) for x in s.scalars(select(Suppression))}
        assert sups == {("wang@client.example", "complaint")}


def test_refusals_across_tenants_and_networks(
    server: Server, mailgun_double: MailgunDouble
) -> None:
    """A private base_url needs an operator; another workspace's provider id is a stranger."""
    other_ws, other_key = server.new_workspace("rival")
    del other_ws
    with server.client() as c:
        body = {"name": "mg", "kind": "mailgun", "config": {
            "domain": DOMAIN, "api_key": "k", "base_url": "http://10.20.30.40"}}
        r = c.post("/v1/transports", json=body)
        assert r.status_code == 403 and r.json()["error"]["field"] == "config.base_url"
        with server.operator_client() as op:
            approved = made(op.post("/v1/transports", json=body))
        assert approved["private_network"] is True
        # The workspace changes the URL: the operator's approval is gone, the policy applies.
        patched = c.patch(f"/v1/transports/{approved['id']}",
                          json={"config": {"base_url": "http://10.20.30.41"}})
        assert patched.status_code == 403
        mine = mailgun_transport(c, mailgun_double)
    with server.client(other_key) as rival:
        theirs = mailgun_transport(rival, mailgun_double)
        sent = made(rival.post("/v1/messages", json={
            "from": f"x@{DOMAIN}", "to": ["zed@customer.example"], "text": "t"}), 200)
        assert sent["status"] == "sent"
    their_id = mailgun_double.sent[-1].id
    # Their provider id posted to our transport's endpoint: not ours, nothing changes.
    url = f"{server.url}/v1/transports/{mine['id']}/events"
    body2 = mailgun_double.event_body("failed", their_id, "zed@customer.example",
                                      severity="permanent")
    assert mailgun_double.post_event(url, body2).json() == {
        "matched": 0, "unmatched": 1, "ignored": 0}
    assert recipients(server, sent["id"])["zed@customer.example"].status == "sent"
    # Unknown transport, a transport that is no provider: 406, nothing stored.
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        assert anon.post("/v1/transports/tr_nope/events", json={}).status_code == 406
        assert anon.post(f"/v1/inbound/{theirs['id']}", data={"a": "b"}).status_code == 406
        # A disabled push source answers 503 at the one push URL: Mailgun keeps the mail.
        with server.client() as c:
            src = made(c.post("/v1/sources", json={
                "name": "r", "kind": "mailgun", "enabled": False,
                "config": {"signing_key": ROUTE_KEY}}))
        form = route_form({"From": "a@customer.example", "To": f"support@{DOMAIN}",
                           "Subject": "hi", "body": "x"})
        assert anon.post(src["push_path"], data=form).status_code == 503


def test_a_campaign_goes_through_the_bulk_api_user(
    server: Server, sendcloud_double: SendCloudDouble
) -> None:
    """Fxiaoke's marketing channel: campaign mail uses the binding's bulk API user."""
    from tests.helpers import wait_for
    from tests.test_campaigns import campaign, upload

    double = sendcloud_double
    double.reset()
    config = sendcloud_config(double)
    with server.client() as c:
        made(c.post("/v1/transports", json={
            "name": "sendcloud", "kind": "sendcloud", "default": True, "config": config}))
        cid = campaign(c)["id"]
        upload(c, cid, b"email,first,code\nli@client.example,Li,1\nwang@client.example,Wang,2\n")
        assert c.post(f"/v1/campaigns/{cid}/start").status_code == 200
        wait_for(lambda: len(double.sent) == 2, what="both campaign messages at SendCloud")
    assert {s.api_user for s in double.sent} == {"fxiaoke_batch"}
