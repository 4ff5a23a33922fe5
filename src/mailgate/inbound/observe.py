"""Inbound metrics and log lines: one per receipt, one per routing decision (docs/deploy.md).

Counted after the transaction commits (:func:`mailgate.store.metrics.after_commit`), so
a rolled-back group is not counted and then counted again when it is retried. Lines
carry ids, the source kind, the message kind and the event types; never an address, a
subject or a body.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from mailgate.store import metrics
from mailgate.store.models import MessageRow

if TYPE_CHECKING:  # the pipeline calls this module
    from mailgate.inbound.pipeline import Incoming, Received

log = logging.getLogger("mailgate.inbound")


def received(session: Session, items: Sequence[Incoming], answers: Sequence[Received]) -> None:
    """Count and log stored messages (``stored``) and known items taken again (``duplicate``)."""
    counts: Counter[tuple[str, str]] = Counter()
    lines: list[dict[str, Any]] = []
    for item, answer in zip(items, answers, strict=True):
        result = "duplicate" if answer.duplicate else "stored"
        counts[(item.source, result)] += 1
        lines.append(
            {
                "message_id": answer.id,
                "conversation_id": None,  # routing decides, later (event: routed)
                "workspace_id": item.workspace_id,
                "source": item.source,
                "source_id": item.item[0] if item.item else None,
                "result": result,
                "size": len(item.raw),
            }
        )

    def emit() -> None:
        for (source, result), n in counts.items():
            metrics.INBOUND.labels(source, result).inc(n)
        for line in lines:
            log.info("receipt", extra=line)

    metrics.after_commit(session, emit)


def routed(session: Session, row: MessageRow, events: Sequence[dict[str, Any]]) -> None:
    """The routing decision for a processed message: its kind, conversation and events."""
    line = {
        "message_id": row.id,
        "conversation_id": row.conversation_id,
        "workspace_id": row.workspace_id,
        "source": row.source,
        "kind": row.kind,
        "status": row.status,
        "events": sorted({e["type"] for e in events}),
    }
    source, kind = row.source or "unknown", row.kind or "normal"

    def emit() -> None:
        metrics.INBOUND.labels(source, "processed").inc()
        metrics.ROUTED.labels(kind).inc()
        log.info("routed", extra=line)

    metrics.after_commit(session, emit)


def failed(session: Session, row: MessageRow) -> None:
    """A processing attempt failed: ``retry`` (backs off) or ``dead`` (dead-lettered)."""
    result = "dead" if row.status == "dead" else "retry"
    line = {
        "message_id": row.id,
        "conversation_id": row.conversation_id,
        "workspace_id": row.workspace_id,
        "source": row.source,
        "result": result,
        "attempt": row.attempts,
    }
    source = row.source or "unknown"

    def emit() -> None:
        metrics.INBOUND.labels(source, result).inc()
        log.warning("inbound processing failed", extra=line)

    metrics.after_commit(session, emit)
