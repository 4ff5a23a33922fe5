"""The campaign lane: claim a batch of recipients, compose, deliver, record.

A worker runs this lane beside the outbox lanes, with its own connections to the
transports (``transports`` in :func:`dispatch_once`): a triggered message accepted
while a big campaign is sending never waits for a connection, a thread or a claim
behind campaign mail.

Recipients are leased with :mod:`mailgate.queue.lease` (``lease_owner``,
``lease_until``; ``next_attempt_at`` is pushed to the lease's end, so a batch whose
worker died is due again once the lease runs out): a crash may send a batch's
messages a second time, never lose one. The claim happens only while the campaign
is ``sending``, so pause and cancel stop it within one batch. Suppression (scopes
``all`` and ``bulk``) is checked in the claim's transaction, at the moment of
sending; quotas, rates and throttled domains in the same transaction
(:mod:`mailgate.campaigns.limits`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from mailgate.campaigns import compose, limits
from mailgate.campaigns.state import OPEN, RECIPIENT_STATES
from mailgate.campaigns.templates import Templates
from mailgate.errors import MailgateError
from mailgate.inbound import suppression
from mailgate.queue import lease, throttling
from mailgate.queue.backoff import next_attempt
from mailgate.queue.delivery import DeliveryContext, deliver
from mailgate.queue.outbox import Claimed, Outcome
from mailgate.store.context import Context
from mailgate.store.db import transaction, update_rows
from mailgate.store.eventlog import emit
from mailgate.store.executors import run_in
from mailgate.store.models import (
    Campaign,
    CampaignRecipient,
    TransportRow,
    Workspace,
    utcnow,
)

log = logging.getLogger(__name__)

#: Recipients per claim: pause and cancel take effect within one of these.
BATCH = 200
#: Results are recorded this many messages at a time, as they come (see _deliver_recording).
CHUNK = 25
#: A temporary failure is tried this many times before the recipient fails.
MAX_ATTEMPTS = 8
#: ``campaign.progress`` at most this often per campaign.
PROGRESS_SECONDS = 5.0


@dataclass(slots=True)
class Batch:
    """One claimed batch of one campaign, composed and ready to deliver."""

    campaign_id: str
    workspace_id: str
    owner: str
    template_version: int
    claimed: list[Claimed] = field(default_factory=list)
    settled: int = 0  # suppressed without a delivery
    failed: dict[int, str] = field(default_factory=dict)  # a template failed for them
    message_ids: dict[int, str] = field(default_factory=dict)


def _walks(campaign_id: str, now: datetime) -> list[lease.Walk]:
    r = CampaignRecipient
    due = or_(r.next_attempt_at.is_(None), r.next_attempt_at <= now)
    return [
        lease.Walk((r.campaign_id == campaign_id, r.state == "deferred", due), r.id),
        lease.Walk((r.campaign_id == campaign_id, r.state == "pending", due), r.id),
    ]


def activate(app: Context, now: datetime | None = None) -> list[str]:
    """Scheduled campaigns whose time has come start sending; ids of those sending."""
    now = now or utcnow()
    due = or_(Campaign.send_at.is_(None), Campaign.send_at <= now)
    with app.sessions() as session:  # a read first: an idle lane takes no write lock
        waiting = session.scalar(
            select(Campaign.id).where(Campaign.state == "scheduled", due).limit(1)
        )
        if waiting is None:
            return list(
                session.scalars(
                    select(Campaign.id).where(Campaign.state == "sending").order_by(Campaign.id)
                )
            )
    with transaction(app.sessions) as session:
        session.execute(
            update(Campaign)
            .where(
                Campaign.state == "scheduled",
                or_(Campaign.send_at.is_(None), Campaign.send_at <= now),
            )
            .values(state="sending", resumed_at=now, updated_at=now)
        )
        return list(
            session.scalars(
                select(Campaign.id).where(Campaign.state == "sending").order_by(Campaign.id)
            )
        )


def claim(app: Context, campaign_id: str, owner: str, limit: int) -> Batch | None:
    """Lease, gate and compose one batch of ``campaign_id`` (None: not sending any more)."""
    now = utcnow()
    with app.sessions() as session:  # waiting for a quota's reset: no write lock each tick
        c = session.get(Campaign, campaign_id)
        if c is None or c.state != "sending":
            return None
        if c.blocked_until is not None and c.blocked_until > now:
            return Batch(campaign_id, c.workspace_id, owner, c.template_version)
    with transaction(app.sessions) as session:
        c = session.get(Campaign, campaign_id)
        if c is None or c.state != "sending":
            return None
        if c.blocked_until is not None and c.blocked_until > now:
            return Batch(campaign_id, c.workspace_id, owner, c.template_version)
        c.blocked_until = None
        lease_until = now + timedelta(seconds=app.settings.lease_seconds)
        rows = lease.claim(
            session,
            CampaignRecipient,
            owner,
            _walks(campaign_id, now),
            limit=limit,
            lease_seconds=app.settings.lease_seconds,
            values={"next_attempt_at": lease_until},
            returning=(
                CampaignRecipient.id,
                CampaignRecipient.email,
                CampaignRecipient.variables,
                CampaignRecipient.attempts,
            ),
            now=now,
        )
        batch = Batch(campaign_id, c.workspace_id, owner, c.template_version)
        if not rows:
            return batch
        rows = sorted(rows, key=lambda r: r.id)
        settled: list[dict[str, Any]] = []
        blocked = suppression.blocked(
            session, c.workspace_id, {r.email for r in rows}, c.category, now
        )
        for r in rows:
            if r.email in blocked:
                settled.append(_settle(r.id, "suppressed", "on the suppression list", now))
                batch.settled += 1
        rows = [r for r in rows if r.email not in blocked]
        plan, transports = _plan(session, app, c)
        todo: list[tuple[Any, compose.SenderFacts]] = []
        by_transport: dict[str, list[Any]] = {}
        for r in rows:
            t = transports[r.id % len(transports)]
            by_transport.setdefault(t.id, []).append(r)
        for tid, group in by_transport.items():
            facts = next(t for t in transports if t.id == tid)
            from_domain = _from_domain(plan, group[0].variables)
            verdict = limits.gate(
                session,
                campaign_id=c.id,
                workspace_id=c.workspace_id,
                transport_id=tid,
                from_domain=from_domain,
                rate_per_minute=c.rate_per_minute,
                emails=[r.email for r in group],
                now=now,
            )
            c.waiting = verdict.quota_wait
            if verdict.window_until is not None:
                # A full quota or rate window: the campaign waits for the reset, and the
                # refused recipients keep their place at the front of the list.
                c.blocked_until = verdict.window_until[0]
                refused = set(range(len(group))) - set(verdict.allowed) - set(verdict.throttled)
                settled.extend(_release(group[i].id) for i in refused)
            for i, (due, why) in verdict.throttled.items():
                settled.append(
                    {
                        "id": group[i].id,
                        "next_attempt_at": due,
                        "lease_owner": None,
                        "lease_until": None,
                        "last_error": why,
                    }
                )
            todo.extend((group[i], facts) for i in verdict.allowed)
        _write_settled(session, settled)
    # Composed after the commit: SQLite's write lock is not held while 200 messages are
    # rendered (triggered mail is accepted meanwhile); the rows stay leased to us.
    for r, facts in todo:
        try:
            built = compose.build(plan, app.secrets, facts, r.id, r.email, r.variables)
        except MailgateError as e:  # a template failing for this person fails them only
            batch.failed[r.id] = e.message
            continue
        batch.message_ids[r.id] = built.message_id
        batch.claimed.append(
            Claimed(
                id=compose.marker_id(r.id),
                workspace_id=batch.workspace_id,
                transport_id=facts.id,
                mail_from=built.mail_from,
                blob_key="",
                attempts=r.attempts,
                expires_at=None,
                owner=owner,
                # An HTTP provider sends bulk mail through its bulk account (SendCloud).
                category=plan.category,
                recipients={r.email: r.id},
                raw=built.raw,
            )
        )
    return batch


def _release(rid: int) -> dict[str, Any]:
    return {"id": rid, "next_attempt_at": None, "lease_owner": None, "lease_until": None}


def _settle(rid: int, state: str, why: str, now: datetime) -> dict[str, Any]:
    return {
        "id": rid,
        "state": state,
        "next_attempt_at": None,
        "lease_owner": None,
        "lease_until": None,
        "last_error": why,
    }


def _write_settled(session: Session, rows: list[dict[str, Any]]) -> None:
    """One executemany per distinct set of columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for group in groups.values():
        update_rows(session, CampaignRecipient, group)


def _from_domain(plan: compose.Plan, variables: dict[str, Any]) -> str:
    try:
        parts = plan.templates.render(variables)
        return plan.address(parts.get("from", ""), "from").domain.lower()
    except MailgateError:
        return ""


def _plan(
    session: Session, app: Context, c: Campaign
) -> tuple[compose.Plan, list[compose.SenderFacts]]:
    ws_name = session.scalar(select(Workspace.name).where(Workspace.id == c.workspace_id)) or ""
    plan = compose.Plan(
        campaign_id=c.id,
        workspace_id=c.workspace_id,
        workspace_name=ws_name,
        category=c.category,
        template_version=c.template_version,
        templates=_templates(c),
        public_base=app.settings.public_base,
        max_bytes=app.settings.max_message_bytes,
    )
    rows = {
        t.id: t
        for t in session.scalars(select(TransportRow).where(TransportRow.id.in_(c.transports)))
    }
    facts = [
        compose.SenderFacts(t.id, t.sender, t.sender_policy, t.bounce_address)
        for tid in c.transports
        if (t := rows.get(tid)) is not None
    ]
    if not facts:  # every transport deleted: deliver() fails the recipients for it
        facts = [compose.SenderFacts(tid, None, "as_is", None) for tid in c.transports[:1]]
    return plan, facts


_COMPILED: dict[tuple[str, int], Templates] = {}


def _templates(c: Campaign) -> Templates:
    """Compiled once per campaign and template version in this process."""
    key = (c.id, c.template_version)
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) > 256:
            _COMPILED.clear()
        found = _COMPILED[key] = Templates.compile(
            {
                "subject": c.subject,
                "text": c.text,
                "html": c.html,
                "from": c.from_addr,
                "reply_to": c.reply_to,
            }
        )
    return found


async def _deliver_recording(app: DeliveryContext, executor: Executor, batch: Batch) -> None:
    """Deliver a batch ``CHUNK`` messages at a time, each chunk recorded as the next goes.

    A worker killed mid-batch repeats only what it delivered and had not recorded yet:
    at most two chunks, not the whole batch.
    """
    chunks = [batch.claimed[i : i + CHUNK] for i in range(0, len(batch.claimed), CHUNK)]
    failed = batch.failed  # written with the first chunk
    recording: asyncio.Future[int] | None = None
    for chunk in chunks or [[]]:
        outcomes = await deliver(app, chunk)
        if recording is not None:
            await recording
        recording = asyncio.ensure_future(run_in(executor, record, app, batch, outcomes, failed))
        failed = {}
    if recording is not None:
        await recording


def record(
    app: Context, batch: Batch, outcomes: list[Outcome], failed: dict[int, str] | None = None
) -> int:
    """Write each result for the rows this owner still holds; returns how many were sent."""
    now = utcnow()
    settings = app.settings
    policy = throttling.Policy(
        settings.throttle_base_seconds, settings.throttle_max_seconds, settings.throttle_concurrency
    )
    sent = 0
    with transaction(app.sessions) as session:
        not_before = throttling.note(session, outcomes, policy, now)
        # Recipient ids are integers; the lease helpers only compare and bind them.
        owners = {rid: batch.owner for o in outcomes for rid in o.message.recipients.values()}
        failed = failed or {}
        owners.update({rid: batch.owner for rid in failed})
        mine: set[Any] = lease.held(
            session, CampaignRecipient, cast(Any, owners), what="campaign recipient"
        )
        rows: list[dict[str, Any]] = [
            {
                "id": rid,
                "attempts": 1,
                "lease_owner": None,
                "lease_until": None,
                "state": "failed",
                "next_attempt_at": None,
                "last_error": why,
                "message_id": None,
                "template_version": batch.template_version,
                "sent_at": None,
            }
            for rid, why in failed.items()
            if rid in mine
        ]
        for o in outcomes:
            rid = next(iter(o.message.recipients.values()))
            if rid not in mine:
                continue
            res = o.results[0] if o.results else None
            attempts = o.message.attempts + 1
            base = {"id": rid, "attempts": attempts, "lease_owner": None, "lease_until": None}
            if res is not None and res.accepted:
                sent += 1
                rows.append(
                    {
                        **base,
                        "state": "sent",
                        "next_attempt_at": None,
                        "message_id": batch.message_ids.get(rid),
                        "template_version": batch.template_version,
                        "sent_at": now,
                        "last_error": None,
                        # Provider events find the recipient by these (events/providers.py).
                        "transport_id": o.message.transport_id,
                        "provider_message_id": res.provider_message_id,
                    }
                )
                continue
            text = res.text if res is not None else "no result from the transport"
            permanent = res is None or res.permanent
            if permanent or attempts >= MAX_ATTEMPTS:
                rows.append(
                    {**base, "state": "failed", "next_attempt_at": None, "last_error": text,
                     "message_id": None, "template_version": None, "sent_at": None}
                )
                continue
            due = next_attempt(
                now, attempts, base=settings.retry_base_seconds, cap=settings.retry_max_seconds
            )
            if o.message.id in not_before:
                due = max(due, not_before[o.message.id])
            rows.append(
                {**base, "state": "deferred", "next_attempt_at": due, "last_error": text,
                 "message_id": None, "template_version": None, "sent_at": None}
            )
        for r in rows:  # update_rows wants the same columns in every row
            r.setdefault("transport_id", None)
            r.setdefault("provider_message_id", None)
        update_rows(session, CampaignRecipient, rows)
    return sent


def counts(session: Session, campaign_id: str) -> dict[str, int]:
    """Recipients per state (every state present, zero when none)."""
    found = Counter(
        dict(
            session.execute(
                select(CampaignRecipient.state, func.count())
                .where(CampaignRecipient.campaign_id == campaign_id)
                .group_by(CampaignRecipient.state)
            ).all()
        )
    )
    return {s: int(found.get(s, 0)) for s in RECIPIENT_STATES}


def _left(session: Session, campaign_id: str) -> int | None:
    """A recipient still to send, if any."""
    return session.scalar(
        select(CampaignRecipient.id)
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.state.in_(OPEN))
        .limit(1)
    )


def _settle_due(session: Session, campaign_id: str, now: datetime, force: bool) -> bool:
    c = session.get(Campaign, campaign_id)
    if c is None or c.state != "sending":
        return False
    if force or c.progress_at is None or (now - c.progress_at).total_seconds() >= PROGRESS_SECONDS:
        return True
    return _left(session, campaign_id) is None


def settle(app: Context, campaign_id: str, *, force: bool = False) -> None:
    """``done`` when nothing is left to send; ``campaign.progress`` every few seconds."""
    now = utcnow()
    with app.sessions() as session:  # a read first: most steps have nothing to write
        if not _settle_due(session, campaign_id, now, force):
            return
    with transaction(app.sessions) as session:
        c = session.get(Campaign, campaign_id)
        if c is None or c.state != "sending" or not _settle_due(session, campaign_id, now, force):
            return
        left = _left(session, campaign_id)
        n = counts(session, campaign_id)
        payload = {"campaign": c.id, "name": c.name, "counts": n, "total": c.total}
        if left is None:
            c.state = "done"
            c.finished_at = now
            c.waiting = None
            if c.resumed_at is not None:
                c.active_seconds += (now - c.resumed_at).total_seconds()
            c.resumed_at = None
            emit(session, c.workspace_id, "campaign.done", payload, now=now)
        else:
            c.progress_at = now
            payload["state"] = c.state
            emit(session, c.workspace_id, "campaign.progress", payload, now=now)
        c.updated_at = now


async def dispatch_once(
    app: DeliveryContext, executor: Executor, *, limit: int = BATCH, start: int = 0
) -> int:
    """One batch of each sending campaign (from ``start``, in turn); returns how many."""
    ids = await run_in(executor, activate, app)
    handled = 0
    for i in range(len(ids)):
        campaign_id = ids[(start + i) % len(ids)]
        owner = lease.new_owner("campaign")
        batch = await run_in(executor, claim, app, campaign_id, owner, limit)
        if batch is None:
            continue
        if batch.claimed or batch.failed:
            ids_held = [rid for c in batch.claimed for rid in c.recipients.values()]
            async with lease.Heartbeat(
                app.sessions,
                CampaignRecipient,
                owner,
                cast(Any, ids_held),
                lease_seconds=app.settings.lease_seconds,
            ):
                await _deliver_recording(app, executor, batch)
            handled += len(batch.claimed) + len(batch.failed)
        handled += batch.settled
        await run_in(executor, settle, app, campaign_id)
    return handled

