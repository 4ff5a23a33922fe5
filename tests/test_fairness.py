"""Fair and bounded: one workspace's slow webhook host cannot slow another workspace.

Before each subsystem had its own thread pool, webhook DNS look-ups shared the
default executor with the send API, inbound processing and the outbox: a webhook
host whose DNS answered after seconds took another workspace's
``POST /v1/messages`` from 0.08 s to 8.5 s. Here a real name server on loopback
holds every answer for the slow host until the test releases it; while every
webhook thread waits on it, another workspace sends and receives. The proof is
by events, not by the clock: the other workspace's work completes while the
slow look-ups are still unanswered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailgate.events import webhooks
from mailgate.runtime import Mailgate, build
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow, WebhookDelivery
from tests.helpers import wait_for
from tests.servers.dns import DnsServer
from tests.servers.mailgate import Server, make_settings
from tests.servers.smtpsink import free_port
from tests.test_webhooks import Receiver, receiver

__all__ = ["receiver"]  # a fixture, imported to be used here

RAW = (
    b"From: customer@client.example.org\r\n"
    b"To: support@globex.example.com\r\n"
    b"Subject: still served\r\n"
    b"Message-ID: <fair-1@client.example.org>\r\n"
    b"\r\n"
    b"Hello while another workspace waits on DNS.\r\n"
)


@pytest.fixture
def mailgate_app(tmp_path: Path, dns_server: DnsServer) -> Iterator[Mailgate]:
    """The shared settings, with names resolved by the test's name server."""
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'mailgate.db'}", dns_resolver=dns_server.address
    )
    app = build(settings)
    try:
        yield app
    finally:
        app.dispose()


def test_slow_webhook_dns_does_not_slow_another_workspace(
    server: Server, dns_server: DnsServer
) -> None:
    """Every webhook thread waits on DNS, and workspace B still sends and receives."""
    threads = server.app.executors.webhooks._max_workers
    hosts = [f"slow{i}.hooks.test" for i in range(2 * threads)]
    hooks = [slow_webhook(server, dns_server, host) for host in hosts]
    dns_server.held.update(hosts)  # from now on their answers wait
    with transaction(server.app.sessions) as session:
        # One transaction: one claim takes them all, and every webhook thread looks up.
        for hook in hooks:
            webhooks.send_test(session, webhooks.get(session, server.workspace_id, hook))
    server.app.wake_workers()
    try:
        assert dns_server.wait_pending(threads), "the webhook look-ups never reached DNS"
        inbound_id = serve_workspace_b(server)

        def processed() -> bool:
            with server.app.sessions() as session:
                row = session.get(MessageRow, inbound_id)
                return row is not None and row.status in ("processed", "dead")

        wait_for(processed, what="workspace B's inbound mail to be processed")
        # Workspace A's look-ups are still unanswered and not one of its deliveries has
        # finished an attempt (a look-up that gave up would have recorded one): B's
        # work did not wait for them.
        assert dns_server.pending >= threads
        assert attempts_of(server, hooks) == [0] * len(hooks)
    finally:
        dns_server.release.set()


def test_one_slow_webhook_host_does_not_hold_the_other_webhooks(
    server: Server, dns_server: DnsServer, receiver: Receiver
) -> None:
    """Many deliveries to one slow host share one look-up: B's webhook is still delivered."""
    threads = server.app.executors.webhooks._max_workers
    hook = slow_webhook(server, dns_server, "slow.hooks.test")
    dns_server.held.add("slow.hooks.test")
    with transaction(server.app.sessions) as session:
        row = webhooks.get(session, server.workspace_id, hook)
        for _ in range(2 * threads):
            webhooks.send_test(session, row)
    server.app.wake_workers()
    try:
        assert dns_server.wait_pending(1), "the slow look-up never reached DNS"
        dns_server.records["fast.hooks.test"] = ["127.0.0.1"]
        _, key_b = server.new_workspace("globex")
        with server.client(key_b) as b:
            url = f"http://fast.hooks.test:{receiver.port}/hooks"
            r = b.post("/v1/webhooks", json={"url": url, "events": ["message.sent"]})
            assert r.status_code == 201, r.text
            assert b.post(f"/v1/webhooks/{r.json()['id']}/test").status_code < 300
        receiver.got(1)
        # Eight deliveries, one look-up in flight, none of them finished: B did not wait.
        assert dns_server.pending == 1
        assert attempts_of(server, [hook]) == [0] * (2 * threads)
    finally:
        dns_server.release.set()


def slow_webhook(server: Server, dns_server: DnsServer, host: str) -> str:
    """A webhook of the server's workspace to ``host`` (answered at once until held)."""
    dns_server.records[host] = ["127.0.0.1"]
    with server.client() as a:
        url = f"http://{host}:{free_port()}/hooks"
        r = a.post("/v1/webhooks", json={"url": url, "events": ["message.sent"]})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def attempts_of(server: Server, hooks: list[str]) -> list[int]:
    with server.app.sessions() as session:
        return list(
            session.scalars(
                select(WebhookDelivery.attempts).where(
                    WebhookDelivery.subscription_id.in_(hooks)
                )
            )
        )


def serve_workspace_b(server: Server) -> str:
    """Workspace B sends a message and uploads one; returns the upload's id."""
    _, key_b = server.new_workspace("globex")
    with server.client(key_b) as b:
        transport = {
            "name": "capture",
            "kind": "capture",
            "default": True,
            "mode": "immediate",
            "sender": "desk@globex.example.com",
        }
        assert b.post("/v1/transports", json=transport).status_code == 201
        sent = b.post("/v1/messages", json={"to": ["client@example.org"], "text": "hello"})
        assert sent.status_code in (200, 201, 202), sent.text
        uploaded = b.post("/v1/inbound", content=RAW, headers={"Content-Type": "message/rfc822"})
        assert uploaded.status_code == 202, uploaded.text
    return str(uploaded.json()["id"])
