"""``Worker.drain()`` (and so ``mailgate worker --once``) runs the campaign lanes too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mailgate.runtime import build
from mailgate.runtime.worker import Worker
from mailgate.services import campaigns as svc
from mailgate.store.db import transaction
from tests.servers.mailgate import make_settings
from tests.servers.smtpsink import SmtpSink
from tests.test_quotas import _closing, _setup


def test_drain_sends_a_started_campaign(
    store_url: str, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    app = build(make_settings(tmp_path, store_url))

    async def main() -> None:
        ws, _ = _setup(app, smtp_sink.port)
        with transaction(app.sessions) as session:
            cid = svc.create(session, ws, svc.CampaignRequest(
                name="drained", from_="news@acme.example.com", subject="Hi {{ first }}",
                text="Hello {{ first }}\n",
            )).id
        listing = b"email,first\n" + b"".join(b"p%d@example.net,P%d\n" % (n, n) for n in range(5))
        report = svc.upload_recipients(app, ws.id, cid, "text/csv", [listing])
        assert report.accepted == 5
        with transaction(app.sessions) as session:
            svc.act(session, ws.id, cid, "start")
        await Worker(app).drain()
        with app.sessions() as session:
            shown = svc.public(session, svc.get(session, ws.id, cid))
        assert shown["state"] == "done" and shown["counts"]["sent"] == 5, shown
        smtp_sink.messages(expect=5)

    try:
        asyncio.run(_closing(app, main()))
    finally:
        app.dispose()
