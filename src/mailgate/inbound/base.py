"""The Source seam for pollers: mailboxes mailgate fetches from (IMAP, POP3).

A poller kind is one module with a pydantic ``Config`` model (fields marked
``json_schema_extra={"secret": True}`` are write-only and encrypted at rest) and
one class implementing :class:`Poller`, plus one line in
:data:`mailgate.inbound.pollers.POLLERS`.

The contract every poller keeps (DESIGN.md, *Source*):

* It remembers what it has taken in ``source_items`` (UIDVALIDITY:UID, a UIDL),
  written by :func:`mailgate.inbound.pipeline.store_many` in the same transaction
  as the message, so nothing is taken twice.
* It flags, moves or deletes on the server only *after* that transaction
  commits. A crash in between leaves the message on the server, already taken:
  the next pass finishes the acknowledgement and does not store it again.
* Library exceptions are mapped to :class:`SourceError` here, in one place per
  kind; the supervisor records the message in ``sources.last_error`` and retries
  with backoff.

Push sources (the Mailgun route webhook, the SMTP listener) answer only after the
commit instead; they do not implement this protocol.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailgate.errors import MailgateError
from mailgate.inbound.pipeline import Incoming, store_many
from mailgate.store.blobs import blob_key
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow, Source, SourceItem, utcnow


class MailboxConfig(BaseModel):
    """What every mailbox poller (IMAP, POP3) needs to reach and log in to its server."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, description="Server name or IP address")
    port: int | None = Field(default=None, ge=1, le=65535, description="Default: the protocol's")
    security: Literal["none", "starttls", "tls"] = "tls"
    username: str = Field(min_length=1)
    password: str = Field(repr=False, json_schema_extra={"secret": True})
    verify_tls: bool = Field(default=True, description="Check the server certificate and name")
    ca_file: str | None = Field(
        default=None,
        description="Extra CA certificates (PEM) to trust",
        json_schema_extra={"local_path": True},  # operator only (services/roles.py)
    )
    poll_interval: float = Field(default=60, ge=0.05, description="Seconds between passes")
    timeout: float = Field(default=60, gt=0, description="Seconds to wait for the server")


class SourceError(MailgateError):
    """A mailbox could not be read: network, TLS, login or protocol trouble.

    ``stage`` says where: ``config``, ``policy`` (the network policy refused the
    host; nothing was connected), ``dns``, ``connect``, ``tls``, ``auth`` or
    ``protocol``. The message starts with it.
    """

    code = "source_error"
    status = 502

    def __init__(
        self, message: str, *, field: str | None = None, stage: str | None = None
    ) -> None:
        super().__init__(f"{stage}: {message}" if stage else message, field=field)
        self.stage = stage


@dataclass(slots=True)
class PollResult:
    """What one pass over a mailbox did."""

    taken: int = 0  # newly stored messages
    acknowledged: int = 0  # flagged, moved or deleted on the server after the commit
    seen: int = 0  # messages present on the server during the pass

    def add(self, other: PollResult) -> None:
        self.taken += other.taken
        self.acknowledged += other.acknowledged
        self.seen = max(self.seen, other.seen)


class Poller(Protocol):
    """One configured mailbox of one workspace."""

    def poll_once(self) -> PollResult:
        """Connect, take every message not taken yet, acknowledge after commit, disconnect.

        Safe to run at the same time as :meth:`run` on the same source (the
        *poll now* button): a message both take is stored once.
        """
        ...

    def run(self, stop: threading.Event, on_pass: PassHook) -> None:
        """Keep taking mail until ``stop`` is set (IDLE where the server has it).

        Calls ``on_pass`` after every completed pass. Returns when ``stop`` is set;
        raises :class:`SourceError` when the server cannot be reached or refuses
        (the supervisor restarts it with backoff).
        """
        ...


class PassHook(Protocol):
    def __call__(self, result: PollResult) -> None: ...


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A client TLS context: the system CAs plus ``ca_file``, or no checks when told.

    Whether ``ca_file`` is missing, unreadable or not PEM, the error is the same
    sentence: it must not tell anyone which files exist on the server.
    """
    try:
        ctx = ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError, ValueError):
        raise SourceError(
            "ca_file could not be loaded as PEM CA certificates",
            field="config.ca_file",
            stage="config",
        ) from None
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Which source, and whose: enough to store what it takes."""

    id: str
    workspace_id: str
    kind: str
    #: An operator chose the host: the network policy does not restrict it.
    private_network: bool = False


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def taken_keys(app: Context, source_id: str, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` this source has taken already (committed)."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    with app.sessions() as session:
        for chunk in _chunks(wanted):
            found.update(
                session.scalars(
                    select(SourceItem.item_key).where(
                        SourceItem.source_id == source_id, SourceItem.item_key.in_(chunk)
                    )
                )
            )
    return found


def load_state(app: Context, source_id: str) -> dict[str, Any]:
    with app.sessions() as session:
        state = session.scalar(select(Source.state).where(Source.id == source_id))
    return dict(state or {})


def store_taken(
    app: Context,
    ref: SourceRef,
    items: Sequence[tuple[str, bytes]],
    *,
    state: dict[str, Any] | None = None,
    same_bytes_once: bool = False,
) -> int:
    """Store ``(item key, raw)`` pairs in one transaction; returns how many were new.

    ``state`` is merged into ``sources.state`` in the same transaction (with
    ``last_uid`` only ever growing). With ``same_bytes_once``, a message whose exact
    bytes this source took before under another key (an IMAP UIDVALIDITY change)
    is recorded as taken under the new key and not stored again. A concurrent pass
    that took the same items first makes the insert fail: the batch is retried
    once, and then sees them as taken.
    """
    if not items:
        return 0
    for attempt in (1, 2):
        try:
            with transaction(app.sessions) as session:
                todo = list(items)
                if same_bytes_once:
                    todo = _link_known_bytes(session, ref, todo)
                answers = store_many(
                    session,
                    app,
                    [
                        Incoming(ref.workspace_id, raw, ref.kind, item=(ref.id, key))
                        for key, raw in todo
                    ],
                )
                if state:
                    _merge_state(session, ref.id, state)
            app.wake_workers()
            return sum(1 for a in answers if not a.duplicate)
        except IntegrityError:
            if attempt == 2:
                raise
    return 0  # pragma: no cover - the loop returns or raises


def _link_known_bytes(
    session: Session, ref: SourceRef, items: list[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    by_hash = {blob_key(raw): key for key, raw in items}
    known = dict(
        session.execute(
            select(MessageRow.blob_key, MessageRow.id)
            .join(SourceItem, SourceItem.message_pk == MessageRow.id)
            .where(SourceItem.source_id == ref.id, MessageRow.blob_key.in_(list(by_hash)))
        ).all()
    )
    if not known:
        return items
    keys = [by_hash[h] for h in known]
    already = set(
        session.scalars(
            select(SourceItem.item_key).where(
                SourceItem.source_id == ref.id, SourceItem.item_key.in_(keys)
            )
        )
    )
    now = utcnow()
    for digest, message_pk in known.items():
        if by_hash[digest] not in already:
            session.add(
                SourceItem(
                    source_id=ref.id, item_key=by_hash[digest], message_pk=message_pk, taken_at=now
                )
            )
    session.flush()
    linked = set(keys)
    return [(key, raw) for key, raw in items if key not in linked]


def _merge_state(session: Session, source_id: str, state: dict[str, Any]) -> None:
    current = session.scalar(select(Source.state).where(Source.id == source_id).with_for_update())
    merged = dict(current or {})
    if "last_uid" in state and merged.get("uidvalidity") == state.get("uidvalidity"):
        state = {**state, "last_uid": max(int(merged.get("last_uid") or 0), state["last_uid"])}
    merged.update(state)
    session.execute(update(Source).where(Source.id == source_id).values(state=merged))
