"""Send counters shared by every worker process: one row per scope and window.

Increments are a single ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (SQLite
and PostgreSQL both have it), so two workers adding at once both see a total that
includes the other's: the database serialises them on the row. Only the worker
whose increment crossed the limit sees ``before < limit <= after``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailgate.store.models import SendCounter


def add(session: Session, scope_key: str, window: str, start: datetime, n: int) -> int:
    """Add ``n`` to the counter and return its new value (one statement)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(SendCounter).values(
        scope_key=scope_key, window=window, window_start=start, count=n, exhausted=False
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=["scope_key", "window", "window_start"],
        set_={"count": SendCounter.count + n},
    ).returning(SendCounter.count)
    return int(session.execute(upsert).scalar_one())


def give_back(session: Session, scope_key: str, window: str, start: datetime, n: int) -> None:
    """Subtract what was counted but not sent (held back by another limit)."""
    if n > 0:
        session.execute(
            update(SendCounter)
            .where(
                SendCounter.scope_key == scope_key,
                SendCounter.window == window,
                SendCounter.window_start == start,
            )
            .values(count=SendCounter.count - n)
        )


def mark_exhausted(session: Session, scope_key: str, start: datetime) -> bool:
    """True for exactly one caller per scope and day: the one that emits ``quota.exhausted``."""
    result = session.execute(
        update(SendCounter)
        .where(
            SendCounter.scope_key == scope_key,
            SendCounter.window == "day",
            SendCounter.window_start == start,
            SendCounter.exhausted.is_(False),
        )
        .values(exhausted=True)
    )
    return bool(getattr(result, "rowcount", 0))


def used(session: Session, keys: Iterable[tuple[str, str, datetime]]) -> dict[str, int]:
    """Current counts by scope key for the given (scope, window, start) triples."""
    out: dict[str, int] = {}
    for scope_key, window, start in keys:
        value = session.scalar(
            select(SendCounter.count).where(
                SendCounter.scope_key == scope_key,
                SendCounter.window == window,
                SendCounter.window_start == start,
            )
        )
        out[scope_key] = int(value or 0)
    return out
