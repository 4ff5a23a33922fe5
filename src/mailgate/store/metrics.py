"""The process's Prometheus instruments, multiprocess mode, and counting only what committed.

Every layer that records something (queue, inbound, events) sits above ``store``, so the
instruments live here. Labels are kinds, ids of configuration rows and results, never
addresses, names or secrets: an address as a label would put customers' data into the
monitoring system and give it one series per correspondent (docs/deploy.md, "Metrics").

What the database knows (queue depth, source health) is not kept in process memory: the
``/metrics`` endpoint computes it at scrape time (``services/health.py``), so every
process and every machine agrees on it.

**Multiprocess mode.** prometheus-client chooses where values live when a value is
first made: in memory, or in ``PROMETHEUS_MULTIPROC_DIR`` (one mmap file per process,
summed at scrape time). :func:`enable_multiprocess` sets the directory and switches the
choice before any labelled value exists; ``mailgate serve`` and ``mailgate worker`` call
it at start, so their values (and those of any process they start) meet in one
directory under the data directory.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import Counter, Histogram, values
from sqlalchemy import event
from sqlalchemy.orm import Session

#: Seconds; delivery runs from a fraction of a second to days of retries.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)

DELIVERIES = Counter(
    "mailgate_deliveries",
    "Outbound results per recipient: sent, deferred (retried later) or failed.",
    ["transport_kind", "transport", "result"],
)
DELIVERY_SECONDS = Histogram(
    "mailgate_delivery_seconds",
    "From acceptance to a message's final result (sent or failed), retries included.",
    ["transport_kind", "result"],
    buckets=LATENCY_BUCKETS,
)
ATTEMPT_SECONDS = Histogram(
    "mailgate_delivery_attempt_seconds",
    "One delivery attempt: the transport's deliver call, connection and reply included.",
    ["transport_kind"],
    buckets=LATENCY_BUCKETS[:10],
)
INBOUND = Counter(
    "mailgate_inbound_messages",
    "Inbound messages by source kind and result: stored or duplicate at receipt; "
    "unknown_recipient or not_stored at the listener; processed, retry or dead when routed.",
    ["source", "result"],
)
ROUTED = Counter(
    "mailgate_inbound_routed",
    "Routing decisions: the kind of a processed message (normal, auto_reply, bounce, ...).",
    ["kind"],
)
WEBHOOKS = Counter(
    "mailgate_webhook_deliveries",
    "Webhook delivery attempts by result: delivered, retrying or failed.",
    ["result"],
)
LEASE_TAKEOVERS = Counter(
    "mailgate_lease_takeovers",
    "Rows claimed whose previous holder's lease had run out (a worker died or stalled).",
    ["queue"],
)

#: Files prometheus-client writes per process: ``<type>[_<mode>]_<pid>.db``.
_PROCESS_FILE = re.compile(r"_(\d+)\.db$")


def enable_multiprocess(directory: Path, *, clear_stale: bool) -> None:
    """Keep this process's values in ``directory`` (and its children's, who inherit it).

    ``clear_stale`` (``serve``, which answers ``/metrics``): remove the files of
    processes that no longer run, so a restart begins from zero and a reused pid does
    not continue a dead process's counts. Files of live processes (a ``mailgate worker``
    started before) are kept.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if clear_stale:
        remove_stale_files(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    # prometheus-client picks the value class when imported; the module keeps it as an
    # attribute read at each value's creation ("retain this import style for testability").
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def remove_stale_files(directory: Path) -> None:
    """Remove the value files of processes that no longer run (and this one's, from before)."""
    for path in directory.glob("*.db"):
        match = _PROCESS_FILE.search(path.name)
        pid = int(match.group(1)) if match else None
        if pid is None or pid == os.getpid() or not _alive(pid):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def accepted_at(message_id: str) -> float | None:
    """When a message was accepted (Unix seconds), read from its sortable id.

    ``store.models.new_id`` puts the creation time in milliseconds first, so the latency
    histogram needs no extra query on the hot path.
    """
    _, _, body = message_id.partition("_")
    try:
        raw = base64.b32decode(body.translate(_UNSORTABLE).upper())
    except ValueError:
        return None
    return int.from_bytes(raw[:6], "big") / 1000 if len(raw) >= 6 else None


_UNSORTABLE = str.maketrans("0123456789abcdefghjkmnpqrstvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def since_accepted(message_id: str) -> float | None:
    start = accepted_at(message_id)
    return None if start is None else max(0.0, time.time() - start)


# --- counting after commit --------------------------------------------------------------

_PENDING = "mailgate_after_commit"
log = logging.getLogger(__name__)


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run ``fn`` once the session's transaction commits; drop it on rollback.

    Metrics and log lines for a delivery or a receipt must describe what is durable:
    counted inside the transaction, a rolled-back batch would be counted and then
    retried and counted again.
    """
    session.info.setdefault(_PENDING, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    for fn in session.info.pop(_PENDING, ()):
        try:
            fn()
        except Exception:  # observing must never fail a committed transaction
            log.exception("recording metrics failed")


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def note_takeovers(session: Session, queue: str, count: int) -> None:
    """Rows of ``queue`` (a table) claimed from a holder whose lease ran out."""
    if count:
        after_commit(session, lambda: LEASE_TAKEOVERS.labels(queue).inc(count))


def note_webhooks(session: Session, statuses: dict[str, str]) -> None:
    """Webhook attempts recorded in this transaction: delivery id → delivered|retrying|failed."""
    counts = collections.Counter(statuses.values())

    def emit() -> None:
        for result, n in counts.items():
            WEBHOOKS.labels(result).inc(n)

    if counts:
        after_commit(session, emit)
