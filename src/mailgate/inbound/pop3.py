"""POP3 source: UIDL for identity, RETR, store, commit, and only then DELE.

Implements :class:`mailgate.inbound.base.Poller` with the stdlib ``poplib``
(blocking; run in a thread). The item key is the UIDL (RFC 1939 §7: unique and
persistent per message). Each pass: ``UIDL``; messages taken already are only
deleted (unless ``leave_on_server``); the others are ``RETR``-ieved in batches,
stored in one transaction per batch, and ``DELE``-ted after that commit. ``DELE``
only takes effect at ``QUIT`` (RFC 1939 §6), so a connection lost before ``QUIT``
keeps every message on the server and the next pass deletes the taken ones.
"""

from __future__ import annotations

import contextlib
import poplib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import Field

from mailgate.inbound.base import (
    MailboxConfig,
    PassHook,
    PollResult,
    SourceError,
    SourceRef,
    store_taken,
    taken_keys,
    tls_context,
)
from mailgate.inbound.netconnect import GuardedPop3Socket, connect_errors, guard_for, stage_of
from mailgate.store.context import Context

# poplib refuses lines over 2,048 bytes; real mail (HTML in one line) has longer ones.
MAX_LINE = 1024 * 1024


class Pop3Config(MailboxConfig):
    """Settings of a POP3 source (the console renders its form from this model)."""

    leave_on_server: bool = Field(default=False, description="Keep taken mail on the server")
    batch_size: int = Field(default=20, ge=1, le=1000, description="Messages per transaction")


class _LongLines:
    """Read lines up to :data:`MAX_LINE` instead of poplib's 2,048 bytes."""

    file: Any  # set by poplib.POP3.__init__

    def _getline(self) -> tuple[bytes, int]:
        line: bytes = self.file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        octets = len(line)
        if line[-2:] == b"\r\n":
            return line[:-2], octets
        if line[:1] == b"\r":
            return line[1:-1], octets
        return line[:-1], octets


class _POP3(_LongLines, GuardedPop3Socket, poplib.POP3):
    pass


class _POP3_SSL(_LongLines, GuardedPop3Socket, poplib.POP3_SSL):
    pass


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """The one place poplib/socket errors become :class:`SourceError`."""
    try:
        yield
    except SourceError:
        raise
    except (poplib.error_proto, OSError) as exc:
        text = f"POP3 {what}: {exc or type(exc).__name__}"
        raise SourceError(text, stage=stage_of(what)) from exc


class Pop3Poller:
    """See the module docstring and :class:`mailgate.inbound.base.Poller`."""

    Config = Pop3Config

    def __init__(self, app: Context, ref: SourceRef, config: Pop3Config) -> None:
        self.app = app
        self.ref = ref
        self.config = config

    def connect(self) -> poplib.POP3:
        c = self.config
        ctx = tls_context(c.verify_tls, c.ca_file)
        port = c.port or (995 if c.security == "tls" else 110)
        guard = guard_for(self.app, self.ref)
        conn: poplib.POP3
        with connect_errors("POP3", c.host, port):
            if c.security == "tls":
                conn = _POP3_SSL(c.host, port, timeout=c.timeout, context=ctx, guard=guard)
            else:
                conn = _POP3(c.host, port, timeout=c.timeout, guard=guard)
        try:
            if c.security == "starttls":
                with _mapped("STLS"):
                    conn.stls(ctx)
            with _mapped(f"login as {c.username}"):
                conn.user(c.username)
                conn.pass_(c.password)
        except BaseException:
            _drop(conn)
            raise
        return conn

    def poll_once(self) -> PollResult:
        conn = self.connect()
        try:
            result = self.take(conn)
            with _mapped("QUIT"):
                conn.quit()  # the DELEs take effect here, after every commit
            return result
        except BaseException:
            # Without QUIT the server restores every DELE-marked message (RFC 1939 §6).
            _drop(conn)
            raise

    def take(self, conn: poplib.POP3) -> PollResult:
        c = self.config
        with _mapped("UIDL"):
            _, lines, _ = conn.uidl()
        listing: list[tuple[int, str]] = []
        for line in lines:
            num, _, uidl = line.decode("ascii", "replace").strip().partition(" ")
            listing.append((int(num), uidl.strip()))
        result = PollResult(seen=len(listing))
        done = taken_keys(self.app, self.ref.id, (u for _, u in listing))
        result.acknowledged += self._dele(conn, [n for n, u in listing if u in done])
        fresh = [(n, u) for n, u in listing if u not in done]
        for i in range(0, len(fresh), c.batch_size):
            batch = fresh[i : i + c.batch_size]
            items: list[tuple[str, bytes]] = []
            for number, uidl in batch:
                with _mapped(f"RETR {number}"):
                    lines = conn.retr(number)[1]
                items.append((uidl, b"\r\n".join(lines) + b"\r\n"))
            result.taken += store_taken(self.app, self.ref, items)
            # Committed: only now may the server forget them.
            result.acknowledged += self._dele(conn, [n for n, _ in batch])
        return result

    def _dele(self, conn: poplib.POP3, numbers: list[int]) -> int:
        if self.config.leave_on_server or not numbers:
            return 0
        for number in numbers:
            with _mapped(f"DELE {number}"):
                conn.dele(number)
        return len(numbers)

    def run(self, stop: threading.Event, on_pass: PassHook) -> None:
        # POP3 has no push: a short session per pass also lets others read the box.
        while not stop.is_set():
            on_pass(self.poll_once())
            stop.wait(self.config.poll_interval)


def _drop(conn: poplib.POP3) -> None:
    with contextlib.suppress(Exception):  # closing a broken socket: nothing more to do
        conn.close()
