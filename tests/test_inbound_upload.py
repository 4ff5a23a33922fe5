"""``POST /v1/inbound`` against the real mailgate HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from mailgate.store.models import MessageRow
from tests.servers.mailgate import Server

RAW = (
    b"From: customer@client.example.org\r\n"
    b"To: support@acme.example.com\r\n"
    b"Subject: uploaded\r\n"
    b"Message-ID: <upload-1@client.example.org>\r\n"
    b"\r\n"
    b"Hello.\r\n"
)
RFC822 = {"Content-Type": "message/rfc822"}


def test_upload_stored_before_202(server: Server) -> None:
    """The bytes and the row are committed, in the key's workspace, when 202 arrives."""
    with server.client() as client:
        r = client.post("/v1/inbound", content=RAW, headers=RFC822)
    assert r.status_code == 202
    msg_id = r.json()["id"]
    with server.app.sessions() as session:
        row = session.get(MessageRow, msg_id)
        assert row is not None
        assert (row.direction, row.source, row.workspace_id) == ("in", "api", server.workspace_id)
        assert server.app.blobs.get(session, row.blob_key) == RAW


def test_upload_goes_to_the_keys_workspace(server: Server) -> None:
    """Another key's upload lands in that key's workspace only."""
    other_ws, other_key = server.new_workspace("globex")
    with server.client(other_key) as client:
        r = client.post("/v1/inbound", content=RAW, headers=RFC822)
    assert r.status_code == 202
    with server.app.sessions() as session:
        rows = session.scalars(select(MessageRow).where(MessageRow.direction == "in")).all()
    assert [(row.id, row.workspace_id) for row in rows] == [(r.json()["id"], other_ws)]


def test_upload_empty_422(server: Server) -> None:
    """An empty body is refused with the error JSON."""
    with server.client() as client:
        r = client.post("/v1/inbound", content=b"", headers=RFC822)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid"
    assert r.json()["error"]["field"] == "body"


def test_upload_too_large_413(server: Server) -> None:
    """Over max_message_bytes: 413 with the error JSON, nothing stored."""
    server.app.settings.max_message_bytes = 1024
    with server.client() as client:
        r = client.post("/v1/inbound", content=RAW + b"x" * 1024, headers=RFC822)
        chunked = client.post(
            "/v1/inbound", content=iter([RAW, b"y" * 2048]), headers=RFC822
        )  # no Content-Length: refused while streaming
    for answer in (r, chunked):
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "too_large"
    with server.app.sessions() as session:
        assert session.scalars(select(MessageRow).where(MessageRow.direction == "in")).all() == []


def test_upload_needs_a_key(server: Server) -> None:
    """Without an API key: 401."""
    with server.client("wrong-key") as client:
        r = client.post("/v1/inbound", content=RAW, headers=RFC822)
    assert r.status_code == 401
