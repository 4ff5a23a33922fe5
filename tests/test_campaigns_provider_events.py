"""Provider events about campaign mail reach the campaign recipient (SendCloud double).

Campaign mail has no ``messages`` row: the dispatch lane keeps, per recipient, the
transport it went out through and the provider's id, and ``events/providers.py``
finds the recipient by them, only through that transport and only at that address.
A proven hard bounce or complaint also counts for the transport's warm-up plan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mailgate.core.limits import window
from mailgate.inbound.pipeline import Incoming, receive
from mailgate.store import counters
from mailgate.store.models import Campaign, CampaignRecipient, Suppression, Workspace, utcnow
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server
from tests.servers.sendcloud_double import SendCloudDouble
from tests.servers.smtpsink import SmtpSink
from tests.test_campaigns import _bounce, campaign, upload
from tests.test_providers_e2e import made, sendcloud_config

PEOPLE = ("li", "wang", "zhao", "chen")


def _recipients(server: Server, cid: str) -> dict[str, CampaignRecipient]:
    with server.app.sessions() as s:
        rows = s.scalars(select(CampaignRecipient).where(CampaignRecipient.campaign_id == cid))
        return {r.email.split("@")[0]: r for r in rows}


def _warmup_figures(server: Server, cid: str, transport_id: str) -> list[int]:
    """Today's proven bounces and complaints counted for the transport's warm-up plan."""
    with server.app.sessions() as s:
        tz = s.scalar(
            select(Workspace.timezone).join(Campaign, Campaign.workspace_id == Workspace.id)
            .where(Campaign.id == cid)
        )
        start = window("day", utcnow(), tz or "UTC").start
        keys = [(f"{k}:transport:{transport_id}", "day", start) for k in ("bounced", "complained")]
        figures = counters.used(s, keys)
    return [figures.get(k[0], 0) for k in keys]


def test_a_campaign_bounce_counts_for_the_warmup(server: Server, smtp_sink: SmtpSink) -> None:
    """A DSN about campaign mail (inbound/campaign_feedback.py) counts for the warm-up
    plan of the transport the mail went out through."""
    with server.client() as c:
        tr = made(c.post("/v1/transports", json=smtp_transport(
            smtp_sink.port, warmup={"start": 100, "target": 1000})))
        cid = str(campaign(c)["id"])
        upload(c, cid, b"email,first,code\na@example.org,Ann,1\n")
        assert c.post(f"/v1/campaigns/{cid}/start").status_code == 200
        wait_for(lambda: c.get(f"/v1/campaigns/{cid}").json()["state"] == "done", what="sent")
        sent = _recipients(server, cid)["a"]
        assert sent.transport_id == tr["id"]
        [got] = receive(
            server.app, [Incoming(server.workspace_id, _bounce(sent.message_id), "api")]
        )
        wait_for(lambda: c.get(f"/v1/messages/{got.id}").json()["status"] == "processed")
        assert c.get(f"/v1/campaigns/{cid}").json()["counts"]["bounced"] == 1
    assert _warmup_figures(server, cid, tr["id"]) == [1, 0]


def test_provider_events_update_campaign_recipients(
    server: Server, sendcloud_double: SendCloudDouble
) -> None:
    double = sendcloud_double
    double.reset()
    with server.client() as c:
        tr = made(c.post("/v1/transports", json={
            "name": "sendcloud", "kind": "sendcloud", "default": True,
            "config": sendcloud_config(double)}))
        made(c.patch(f"/v1/transports/{tr['id']}", json={
            "warmup": {"start": 100, "target": 1000}}), 200)
        other = made(c.post("/v1/transports", json={
            "name": "sendcloud-2", "kind": "sendcloud", "config": sendcloud_config(double)}))
        cid = str(campaign(c)["id"])
        listing = "email,first,code\n" + "".join(
            f"{p}@client.example,{p},{n}\n" for n, p in enumerate(PEOPLE)
        )
        upload(c, cid, listing.encode())
        assert c.post(f"/v1/campaigns/{cid}/start").status_code == 200
        wait_for(
            lambda: c.get(f"/v1/campaigns/{cid}").json()["state"] == "done",
            what="the campaign sent",
        )
        rows = _recipients(server, cid)
        ids = {p: rows[p].provider_message_id for p in PEOPLE}
        assert set(ids.values()) == {i for s in double.sent for i in s.email_ids}
        assert {r.transport_id for r in rows.values()} == {tr["id"]}

        url = f"{server.url}/v1/transports/{tr['id']}/events"
        elsewhere = f"{server.url}/v1/transports/{other['id']}/events"

        def post(url: str, kind: str, who: str, address: str | None = None) -> dict[str, Any]:
            form = double.event_form(kind, ids[who], address or f"{who}@client.example")
            answer = double.post_event(url, form)
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

        # Refusals first: another transport, another address: nothing changes.
        assert post(elsewhere, "invalid", "li")["unmatched"] == 1
        assert post(url, "invalid", "li", "someone@client.example")["unmatched"] == 1
        assert {r.state for r in _recipients(server, cid).values()} == {"sent"}

        for kind, who in (
            ("invalid", "li"), ("report_spam", "wang"), ("unsubscribe", "zhao"), ("deliver", "chen")
        ):
            assert post(url, kind, who)["matched"] == 1, (kind, who)
        counts = c.get(f"/v1/campaigns/{cid}").json()["counts"]
        assert (counts["bounced"], counts["complained"], counts["unsubscribed"]) == (1, 1, 1)
        assert counts["sent"] == 1

    with server.app.sessions() as s:
        sups = {(x.address, x.reason, x.scope) for x in s.scalars(select(Suppression))}
    assert sups == {
        ("li@client.example", "hard_bounce", "all"),
        ("wang@client.example", "complaint", "all"),
        ("zhao@client.example", "unsubscribe", "bulk"),
    }
    assert _warmup_figures(server, cid, tr["id"]) == [1, 1]
