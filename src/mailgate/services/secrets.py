"""Re-encrypt every stored secret under the current key (``mailgate secrets rotate``).

Rotation, start to end (docs/secrets.md): set the new ``MAILGATE_SECRET_KEY`` with
the old key in ``MAILGATE_OLD_SECRET_KEYS`` and restart — everything still works,
since decryption and reply-address checks accept the old key — then run this, then
drop the old key once outstanding reply addresses no longer matter.

Restartable: rows go in batches, each its own committed transaction, and a secret
already under the current key is left alone, so running it again (after a crash,
or twice) only finishes what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from mailgate.errors import SecretUnreadable
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import DkimKey, Source, TransportRow, WebhookSubscription

#: Every encrypted column: (label, model, attribute). A new one must be listed here.
ENCRYPTED: list[tuple[str, Any, str]] = [
    ("transports.secrets", TransportRow, "secrets"),
    ("sources.secrets", Source, "secrets"),
    ("webhook_subscriptions.secret", WebhookSubscription, "secret"),
    ("dkim_keys.private_key", DkimKey, "private_key"),  # "" once retired: nothing to seal
]


@dataclass
class RotationReport:
    """What one run did; ``unreadable`` lists ``table id`` of secrets no key opens."""

    total: int = 0
    rotated: int = 0
    current: int = 0
    unreadable: list[str] = field(default_factory=list)


def count(app: Context) -> int:
    """How many stored secrets there are (the progress bar's total)."""
    with app.sessions() as session:
        return sum(
            session.scalar(
                select(func.count())
                .select_from(model)
                .where(getattr(model, attr).is_not(None), getattr(model, attr) != "")
            )
            or 0
            for _, model, attr in ENCRYPTED
        )


def rotate_all(
    app: Context, *, batch: int = 100, progress: Callable[[int], None] | None = None
) -> RotationReport:
    """Re-encrypt under the current key, ``batch`` rows per committed transaction."""
    report = RotationReport()
    for label, model, attr in ENCRYPTED:
        column = getattr(model, attr)
        after = ""
        while True:
            with transaction(app.sessions) as session:
                rows = list(
                    session.scalars(
                        select(model)
                        .where(column.is_not(None), column != "", model.id > after)
                        .order_by(model.id)
                        .limit(batch)
                        # PostgreSQL: an API edit of the same row waits instead of being
                        # overwritten by the old secret re-encrypted (SQLite has one writer).
                        .with_for_update()
                    )
                )
                for row in rows:
                    token = getattr(row, attr)
                    if app.secrets.is_current(token):
                        report.current += 1
                        continue
                    try:
                        setattr(row, attr, app.secrets.rotate(token))
                    except SecretUnreadable:
                        report.unreadable.append(f"{label} {row.id}")
                        continue
                    report.rotated += 1
            if not rows:
                break
            after = rows[-1].id
            report.total += len(rows)
            if progress is not None:
                progress(len(rows))
    return report
