"""The lease queue: heartbeats keep slow work single, stale owners write nothing, dead letters.

On SQLite and PostgreSQL (``store_url``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mailgate.core.parse import ParsedMessage
from mailgate.inbound import processor
from mailgate.outbound.base import RecipientResult
from mailgate.queue import lease, outbox
from mailgate.queue.outbox import Outcome
from mailgate.runtime import Mailgate, build
from mailgate.runtime.worker import Worker
from mailgate.services import messages as msvc
from mailgate.services import tenancy
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.store.models import Attempt, Event, MessageRow, Recipient, Workspace
from mailgate.testing import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server, make_settings

RFC822 = {"Content-Type": "message/rfc822"}


def queue_one(app: Mailgate, port: int) -> tuple[Workspace, str]:
    """A workspace with an SMTP transport to 127.0.0.1:port and one queued message."""
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        tsvc.create(session, app.secrets, ws.id, smtp_transport(port))
    [answer] = asyncio.run(
        msvc.accept(app, ws, [msvc.SendRequest(to=["u@example.net"], subject="s", text="x")])
    )
    assert answer.id is not None
    return ws, answer.id


def test_stale_owner_record_changes_nothing(mailgate_app: Mailgate) -> None:
    """A lane whose lease ran out and was taken over records nothing; the new owner does."""
    app = mailgate_app
    _, mid = queue_one(app, 9)  # never connected to: the test records by hand
    with transaction(app.sessions) as session:
        [stale] = outbox.claim(session, "lane-a", limit=10, lease_seconds=-1)  # already over
    with transaction(app.sessions) as session:
        [fresh] = outbox.claim(session, "lane-b", limit=10, lease_seconds=60)
    assert (stale.id, fresh.id, stale.owner, fresh.owner) == (mid, mid, "lane-a", "lane-b")

    def accepted(c: outbox.Claimed) -> list[Outcome]:
        return [Outcome(c, [RecipientResult("u@example.net", True, 250, None, "ok")])]

    def state() -> tuple[Any, ...]:
        with app.sessions() as session:
            row = session.get_one(MessageRow, mid)
            return (
                row.status,
                row.lease_owner,
                row.attempts,
                session.scalar(select(func.count()).select_from(Attempt)),
                session.scalars(select(Recipient.status)).all(),
                session.scalar(select(func.count()).where(Event.type.like("message.%"))),
            )

    before = state()
    assert before[:2] == ("sending", "lane-b")
    with transaction(app.sessions) as session:
        answer = outbox.record(session, accepted(stale), retry_base=1, retry_cap=1)
    assert answer == {}
    assert state() == before
    with transaction(app.sessions) as session:
        assert outbox.record(session, accepted(fresh), retry_base=1, retry_cap=1) == {mid: "sent"}
    assert state()[:5] == ("sent", None, 1, 1, ["sent"])


def test_owner_checked_completion_and_release(mailgate_app: Mailgate) -> None:
    """lease.complete writes only for the owner; release gives rows back; renew skips others."""
    app = mailgate_app
    _, mid = queue_one(app, 9)
    with transaction(app.sessions) as session:
        outbox.claim(session, "me", limit=10, lease_seconds=60)
    with transaction(app.sessions) as session:
        assert lease.renew(session, MessageRow, "me", [mid], lease_seconds=60) == {mid}
        assert lease.renew(session, MessageRow, "other", [mid], lease_seconds=60) == set()
        assert not lease.complete(session, MessageRow, "other", mid, what="t", status="sent")
    with app.sessions() as session:
        assert session.get_one(MessageRow, mid).status == "sending"
    with transaction(app.sessions) as session:
        assert lease.release(session, MessageRow, "me", [mid], status="queued") == 1
    with app.sessions() as session:
        row = session.get_one(MessageRow, mid)
        assert (row.status, row.lease_owner, row.lease_until) == ("queued", None, None)


class Tarpit(ScriptedSMTPServer):
    """Holds every DATA for ``delay`` seconds before accepting; counts DATA commands."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.data_started = 0

    def _protocol(self) -> Any:
        smtp = super()._protocol()
        accept: Callable[..., Awaitable[str]] = smtp._handle_hooks["DATA"]

        async def slow(*args: Any) -> str:
            self.data_started += 1
            await asyncio.sleep(self.delay)
            return await accept(*args)

        smtp._handle_hooks["DATA"] = slow
        return smtp


@pytest.mark.slow
def test_tarpit_past_the_lease_is_delivered_once(store_url: str, tmp_path: Path) -> None:
    """DATA held for 2.5 leases while two workers of 3 lanes poll: one delivery, one attempt."""
    app = build(make_settings(tmp_path, store_url, lease_seconds=1.5))
    try:
        with Tarpit(delay=4.0) as tarpit:
            _, mid = queue_one(app, tarpit.port)

            def status() -> str:
                with app.sessions() as session:
                    return session.get_one(MessageRow, mid).status

            async def main() -> None:
                stop = asyncio.Event()
                workers = [Worker(app, lanes=3, idle_seconds=0.05) for _ in range(2)]
                runs = asyncio.gather(*(w.run(stop) for w in workers))
                try:
                    # Until sent, or until a second DATA shows the lease was lost.
                    while tarpit.data_started < 2 and await asyncio.to_thread(status) != "sent":
                        await asyncio.sleep(0.05)
                finally:
                    stop.set()
                    await runs
                    await app.aclose()

            asyncio.run(asyncio.wait_for(main(), 60))
            assert (tarpit.data_started, len(tarpit.messages)) == (1, 1)
        with app.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Attempt)) == 1
            assert session.get_one(MessageRow, mid).attempts == 1
    finally:
        app.dispose()


POISON = "please-fail-here"


def poison_parse(real: Callable[[bytes], ParsedMessage]) -> Callable[[bytes], ParsedMessage]:
    """The real parser, except that it raises on messages carrying ``POISON``."""

    def parse(raw: bytes) -> ParsedMessage:
        if POISON.encode() in raw:
            raise ValueError("the parser gave up on this one")
        return real(raw)

    return parse


def mail(n: int, subject: str) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@client.example.org>\r\n"
        "To: support@acme.example.com\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <dead-{n}@client.example.org>\r\n"
        "\r\n"
        "Hello.\r\n"
    ).encode()


def test_processing_failures_end_in_listed_dead_letters(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failing every attempt dead-letters a message; GET ?status=dead lists it, per workspace."""
    monkeypatch.setattr(processor, "parse_message", poison_parse(processor.parse_message))
    settings = server.app.settings
    settings.inbound_max_attempts = 3
    settings.inbound_retry_seconds = 0.05  # retries capped by retry_max_seconds (0.2 s) too
    other_ws, other_key = server.new_workspace("globex")
    with server.client() as client:
        ids = [
            client.post("/v1/inbound", content=mail(i, f"{POISON} {i}"), headers=RFC822).json()[
                "id"
            ]
            for i in (1, 2)
        ]
        fine = client.post("/v1/inbound", content=mail(3, "fine"), headers=RFC822).json()["id"]

        def dead() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = client.get("/v1/inbound?status=dead").json()["items"]
            return items if len(items) == 2 else None

        items = wait_for(dead, what="two dead letters")
        assert sorted(i["id"] for i in items) == sorted(ids)
        newest = items[0]
        assert newest["id"] == max(ids)
        assert newest["status"] == "dead"
        assert newest["attempts"] == 3
        assert newest["last_error"] == "ValueError: the parser gave up on this one"
        n = 1 if newest["id"] == ids[0] else 2
        assert (newest["from"], newest["subject"]) == (
            f"customer{n}@client.example.org",
            f"{POISON} {n}",
        )
        assert newest["received_at"]
        # paginated like other lists
        page = client.get("/v1/inbound", params={"status": "dead", "limit": 1}).json()
        assert [i["id"] for i in page["items"]] == [max(ids)] and page["next"]
        rest = client.get(
            "/v1/inbound", params={"status": "dead", "limit": 1, "before": page["next"]}
        ).json()
        assert ([i["id"] for i in rest["items"]], rest["next"]) == ([min(ids)], None)
        wait_for(
            lambda: fine
            in [i["id"] for i in client.get("/v1/inbound?status=processed").json()["items"]],
            what="the good message processed",
        )
        bad = client.get("/v1/inbound?status=bogus")
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
        monkeypatch.undo()  # the fix is deployed: reprocessing a dead letter routes it
        again = client.post(f"/v1/messages/{ids[0]}/reprocess")
        assert again.json()["status"] == "processed", again.text
        left = client.get("/v1/inbound?status=dead").json()["items"]
        assert [i["id"] for i in left] == [ids[1]]
    with server.client(other_key) as client:  # another workspace sees none of them
        assert client.get("/v1/inbound?status=dead").json() == {"items": [], "next": None}
    with server.app.sessions() as session:
        row = session.get_one(MessageRow, ids[1])
        assert (row.status, row.attempts, row.lease_owner) == ("dead", 3, None)
    assert other_ws != server.workspace_id
