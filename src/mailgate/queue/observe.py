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
from mailgate.store.models import TransportRow

log = logging.getLogger("mailgate.delivery")


@asynccontextmanager
async def attempt(transport_kind: str) -> AsyncIterator[None]:
    """Time one transport call (``mailgate_delivery_attempt_seconds``)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics.ATTEMPT_SECONDS.labels(transport_kind).observe(time.perf_counter() - start)


#: transport id → kind. A transport's kind never changes, so each is read once per
#: process: results are recorded in small groups, and a query per group showed up.
_KINDS: dict[str, str] = {}


def _kinds(session: Session, ids: set[str | None]) -> dict[str, str]:
    unknown = [i for i in ids if i and i not in _KINDS]
    if unknown:
        if len(_KINDS) > 10_000:
            _KINDS.clear()
        rows = select(TransportRow.id, TransportRow.kind).where(TransportRow.id.in_(unknown))
        _KINDS.update({tid: kind for tid, kind in session.execute(rows)})
    return _KINDS


def deliveries(session: Session, outcomes: list[Outcome], statuses: dict[str, str]) -> None:
    """Count and log what ``outbox.record`` wrote, after the transaction commits.

    ``statuses`` holds only the messages whose result counted (a stale lease's result
    was dropped and is not counted either).
    """
    if not any(o.message.id in statuses for o in outcomes):
        return
    kinds = _kinds(session, {o.message.transport_id for o in outcomes})
    lines: list[dict[str, Any]] = []
    counts: Counter[tuple[str, str, str]] = Counter()
    finals: list[tuple[str, str, float]] = []
    for o in outcomes:
        msg = o.message
        status = statuses.get(msg.id)
        if status is None:
            continue
        conversation, kind = msg.conversation_id, kinds.get(msg.transport_id or "", "none")
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
