"""IMAP source: take every message of a folder once, acknowledge only after the commit.

Implements :class:`mailgate.inbound.base.Poller` with IMAPClient (blocking; run in
a thread). Identity is ``"{UIDVALIDITY}:{UID}"`` (RFC 3501 §2.3.1.1: a UID never
changes within one UIDVALIDITY). Each pass:

1. SELECT the folder; read UIDVALIDITY and the ``last_uid`` remembered for it.
2. Candidates: every message in the folder for ``after="move"``/``"delete"`` (the
   folder drains), or for ``after="flag"`` those with a UID above ``last_uid``
   plus the UNSEEN ones (a taken message not flagged yet, after a crash).
3. Candidates already in ``source_items`` are only acknowledged; the others are
   fetched with ``BODY.PEEK[]`` (which does not set ``\\Seen``), stored in batches
   (one transaction each, with the new ``last_uid``), and acknowledged after
   each commit: ``\\Seen``; or ``UID MOVE`` (COPY + ``\\Deleted`` + EXPUNGE
   without the MOVE extension); or ``\\Deleted`` + ``UID EXPUNGE`` (plain EXPUNGE
   without UIDPLUS).

A UIDVALIDITY change re-reads the whole folder under the new keys; a message
whose exact bytes this source took already is not stored again (sha256, the blob
key). Between passes the poller waits in IDLE (RFC 2177) when the server has it,
re-issuing it every ``poll_interval`` seconds, else it sleeps that long.
"""

from __future__ import annotations

import contextlib
import imaplib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from imapclient import IMAPClient
from imapclient.imapclient import SEEN
from pydantic import Field, model_validator

from mailgate.inbound.base import (
    MailboxConfig,
    PassHook,
    PollResult,
    SourceError,
    SourceRef,
    load_state,
    store_taken,
    taken_keys,
    tls_context,
)
from mailgate.inbound.netconnect import GuardedIMAPClient, connect_errors, guard_for, stage_of
from mailgate.outbound import oauth_tokens
from mailgate.store.context import Context

# RFC 2177 §3: servers may drop an IDLE client after 30 minutes; renew well before.
MAX_IDLE_SECONDS = 25 * 60


class ImapConfig(MailboxConfig):
    """Settings of an IMAP source (the console renders its form from this model)."""

    folder: str = Field(default="INBOX", min_length=1)
    after: Literal["flag", "move", "delete"] = Field(
        default="flag", description="What to do on the server once a message is stored"
    )
    move_to: str | None = Field(default=None, description="Folder for after=move")
    idle: bool = Field(default=True, description="Use IDLE when the server offers it")
    batch_size: int = Field(default=50, ge=1, le=1000, description="Messages per transaction")
    auth: Literal["password", "xoauth2", "oauthbearer"] = Field(
        default="password",
        description="password: LOGIN; xoauth2 or oauthbearer (RFC 7628): an OAuth2"
        " connection's token (docs/oauth.md)",
    )
    password: str = Field(default="", repr=False, json_schema_extra={"secret": True})

    @model_validator(mode="after")
    def _move_needs_folder(self) -> ImapConfig:
        if self.after == "move" and not self.move_to:
            raise ValueError("after=move needs move_to (the folder to move taken mail to)")
        if self.auth == "password" and not self.password:
            raise ValueError("password is required (or auth 'xoauth2' with an OAuth2 connection)")
        return self


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """The one place imaplib/IMAPClient/socket errors become :class:`SourceError`."""
    try:
        yield
    except SourceError:
        raise
    except (imaplib.IMAP4.error, OSError) as exc:
        text = f"IMAP {what}: {exc or type(exc).__name__}"
        raise SourceError(text, stage=stage_of(what)) from exc


class ImapPoller:
    """See the module docstring and :class:`mailgate.inbound.base.Poller`."""

    Config = ImapConfig

    def __init__(self, app: Context, ref: SourceRef, config: ImapConfig) -> None:
        self.app = app
        self.ref = ref
        self.config = config

    # -- connection -------------------------------------------------------------

    def connect(self) -> IMAPClient:
        c = self.config
        ctx = tls_context(c.verify_tls, c.ca_file)
        port = c.port or (993 if c.security == "tls" else 143)
        with connect_errors("IMAP", c.host, port):
            client = GuardedIMAPClient(
                c.host,
                guard=guard_for(self.app, self.ref),
                port=port,
                ssl=c.security == "tls",
                ssl_context=ctx,
                timeout=c.timeout,
            )
        try:
            if c.security == "starttls":
                with _mapped("STARTTLS"):
                    client.starttls(ctx)
            if c.auth != "password":
                self._oauth2_login(client)
            else:
                with _mapped(f"login as {c.username}"):
                    client.login(c.username, c.password)
            if c.after == "move" and c.move_to:
                with _mapped(f"create folder {c.move_to}"):
                    if not client.folder_exists(c.move_to):
                        client.create_folder(c.move_to)
        except BaseException:
            _close(client)
            raise
        return client

    def _oauth2_login(self, client: IMAPClient) -> None:
        """``AUTHENTICATE XOAUTH2`` (or ``OAUTHBEARER``) with the connection's fresh
        token; a refused token is refreshed on the next pass (and a refused refresh
        needs a reconnect)."""
        c = self.config
        try:
            token = oauth_tokens.fresh_token(self.app, source_id=self.ref.id)
        except (oauth_tokens.ReauthRequired, oauth_tokens.TokenUnavailable) as e:
            raise SourceError(f"{e.code}: {e.message}", stage="auth") from None
        try:
            with _mapped(f"login as {c.username}"):
                if c.auth == "oauthbearer":
                    client.oauthbearer_login(c.username, token)
                else:
                    client.oauth2_login(c.username, token)
        except SourceError:
            oauth_tokens.token_rejected(self.app, source_id=self.ref.id)
            raise

    # -- one pass -----------------------------------------------------------------

    def poll_once(self) -> PollResult:
        client = self.connect()
        try:
            return self.take(client)
        finally:
            _close(client)

    def take(self, client: IMAPClient) -> PollResult:
        """One pass on a logged-in connection (see the module docstring)."""
        c = self.config
        with _mapped(f"select {c.folder}"):
            info = client.select_folder(c.folder)
            uidvalidity = int(info[b"UIDVALIDITY"])
        state = load_state(self.app, self.ref.id)
        last = int(state.get("last_uid") or 0) if state.get("uidvalidity") == uidvalidity else 0
        with _mapped("search"):
            if c.after == "flag":
                # "n:*" always matches the last message, even below n (RFC 3501 §6.4.8).
                newer = {u for u in client.search(["UID", f"{last + 1}:*"]) if u > last}
                candidates = sorted(newer | set(client.search(["UNSEEN"])))
            else:
                candidates = sorted(client.search("ALL"))
        result = PollResult(seen=len(candidates))
        keys = {uid: f"{uidvalidity}:{uid}" for uid in candidates}
        done = taken_keys(self.app, self.ref.id, keys.values())
        # Taken by an earlier pass that stopped before acknowledging: finish the job.
        result.acknowledged += self._ack(client, [u for u in candidates if keys[u] in done])
        fresh = [u for u in candidates if keys[u] not in done]
        for i in range(0, len(fresh), c.batch_size):
            batch = fresh[i : i + c.batch_size]
            with _mapped("fetch"):
                fetched = client.fetch(batch, ["BODY.PEEK[]"])
            # A message expunged meanwhile (another client, a concurrent pass) comes back
            # missing or as NIL: it is gone, nothing to take.
            got = [u for u in batch if (fetched.get(u) or {}).get(b"BODY[]") is not None]
            items = [(keys[u], bytes(fetched[u][b"BODY[]"])) for u in got]
            result.taken += store_taken(
                self.app,
                self.ref,
                items,
                state={"uidvalidity": uidvalidity, "last_uid": max(batch)},
                same_bytes_once=True,
            )
            # Committed: only now may the server forget or mark them.
            result.acknowledged += self._ack(client, got)
        return result

    def _ack(self, client: IMAPClient, uids: Sequence[int]) -> int:
        if not uids:
            return 0
        c = self.config
        with _mapped(f"acknowledge ({c.after})"):
            if c.after == "flag":
                client.add_flags(uids, [SEEN], silent=True)
            elif c.after == "move" and client.has_capability("MOVE"):
                client.move(uids, c.move_to)  # RFC 6851: atomic
            else:
                if c.after == "move":
                    client.copy(uids, c.move_to)
                client.delete_messages(uids, silent=True)
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(uids)  # RFC 4315: only these
                else:
                    client.expunge()
        return len(uids)

    # -- continuous -----------------------------------------------------------------

    def run(self, stop: threading.Event, on_pass: PassHook) -> None:
        client = self.connect()
        try:
            idle = self.config.idle and client.has_capability("IDLE")
            while not stop.is_set():
                on_pass(self.take(client))
                if stop.is_set():
                    break
                if idle:
                    self._idle(client, stop)
                else:
                    stop.wait(self.config.poll_interval)
        finally:
            _close(client)

    def _idle(self, client: IMAPClient, stop: threading.Event) -> None:
        """Wait in IDLE until new mail, ``stop``, or ``poll_interval`` elapses."""
        deadline = time.monotonic() + min(self.config.poll_interval, MAX_IDLE_SECONDS)
        with _mapped("IDLE"):
            client.idle()
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    responses: list[Any] = client.idle_check(timeout=0.5)
                    if any(_is_news(r) for r in responses):
                        break
            finally:
                client.idle_done()


def _is_news(response: Any) -> bool:
    # "* 5 EXISTS" arrives as (5, b"EXISTS"); also react to "* BYE".
    return isinstance(response, tuple) and any(
        part in (b"EXISTS", b"RECENT", b"BYE") for part in response
    )


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # already gone: nothing to tell anyone
        with contextlib.suppress(Exception):  # the socket is closed already
            client.shutdown()
