"""The journals page newest first through every status they cover, on both stores."""

from __future__ import annotations

from mailgate.runtime import Mailgate
from mailgate.services import journal, tenancy
from mailgate.store.db import insert_rows, transaction
from mailgate.store.models import MessageRow, new_id, utcnow


def test_pending_journal_pages_across_statuses(mailgate_app: Mailgate) -> None:
    """queued, sending and deferred mail interleave by age; pages neither skip nor repeat."""
    statuses = ["queued", "deferred", "sending", "sent", "queued", "failed", "deferred"] * 3
    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        now = utcnow()
        rows = [
            {
                "id": new_id("msg"),
                "workspace_id": ws.id,
                "direction": "out",
                "status": st,
                "blob_key": "0" * 64,
                "created_at": now,
                "updated_at": now,
            }
            for st in statuses
        ]
        for i, row in enumerate(rows):  # ids sort by time: make them distinct and ordered
            row["id"] = f"msg_{i:04d}"
        insert_rows(session, MessageRow, rows)
    expected = [r["id"] for r in reversed(rows) if r["status"] in ("queued", "sending", "deferred")]
    seen: list[str] = []
    cursor = None
    with mailgate_app.sessions() as session:
        while True:
            page, cursor = journal.journal(session, ws.id, status="pending", limit=4, before=cursor)
            seen += [m.id for m in page]
            if cursor is None:
                break
    assert seen == expected
