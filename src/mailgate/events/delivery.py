"""Deliver webhook rows from the durable queue: claim with a lease, POST, record.

The rows are written by :mod:`mailgate.store.eventlog` in the same transaction as
the event. This module follows :mod:`mailgate.queue.outbox`: a claim moves due
rows to ``sending`` under a lease; a worker killed mid-delivery leaves the lease
to run out and the row is claimed again (a receiver may see a delivery twice, so
it should de-duplicate on ``X-Mailgate-Delivery``; it never misses one).

Statuses: ``pending`` → ``sending`` → ``delivered`` | ``retrying`` | ``failed``.
A 2xx answer is delivered; any other answer, a timeout or a connection error is
retried with exponential backoff and jitter until ``max_attempts`` or the message
lifetime, then failed with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailgate.core.netpolicy import parse_ip_literal
from mailgate.errors import SecretUnreadable
from mailgate.events.webhooks import SIGNATURE_HEADER, payload, secret_of, sign
from mailgate.outbound.netguard import NetGuard, NetworkRefused, ResolveFailed
from mailgate.queue import lease
from mailgate.queue.backoff import next_attempt
from mailgate.queue.lanes import run_lane
from mailgate.store import metrics
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.store.models import Event, WebhookDelivery, WebhookSubscription, utcnow

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 12
TIMEOUT_SECONDS = 10.0
#: How much of a receiver's answer is read, and how many characters of it are kept in
#: ``last_error``: enough to see what went wrong, too little to read anything out
#: through a webhook pointed at some other service.
ERROR_BODY_BYTES = 300
ERROR_EXCERPT_CHARS = 200
USER_AGENT = "mailgate-webhooks/1"


@dataclass(slots=True)
class Job:
    """A delivery a dispatcher holds the lease on, with everything the POST needs."""

    id: str
    event_type: str
    url: str
    secret: str
    body: bytes
    attempts: int
    created_at: datetime
    enabled: bool
    #: The network policy this URL is delivered under (None: connect as told).
    guard: NetGuard | None = field(default=None, repr=False)
    #: Where the host is resolved: the webhooks' own pool, never the shared one.
    executor: Executor | None = field(default=None, repr=False)
    #: Look-ups shared by the jobs of one batch: a host is resolved once per batch,
    #: so fifty deliveries to one slow host hold one thread of the pool, not all.
    lookups: dict[tuple[str, int, bool], asyncio.Future[list[str]]] | None = field(
        default=None, repr=False
    )
    #: Why it cannot be signed (a secret sealed under a dropped key): recorded, retried.
    unsigned: str | None = None


@dataclass(slots=True)
class Result:
    """What one attempt produced: a 2xx, or the code and/or error to keep."""

    job: Job
    ok: bool
    code: int | None
    error: str | None


def claim(
    session: Session, owner: str, *, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[str]:
    """Take up to ``limit`` due deliveries under a lease (:mod:`mailgate.queue.lease`)."""
    now = now or utcnow()
    d = WebhookDelivery
    walks = [
        lease.Walk((d.status == "retrying", d.next_attempt_at <= now), d.next_attempt_at),
        lease.Walk((d.status == "pending", d.next_attempt_at <= now), d.next_attempt_at),
        # its worker died holding the lease
        lease.Walk((d.status == "sending", d.lease_until < now), d.next_attempt_at),
    ]
    rows = lease.claim(
        session,
        d,
        owner,
        walks,
        limit=limit,
        lease_seconds=lease_seconds,
        values={"status": "sending", "updated_at": now},
        now=now,
    )
    return [r.id for r in rows]


def load_jobs(app: Context, session: Session, ids: list[str]) -> list[Job]:
    """Join claimed rows with their event and subscription; the secret decrypted."""
    if not ids:
        return []
    lookups: dict[tuple[str, int, bool], asyncio.Future[list[str]]] = {}
    rows = session.execute(
        select(WebhookDelivery, Event, WebhookSubscription)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id.in_(ids))
    ).all()
    return [
        Job(
            id=d.id,
            event_type=ev.type,
            url=sub.url,
            secret=_secret(app, sub),
            body=payload(ev),
            attempts=d.attempts,
            created_at=d.created_at,
            enabled=sub.enabled,
            guard=NetGuard.from_settings(app.settings).trusting(bool(sub.private_network)),
            executor=app.executors.webhooks,
            lookups=lookups,
            unsigned=None if app.secrets.describe(sub.secret)["secrets_readable"] else _UNSIGNED,
        )
        for d, ev, sub in rows
    ]


_UNSIGNED = (
    "the subscription's secret cannot be decrypted with MAILGATE_SECRET_KEY or "
    "MAILGATE_OLD_SECRET_KEYS; set it again (PATCH) or restore the key"
)


def _secret(app: Context, sub: WebhookSubscription) -> str:
    """The signing secret, or "" when no key opens it (one such row must not stop a batch)."""
    try:
        return secret_of(app.secrets, sub)
    except SecretUnreadable:
        return ""


def record(
    session: Session,
    owner: str,
    results: list[Result],
    *,
    retry_base: float,
    retry_cap: float,
    max_attempts: int,
    lifetime_seconds: float,
    now: datetime | None = None,
) -> dict[str, str]:
    """Write each attempt's outcome on its row; returns delivery id → new status.

    Only rows this owner still leases are written: if a lease ran out and another
    worker took the row over, that worker's result is the one that counts.
    """
    now = now or utcnow()
    statuses: dict[str, str] = {}
    for res in results:
        job = res.job
        count = job.attempts + 1
        expires = job.created_at + timedelta(seconds=lifetime_seconds)
        nxt: datetime | None = None
        error = res.error
        if res.ok:
            status, error = "delivered", None
        elif not job.enabled:
            status = "failed"
        elif count >= max_attempts:
            status, error = "failed", f"gave up after {count} attempts; last: {res.error}"
        elif expires <= now:
            status, error = "failed", f"expired after {count} attempts; last: {res.error}"
        else:
            status = "retrying"
            nxt = min(next_attempt(now, count, base=retry_base, cap=retry_cap), expires)
        done = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == job.id, WebhookDelivery.lease_owner == owner)
            .values(
                status=status,
                attempts=count,
                last_code=res.code,
                last_error=error,
                next_attempt_at=nxt,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        # Session.execute is typed as Result; an UPDATE gives a CursorResult with rowcount.
        if done.rowcount:  # type: ignore[attr-defined]
            statuses[job.id] = status
    metrics.note_webhooks(session, statuses)  # counted once committed
    return statuses


async def post(client: httpx.AsyncClient, job: Job) -> Result:
    """One signed POST. httpx errors are mapped into a Result here and nowhere else."""
    if not job.enabled:
        return Result(job, False, None, "the webhook is disabled")
    if job.unsigned:
        return Result(job, False, None, job.unsigned)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Mailgate-Event": job.event_type,
        "X-Mailgate-Delivery": job.id,
        SIGNATURE_HEADER: sign(job.secret, job.body),
    }
    try:
        url, extensions = await _checked_target(job, headers)
    except NetworkRefused as exc:
        return Result(job, False, None, f"policy: {exc}")
    except ResolveFailed as exc:
        return Result(job, False, None, f"dns: {exc}")
    except (httpx.InvalidURL, ValueError) as exc:
        return Result(job, False, None, f"config: {exc}")
    try:
        request = client.build_request(
            "POST", url, content=job.body, headers=headers, extensions=extensions
        )
        response = await client.send(request, stream=True)
        try:
            head = b""
            async for chunk in response.aiter_bytes():
                head += chunk
                if len(head) >= ERROR_BODY_BYTES:
                    break
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        return Result(job, False, None, f"timed out after {TIMEOUT_SECONDS:g} s")
    except httpx.HTTPError as e:
        return Result(job, False, None, f"{type(e).__name__}: {e}".rstrip(": "))
    code = response.status_code
    if 200 <= code < 300:
        return Result(job, True, code, None)
    text = excerpt(head)
    # The standard phrase, not the peer's: its status line is its text, not ours to keep.
    phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else ""
    reason = f"HTTP {code} {phrase}".strip()
    if 300 <= code < 400:
        reason += " (redirects are not followed)"
    return Result(job, False, code, f"{reason}: {text}" if text else reason)


def excerpt(body: bytes, limit: int = ERROR_EXCERPT_CHARS) -> str:
    """A short, printable excerpt of a receiver's answer for ``last_error``.

    Control characters (newlines, escapes, NUL) become spaces, runs of space one,
    and at most ``limit`` characters are kept, marked with ``…`` when cut.
    """
    text = body[:ERROR_BODY_BYTES].decode("utf-8", "replace")
    text = "".join(" " if not c.isprintable() else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _lookup(job: Job, guard: NetGuard, host: str, port: int) -> list[str]:
    """The checked addresses of ``host``, looked up once for all the jobs of a batch."""
    if job.lookups is None:
        return await guard.acheck(host, port, job.executor)
    key = (host, port, guard.unrestricted)
    found = job.lookups.get(key)
    if found is None:
        found = asyncio.ensure_future(guard.acheck(host, port, job.executor))
        job.lookups[key] = found
    return await found


async def _checked_target(job: Job, headers: dict[str, str]) -> tuple[httpx.URL, dict[str, str]]:
    """The URL to POST to, its host replaced by an address the policy allows.

    The name is resolved once, every address is checked, and the request goes to
    a checked address (DNS rebinding cannot swap it in between); ``Host`` and, for
    https, the TLS server name and certificate check keep the name.
    """
    url = httpx.URL(job.url)
    if url.userinfo:  # refused when saved; a row from before that is refused here
        raise ValueError("the URL must not carry a user name or password")
    if job.guard is None:
        return url, {}
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await _lookup(job, job.guard, host, port)
    headers["Host"] = url.netloc.decode("ascii")
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    if parse_ip_literal(host) is not None:
        extensions = {}  # an address in the URL: nothing to name in SNI
    return url.copy_with(host=addresses[0]), extensions


def _owner() -> str:
    return f"{socket.gethostname()[:50]}:{os.getpid()}:wh"


class WebhookDispatcher:
    """Runs webhook lanes until ``stop`` is set; ``wake()`` cuts the idle wait short.

    ``max_attempts`` defaults to ``settings.extra["webhook_max_attempts"]`` (read at
    every batch, so a test or an operator can change it live), else 12.
    """

    def __init__(
        self,
        app: Context,
        *,
        lanes: int = 2,
        idle_seconds: float = 1.0,
        batch: int = 50,
        max_attempts: int | None = None,
        owner: str | None = None,
    ) -> None:
        self.app = app
        self.owner = owner or _owner()
        self.lanes = lanes
        self.idle_seconds = idle_seconds
        self.batch = batch
        self._max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    @property
    def max_attempts(self) -> int:
        if self._max_attempts is not None:
            return self._max_attempts
        raw = self.app.settings.extra.get("webhook_max_attempts")
        return int(raw) if raw else DEFAULT_MAX_ATTEMPTS

    def wake(self) -> None:
        self._wake.set()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=TIMEOUT_SECONDS,
                follow_redirects=False,
                # Never route a business app's webhooks through an ambient proxy.
                trust_env=False,
                limits=httpx.Limits(max_connections=self.app.settings.worker_concurrency),
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        self.app.add_waker(self.wake)
        try:
            await asyncio.gather(*(self._lane(stop) for _ in range(self.lanes)))
        finally:
            self.app.remove_waker(self.wake)
            await self.aclose()

    async def run_once(self) -> int:
        """Claim, deliver and record one batch; returns how many deliveries it handled."""
        # A lease owner per batch: a lane whose lease ran out cannot overwrite the
        # result of whichever lane (of this process or another) took the row over.
        owner = f"{self.owner}/{secrets.token_hex(4)}"
        jobs = await run_in(self.app.executors.webhooks, self._claim, owner)
        if not jobs:
            return 0
        client = self._http()
        beat = lease.Heartbeat(
            self.app.sessions,
            WebhookDelivery,
            owner,
            [j.id for j in jobs],
            lease_seconds=self.app.settings.lease_seconds,
        )
        async with beat:  # a receiver slower than the lease keeps its row
            results = await asyncio.gather(*(post(client, job) for job in jobs))
        await run_in(self.app.executors.webhooks, self._record, owner, list(results))
        return len(jobs)

    async def drain(self) -> None:
        """Deliver until nothing is due now."""
        while await self.run_once():
            pass

    def _claim(self, owner: str) -> list[Job]:
        with transaction(self.app.sessions) as session:
            ids = claim(
                session, owner, limit=self.batch, lease_seconds=self.app.settings.lease_seconds
            )
            return load_jobs(self.app, session, ids)

    def _record(self, owner: str, results: list[Result]) -> dict[str, str]:
        s = self.app.settings
        with transaction(self.app.sessions) as session:
            return record(
                session,
                owner,
                results,
                retry_base=s.retry_base_seconds,
                retry_cap=s.retry_max_seconds,
                max_attempts=self.max_attempts,
                lifetime_seconds=s.message_lifetime_seconds,
            )

    async def _lane(self, stop: asyncio.Event) -> None:
        await run_lane(
            stop, self._wake, self.run_once, idle_seconds=self.idle_seconds, name="webhook"
        )
