"""The delivery window: what one SIGKILL can send twice is bounded per worker process.

A message between the start of its delivery and the commit of its result is the
only kind a crash repeats (docs/queue.md, "Crashes"). The worker's recorder lets at
most ``delivery_window`` messages be there at once, across all its lanes: when the
database is slow to commit, delivery waits for it instead of piling up results.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mailgate.outbound.base import DeliveryResult, Envelope
from mailgate.outbound.smtp import SmtpTransport
from mailgate.queue import delivery
from mailgate.runtime import Mailgate, build
from mailgate.runtime.worker import Worker
from mailgate.services import messages as msvc
from mailgate.services import tenancy
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport
from tests.servers.mailgate import make_settings

COUNT = 24


class Watch:
    """Counts deliveries started and results committed; keeps the largest gap."""

    def __init__(self) -> None:
        self.started = 0
        self.committed = 0
        self.widest = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        deliver, record = SmtpTransport.deliver, delivery.record

        async def counted_deliver(transport: SmtpTransport, env: Envelope, raw: bytes) -> Any:
            self.started += 1
            self.widest = max(self.widest, self.started - self.committed)
            result: DeliveryResult = await deliver(transport, env, raw)
            return result

        def counted_record(app: Any, outcomes: list[Any]) -> dict[str, str]:
            statuses = record(app, outcomes)
            self.committed += len(outcomes)  # the commit is done when record returns
            return statuses

        monkeypatch.setattr(SmtpTransport, "deliver", counted_deliver)
        monkeypatch.setattr(delivery, "record", counted_record)


def _run(tmp_path: Path, window: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Watch, int]:
    app = build(make_settings(tmp_path, f"sqlite:///{tmp_path}/m.db", delivery_window=window))
    watch = Watch()
    watch.install(monkeypatch)
    try:
        with ScriptedSMTPServer() as server:
            sent = asyncio.run(_deliver_all(app, server.port))
    finally:
        app.dispose()
    return watch, sent


async def _deliver_all(app: Mailgate, port: int) -> int:
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            tsvc.create(
                session, app.secrets, ws.id, smtp_transport(port, config={"max_connections": 8})
            )
        requests = [
            msvc.SendRequest(to=[f"u{i}@example.net"], subject=f"w{i}", text="x")
            for i in range(COUNT)
        ]
        await msvc.accept(app, ws, requests)
        worker = Worker(app)
        # Two lanes at once, as `serve` runs them: the window is the process's, not a lane's.
        app.settings.worker_batch = COUNT // 2
        handled = await asyncio.gather(worker.run_once(), worker.run_once())
        window = worker.recorder.window()
        assert window is None or window._value == app.settings.delivery_window  # all given back
        return sum(handled)
    finally:
        await app.aclose()


def test_no_more_than_the_window_is_delivered_ahead_of_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch, handled = _run(tmp_path, 2, monkeypatch)
    assert handled == COUNT and watch.committed == COUNT  # every result recorded
    assert watch.widest <= 2


def test_without_a_window_deliveries_run_ahead_of_their_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: eight connections start eight deliveries before any commit."""
    watch, handled = _run(tmp_path, 0, monkeypatch)
    assert handled == COUNT and watch.committed == COUNT
    assert watch.widest > 2


def test_a_failed_commit_gives_its_places_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that fails (database away) ends the batch with the error; the window
    is whole again, so the lanes go on once the database is back."""
    app = build(make_settings(tmp_path, f"sqlite:///{tmp_path}/m.db", delivery_window=3))
    record = delivery.record
    failures = iter([True])

    def flaky(app: Any, outcomes: list[Any]) -> dict[str, str]:
        if next(failures, False):
            raise RuntimeError("database away")
        return record(app, outcomes)

    monkeypatch.setattr(delivery, "record", flaky)
    try:
        with ScriptedSMTPServer() as server:
            asyncio.run(_fail_once(app, server.port))
    finally:
        app.dispose()


async def _fail_once(app: Mailgate, port: int) -> None:
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            tsvc.create(session, app.secrets, ws.id, smtp_transport(port))
        requests = [msvc.SendRequest(to=[f"u{i}@example.net"], text="x") for i in range(6)]
        await msvc.accept(app, ws, requests)
        worker = Worker(app)
        with pytest.raises(RuntimeError, match="database away"):
            await worker.run_once()
        window = worker.recorder.window()
        assert window is not None and window._value == 3
    finally:
        await app.aclose()


def test_a_worker_whose_lease_may_have_run_out_does_not_send(tmp_path: Path) -> None:
    """The second copy that needs no crash: a live worker whose renewals stalled past
    its lease while another claimed the message. It must not start that delivery."""
    app = build(make_settings(tmp_path, f"sqlite:///{tmp_path}/m.db", lease_seconds=30))
    try:
        with ScriptedSMTPServer() as server:
            asyncio.run(_stalled(app, server))
    finally:
        app.dispose()


async def _stalled(app: Mailgate, server: ScriptedSMTPServer) -> None:
    from mailgate.queue import lease
    from mailgate.store.models import MessageRow

    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            tsvc.create(session, app.secrets, ws.id, smtp_transport(server.port))
        requests = [msvc.SendRequest(to=[f"u{i}@example.net"], text="x") for i in range(2)]
        kept, lost = await msvc.accept(app, ws, requests)
        claimed = delivery.claim_batch(app, lease.new_owner("out"), 10)
        # Claimed a whole lease ago, never renewed since: it may be someone else's now.
        stale = delivery.heartbeat(app, claimed, claimed_at=lease.Fence.clock() - 30)
        assert not stale.holds(kept.id)
        await asyncio.to_thread(stale.renew_now)  # a renewal goes through: ours again
        assert stale.holds(kept.id)
        stale.ids.discard(lost.id)  # the renewal found another owner on this one

        await delivery.deliver_and_record(app, claimed, holds=stale.holds)
        assert [m.rcpt_tos for m in server.messages] == [["u0@example.net"]]
        with app.sessions() as session:
            assert session.get_one(MessageRow, kept.id).status == "sent"
            assert session.get_one(MessageRow, lost.id).status == "sending"  # untouched
    finally:
        await app.aclose()
