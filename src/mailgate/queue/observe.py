"""Delivery metrics and log lines, counted once the result is committed (docs/deploy.md).

One log line per message and attempt (``event: delivery``) with the message,
conversation, workspace and transport ids, the status and per-recipient counts and
codes. Never the addresses, the reply texts (a server quotes the recipient back), the
message or any transport setting.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.queue.outbox import Outcome
from mailgate.store import metrics
from mailgate.store.models import MessageRow, TransportRow

log = logging.getLogger("mailgate.delivery")


@asynccontextmanager
async def attempt(transport_kind: str) -> AsyncIterator[None]:
    """Time one transport call (``mailgate_delivery_attempt_seconds``)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics.ATTEMPT_SECONDS.labels(transport_kind).observe(time.perf_counter() - start)


def deliveries(session: Session, outcomes: list[Outcome], statuses: dict[str, str]) -> None:
    """Count and log what ``outbox.record`` wrote, after the transaction commits.

    ``statuses`` holds only the messages whose result counted (a stale lease's result
    was dropped and is not counted either).
    """
    ids = [o.message.id for o in outcomes if o.message.id in statuses]
    if not ids:
        return
    # One primary-key query per batch: the conversation and the transport's kind.
    info: dict[str, tuple[str | None, str]] = {
        mid: (conversation, kind or "none")
        for mid, conversation, kind in session.execute(
            select(MessageRow.id, MessageRow.conversation_id, TransportRow.kind)
            .outerjoin(TransportRow, TransportRow.id == MessageRow.transport_id)
            .where(MessageRow.id.in_(ids))
        )
    }
    lines: list[dict[str, Any]] = []
    counts: Counter[tuple[str, str, str]] = Counter()
    finals: list[tuple[str, str, float]] = []
    for o in outcomes:
        msg = o.message
        status = statuses.get(msg.id)
        if status is None:
            continue
        conversation, kind = info.get(msg.id, (None, "none"))
        transport = msg.transport_id or "none"
        results: Counter[str] = Counter()
        codes = []
        for res in o.results:
            if res.accepted:
                result = "sent"
            elif res.permanent or status == "failed":
                result = "failed"
            else:
                result = "deferred"
            results[result] += 1
            counts[(kind, transport, result)] += 1
            if not res.accepted and res.code is not None:
                codes.append(res.code)
        if status in ("sent", "failed") and (age := metrics.since_accepted(msg.id)) is not None:
            finals.append((kind, status, age))
        lines.append(
            {
                "message_id": msg.id,
                "conversation_id": conversation,
                "workspace_id": msg.workspace_id,
                "transport_id": msg.transport_id,
                "transport_kind": kind,
                "status": status,
                "attempt": msg.attempts,
                "recipients": dict(results),
                "codes": codes,
            }
        )

    def emit() -> None:
        for (kind, transport, result), n in counts.items():
            metrics.DELIVERIES.labels(kind, transport, result).inc(n)
        for kind, status, age in finals:
            metrics.DELIVERY_SECONDS.labels(kind, status).observe(age)
        for line in lines:
            log.info("delivery", extra=line)

    metrics.after_commit(session, emit)
