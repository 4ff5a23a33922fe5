"""Campaign dispatch with the real worker and smtp-sink: priority, pause, resume, failures."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from mailgate.campaigns import dispatch
from mailgate.store.models import CampaignRecipient
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server
from tests.servers.smtpsink import SmtpSink

N = 600


@pytest.fixture
def sqlite_only(store_url: str) -> None:
    """The dispatch race is the same on both stores; one is enough for the time budget."""
    if not store_url.startswith("sqlite"):
        pytest.skip("covered on SQLite; test_campaigns.py runs both stores")


def test_triggered_mail_overtakes_pause_resume_and_failures(
    sqlite_only: None, server: Server, smtp_sink: SmtpSink
) -> None:
    """A triggered message goes ahead of a running campaign; pause stops within a batch,
    resume finishes with every person sent once; a template failing for one fails one."""
    with server.client() as c:
        assert c.post("/v1/transports", json=smtp_transport(smtp_sink.port)).status_code == 201
        r = c.post(
            "/v1/campaigns",
            json={
                "name": "big",
                "from": "news@acme.example.com",
                "subject": "Hi {{ first }}",
                "text": "Code {{ code }}",
            },
        )
        cid = r.json()["id"]
        lines = [
            json.dumps({"email": f"p{i:05d}@example.org", "first": "P", "code": i})
            for i in range(N)
        ]
        lines.append(json.dumps({"email": "broken@example.org", "first": "B"}))  # no code
        r = c.post(
            f"/v1/campaigns/{cid}/recipients",
            content="\n".join(lines).encode(),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert r.json()["accepted"] == N + 1
        assert c.post(f"/v1/campaigns/{cid}/start").status_code == 200
        wait_for(lambda: c.get(f"/v1/campaigns/{cid}").json()["counts"]["sent"] > 0)
        r = c.post(
            "/v1/messages",
            json={"from": "app@acme.example.com", "to": ["vip@example.org"], "text": "reset"},
        )
        mid = r.json()["id"]
        wait_for(lambda: c.get(f"/v1/messages/{mid}").json()["status"] == "sent")
        counts = c.get(f"/v1/campaigns/{cid}").json()["counts"]
        assert counts["pending"] > 0, "the triggered message waited for the whole campaign"
        # Pause: at most the batches in flight (one per lane) are still sent.
        assert c.post(f"/v1/campaigns/{cid}/pause").json()["state"] == "paused"
        at_pause = c.get(f"/v1/campaigns/{cid}").json()["counts"]["sent"]
        wait_for(lambda: _quiet(server, cid))
        after = c.get(f"/v1/campaigns/{cid}").json()["counts"]["sent"]
        assert after - at_pause <= 2 * dispatch.BATCH
        assert c.post(f"/v1/campaigns/{cid}/resume").json()["state"] == "sending"
        done = wait_for(
            lambda: (d := c.get(f"/v1/campaigns/{cid}").json())["state"] == "done" and d,
            limit=60,
        )
        assert done["counts"]["sent"] == N and done["counts"]["failed"] == 1
    dumps = smtp_sink.messages(expect=N + 1, limit=20)
    people = [m.rcpt_tos[0] for m in dumps if m.rcpt_tos[0].startswith("p")]
    assert len(people) == N and len(set(people)) == N  # exactly once each


def _quiet(server: Server, cid: str) -> bool:
    """Nothing of the campaign is leased any more (the batches in flight are recorded)."""
    with server.app.sessions() as session:
        held = session.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == cid, CampaignRecipient.lease_owner.is_not(None))
        )
    return held == 0
