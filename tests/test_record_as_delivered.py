"""A batch's results are committed as they come, not after its slowest delivery.

A worker killed halfway through a batch repeats what it had delivered but not yet
recorded (issue 12: at most one duplicate per kill). Here one message of a batch
waits on a server that holds its final reply; the other message's result must be
in the database while that one is still in flight.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mailgate.runtime import build
from mailgate.runtime.worker import Worker
from mailgate.services import messages as msvc
from mailgate.services import tenancy
from mailgate.services import transports as tsvc
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport
from tests.servers.faultpeer import FaultPeer
from tests.servers.mailgate import make_settings


def test_a_fast_result_is_committed_while_a_slow_one_is_in_flight(tmp_path: Path) -> None:
    app = build(make_settings(tmp_path, f"sqlite:///{tmp_path}/m.db"))
    peer = FaultPeer().start()
    peer.hold_seconds = 60  # released by stopping the peer, not by a clock
    try:
        with ScriptedSMTPServer() as fast:
            asyncio.run(_run(app, peer, fast))
    finally:
        app.dispose()


async def _run(app, peer: FaultPeer, fast: ScriptedSMTPServer) -> None:  # type: ignore[no-untyped-def]
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.create_workspace(session, "acme")
            quick = tsvc.create(session, app.secrets, ws.id, smtp_transport(fast.port))
            slow = tsvc.create(
                session,
                app.secrets,
                ws.id,
                smtp_transport(peer.port, name="slow", default=False, config={"timeout": 60}),
            )
            quick_id, slow_id = quick.id, slow.id
        requests = [
            msvc.SendRequest(to=["a@example.net"], text="slow", transport=slow_id),
            msvc.SendRequest(to=["b@example.net"], text="fast", transport=quick_id),
        ]
        held, sent = await msvc.accept(app, ws, requests)
        peer.reset("hold_reply")
        batch = asyncio.create_task(Worker(app).run_once())

        def status(pk: str) -> str:
            with app.sessions() as session:
                return session.get_one(MessageRow, pk).status

        for _ in range(500):  # until the fast result is committed (or the batch ends)
            if status(sent.id) == "sent" or batch.done():
                break
            await asyncio.sleep(0.02)
        assert status(sent.id) == "sent"
        assert not batch.done() and status(held.id) == "sending"  # still in flight
        await asyncio.to_thread(peer.stop)  # the held connection drops
        assert await batch == 2
        assert status(held.id) == "deferred"
    finally:
        await app.aclose()
