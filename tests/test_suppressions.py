"""The suppression list: filled by bounces, managed by the business app, respected by sending."""

from __future__ import annotations

from sqlalchemy import update

from mailgate.inbound.pipeline import Incoming, receive
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow
from tests.helpers import wait_for
from tests.servers.mailgate import Server


def capture(c) -> None:  # type: ignore[no-untyped-def]
    c.post(
        "/v1/transports",
        json={
            "name": "cap",
            "kind": "capture",
            "default": True,
            "mode": "immediate",
            "sender": "noreply@acme.example.com",
        },
    )


def test_manual_suppression_blocks_and_lifting_it_unblocks(server: Server) -> None:
    """An address added by hand is skipped; deleting the entry lets mail through again."""
    with server.client() as c:
        capture(c)
        r = c.post("/v1/suppressions", json={"address": "Gone@Example.net"})
        assert r.status_code == 201 and r.json()["reason"] == "manual"
        assert c.post("/v1/suppressions", json={"address": "gone@example.net"}).status_code == 409
        sent = c.post("/v1/messages", json={"to": ["gone@example.net"], "text": "x"}).json()
        assert sent["recipients"][0]["status"] == "suppressed"
        assert sent["status"] == "failed"
        assert [s["address"] for s in c.get("/v1/suppressions").json()["items"]] == [
            "gone@example.net"
        ]
        assert c.delete("/v1/suppressions/gone@example.net").status_code == 204
        assert c.delete("/v1/suppressions/gone@example.net").status_code == 404
        again = c.post("/v1/messages", json={"to": ["gone@example.net"], "text": "x"}).json()
        assert again["status"] == "sent"


def test_suppressions_are_per_workspace(server: Server) -> None:
    """Another workspace neither sees nor is bound by this one's list."""
    _, other = server.new_workspace("globex")
    with server.client() as c:
        c.post("/v1/suppressions", json={"address": "x@example.net"})
    with server.client(other) as o:
        capture(o)
        assert o.get("/v1/suppressions").json()["items"] == []
        assert o.delete("/v1/suppressions/x@example.net").status_code == 404
        sent = o.post("/v1/messages", json={"to": ["x@example.net"], "text": "x"}).json()
        assert sent["status"] == "sent"


def test_dead_letter_is_reprocessed(server: Server) -> None:
    """A dead-lettered inbound message runs through the pipeline again on request."""
    raw = b"From: a@example.net\r\nTo: support@acme.example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    [got] = receive(server.app, [Incoming(server.workspace_id, raw, "api")])
    with server.client() as c:
        wait_for(
            lambda: c.get(f"/v1/messages/{got.id}").json()["status"] == "processed",
            what="processing",
        )
        assert c.post(f"/v1/messages/{got.id}/reprocess").status_code == 409
        with transaction(server.app.sessions) as session:
            session.execute(update(MessageRow).where(MessageRow.id == got.id).values(status="dead"))
        r = c.post(f"/v1/messages/{got.id}/reprocess")
        assert r.status_code == 200 and r.json()["status"] == "processed"
