"""Helpers over the private Dovecot's Maildir (tests/servers/dovecot.py) for inbound tests.

Not a fixture of its own: reading flags and folders, and making unique test mail,
is what the IMAP/POP3 source tests need beyond ``Dovecot.add_message``.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailgate.runtime import Mailgate
from mailgate.store.models import MessageRow, SourceItem


def make_mail(n: int, *, tag: str = "t", body: str = "") -> bytes:
    """A small unique message: Message-ID ``<{tag}-{n}@example.test>``."""
    return (
        f"From: Customer {n} <c{n}@example.net>\r\n"
        "To: support@example.test\r\n"
        f"Subject: Question {n}\r\n"
        f"Message-ID: <{tag}-{n}@example.test>\r\n"
        "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        "\r\n"
        f"Hello number {n}.\r\n{body}"
    ).encode()


def maildir_files(maildir: Path, folder: str | None = None) -> list[Path]:
    """Message files of the inbox (or of ``folder``, Dovecot's ``.Folder`` layout)."""
    root = maildir if folder is None else maildir / f".{folder}"
    return sorted(p for sub in ("new", "cur") for p in (root / sub).glob("*") if p.is_file())


def flags(path: Path) -> str:
    """Maildir info flags of a message file (``S`` = \\Seen, ``T`` = \\Deleted)."""
    _, sep, info = path.name.partition(":2,")
    return info if sep else ""


def message_id(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return str(msg.get("Message-ID", "")).strip()


def stored(app: Mailgate, source_id: str) -> list[bytes]:
    """Raw bytes of every message this source stored (each once), oldest first."""
    taken = select(SourceItem.message_pk).where(SourceItem.source_id == source_id)
    with app.sessions() as session:
        rows: Sequence[Any] = session.execute(
            select(MessageRow.blob_key).where(MessageRow.id.in_(taken)).order_by(MessageRow.id)
        ).all()
        keys = [r[0] for r in rows]
        blobs = app.blobs.get_many(session, keys)
    return [blobs[k] for k in keys]


def stored_ids(app: Mailgate, source_id: str) -> list[str]:
    return [message_id(raw) for raw in stored(app, source_id)]
