"""What ``/healthz``, ``/readyz`` and the scrape-time metrics ask the store (docs/deploy.md).

Queue depth and source health are read from the database at scrape time, not kept in
a process: every process and machine sharing the database reports the same figures.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from mailgate.inbound.pollers import POLLERS
from mailgate.store.blobs import BlobStore, FileBlobStore
from mailgate.store.db import MIGRATIONS
from mailgate.store.models import Blob, MessageRow, Source, WebhookDelivery

#: States a queue row passes through before it is done, per queue. Final states
#: (sent, failed, processed, delivered) grow forever and are not queue depth; ``dead``
#: (inbound dead letters) is kept: it needs an operator.
QUEUE_STATES = {
    "outbound": ("queued", "sending", "deferred", "held"),
    "inbound": ("received", "processing", "dead"),
    "webhooks": ("pending", "sending", "retrying"),
}


def queue_depth(session: Session) -> dict[tuple[str, str], int]:
    """(queue, state) → rows, every known state present (zero when empty)."""
    depth = {(q, s): 0 for q, states in QUEUE_STATES.items() for s in states}
    msg_states = QUEUE_STATES["outbound"] + QUEUE_STATES["inbound"]
    # One walk of ix_messages_due over the unfinished rows only.
    for direction, status, n in session.execute(
        select(MessageRow.direction, MessageRow.status, func.count())
        .where(MessageRow.status.in_(msg_states))
        .group_by(MessageRow.direction, MessageRow.status)
    ):
        queue = "outbound" if direction == "out" else "inbound"
        if (queue, status) in depth:
            depth[(queue, status)] = n
    for status, n in session.execute(
        select(WebhookDelivery.status, func.count())
        .where(WebhookDelivery.status.in_(QUEUE_STATES["webhooks"]))
        .group_by(WebhookDelivery.status)
    ):
        depth[("webhooks", status)] = n
    return depth


@dataclass(frozen=True, slots=True)
class SourceHealth:
    id: str
    kind: str
    #: ok (last poll succeeded, or a push source without error) | failing (last error set)
    #: | disabled | waiting (a polled source not polled yet)
    state: str
    last_polled_at: datetime | None


def source_health(session: Session) -> list[SourceHealth]:
    """Every inbound source's state. Ids and kinds only: names and hosts are the tenant's."""
    rows = session.execute(
        select(Source.id, Source.kind, Source.enabled, Source.last_error, Source.last_polled_at)
    )
    out = []
    for sid, kind, enabled, error, polled in rows:
        if not enabled:
            state = "disabled"
        elif error:
            state = "failing"
        elif polled is None and kind in POLLERS:  # push sources (mailgun) are never polled
            state = "waiting"
        else:
            state = "ok"
        out.append(SourceHealth(sid, kind, state, polled))
    return out


SOURCE_STATES = ("ok", "failing", "disabled", "waiting")


# --- liveness and readiness ---------------------------------------------------------------


def check_database(engine: Engine) -> None:
    """``SELECT 1`` on a pooled connection; raises when the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def check_blobs(blobs: BlobStore, session: Session) -> None:
    """Files: write, read back and delete a probe in the root. Database: read the table."""
    if isinstance(blobs, FileBlobStore):
        blobs.root.mkdir(parents=True, exist_ok=True)
        probe = blobs.root / f".healthz-{os.getpid()}-{secrets.token_hex(4)}"
        token = secrets.token_bytes(16)
        try:
            probe.write_bytes(token)
            if probe.read_bytes() != token:
                raise OSError(f"{blobs.root}: the probe read back different bytes")
        finally:
            with contextlib.suppress(FileNotFoundError):
                probe.unlink()
    else:
        session.execute(select(Blob.key).limit(1)).all()


_HEAD: dict[str, tuple[str, ...]] = {}


def migration_heads() -> tuple[str, ...]:
    """The revisions the code expects (read once: the scripts do not change while running)."""
    if "heads" not in _HEAD:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        _HEAD["heads"] = tuple(sorted(ScriptDirectory.from_config(cfg).get_heads()))
    return _HEAD["heads"]


def pending_migrations(engine: Engine) -> str | None:
    """None when the database is at the code's head; otherwise what it is at."""
    with engine.connect() as conn:
        current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    expected = migration_heads()
    if current == expected:
        return None
    return f"database at {', '.join(current) or 'no revision'}, code expects {', '.join(expected)}"
