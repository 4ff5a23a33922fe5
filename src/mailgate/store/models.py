"""SQLAlchemy models. The schema itself is owned by Alembic migrations.

One ``messages`` table serves both directions so that one index on Message-ID
threads replies to what mailgate sent and to what it received (DESIGN.md).
Outbound queue state lives in columns on ``messages`` (no join on the hot path).
"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


# RFC 4648 base32 symbols, mapped in order onto ASCII-ascending ones so ids sort by time.
_SORTABLE = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz"
)


def new_id(prefix: str) -> str:
    """A sortable id: prefix, 48-bit millisecond time, 72 random bits, in base32."""
    raw = int(time.time() * 1000).to_bytes(6, "big") + secrets.token_bytes(9)
    return f"{prefix}_{base64.b32encode(raw).translate(_SORTABLE).decode()}"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: "participants" | "anyone": who may join a thread by quoting its Message-ID.
    thread_admission: Mapped[str] = mapped_column(String(16), default="participants")
    #: IANA zone name: where the day of a daily quota begins and ends.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReceivingDomain(Base):
    """A domain whose mail belongs to one workspace; the operator assigns it."""

    __tablename__ = "receiving_domains"
    __table_args__ = (UniqueConstraint("domain", name="uq_receiving_domains_domain"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))  # lower-case A-labels
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: None for operator keys, which manage the installation and every workspace.
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    operator: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(200), default="")
    # sha256 of the key: keys are 256-bit random, so a fast hash is as good as a slow one.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class TransportRow(Base):
    __tablename__ = "transports"
    __table_args__ = (
        # At most one default per scope, enforced by the database.
        Index(
            "uq_transports_default_per_scope",
            "scope_key",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))  # system | workspace | team
    scope_key: Mapped[str] = mapped_column(String(60))  # "system" | workspace id | team id
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)  # encrypted JSON (crypto.SecretBox)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(16), default="queued")
    sender: Mapped[str | None] = mapped_column(String(320))
    sender_policy: Mapped[str] = mapped_column(String(20), default="as_is")
    bounce_address: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: An operator saved its host: it may reach networks the policy refuses a workspace.
    private_network: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: What an HTTP provider's account API said (domain state, quota, balance; 0010).
    provider_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Sending limits (queue/limits.py); None is no limit.
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    rate_per_second: Mapped[int | None] = mapped_column(Integer)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)
    max_connections: Mapped[int | None] = mapped_column(Integer)
    #: Failover (queue/failover.py): after this many attempts, send through the fallback.
    fallback_transport_id: Mapped[str | None] = mapped_column(String(40))
    failover_after: Mapped[int | None] = mapped_column(Integer)
    #: Warm-up (core/warmup.py): a daily quota that grows while bounces and complaints
    #: stay low; ``warmup`` is the plan, ``warmup_state`` where it stands.
    warmup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    warmup_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Blob(Base):
    __tablename__ = "blobs"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key", name="uq_messages_idempotency"),
        Index("ix_messages_message_id", "message_id"),
        Index("ix_messages_due", "status", "next_attempt_at"),
        Index("ix_messages_ws_status", "workspace_id", "status", "id"),  # journals, newest first
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    status: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="normal")
    conversation_id: Mapped[str | None] = mapped_column(String(40))
    transport_id: Mapped[str | None] = mapped_column(
        ForeignKey("transports.id", ondelete="SET NULL")
    )
    message_id: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    mail_from: Mapped[str] = mapped_column(String(320), default="")
    headers: Mapped[str] = mapped_column(Text, default="")
    blob_key: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(20))  # inbound: smtp, imap, pop3, ...
    rcpt_to: Mapped[list[Any]] = mapped_column(default=list)  # inbound envelope recipients
    # Inbound authentication (inbound/authentication.py): the SMTP client's address and
    # HELO (SPF needs both), and the SPF/DKIM/DMARC verdicts computed or trusted.
    peer_ip: Mapped[str | None] = mapped_column(String(45))
    helo: Mapped[str | None] = mapped_column(String(255))
    auth: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: transactional | bulk: a ``bulk`` suppression (an unsubscribe) blocks only bulk mail.
    category: Mapped[str] = mapped_column(String(16), default="transactional")


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (Index("ix_recipients_message", "message_pk"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_pk: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    field: Mapped[str] = mapped_column(String(4))  # to | cc | bcc
    status: Mapped[str] = mapped_column(String(16), default="pending")
    code: Mapped[int | None]
    enhanced_status: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The provider's id of what was sent to this recipient: provider events match on it.
    provider_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    #: The last provider event (delivered, opened, clicked, ...) and when it came.
    provider_status: Mapped[str | None] = mapped_column(String(20))
    provider_event_at: Mapped[datetime | None]


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_recipient", "recipient_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    code: Mapped[int | None]
    enhanced_status: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    transient: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The receiving domain asked us to slow down (core/throttle.py).
    throttled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: An HTTP provider's id for the message and its answer (outbound/http.py; 0010).
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    provider_response: Mapped[str | None] = mapped_column(Text)


class ProviderEvent(Base):
    """One provider event webhook item (Mailgun, SendCloud), matched or not; never twice.

    ``replay_key`` is the signed request's MAC plus the item's index: a replayed
    request finds its key taken. Unmatched items (a provider id we never sent) are
    kept here with ``matched`` false and change nothing (docs/providers.md).
    """

    __tablename__ = "provider_events"
    __table_args__ = (
        UniqueConstraint("transport_id", "replay_key", name="uq_provider_events_replay"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transport_id: Mapped[str] = mapped_column(ForeignKey("transports.id", ondelete="CASCADE"))
    replay_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    recipient: Mapped[str | None] = mapped_column(String(320))
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    message_pk: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    __tablename__ = "suppressions"
    # One entry per scope: an unsubscribe (bulk, permanent) and a soft-bounce pause
    # (all, expiring) on one address must not overwrite each other.
    __table_args__ = (
        UniqueConstraint("workspace_id", "address", "scope", name="uq_suppressions_scope"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(40))
    source_message_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    scope: Mapped[str] = mapped_column(String(8), default="all")  # all | bulk


class SoftBounce(Base):
    """One proven 4.x.x report for an address: enough of them within a window suppress it."""

    __tablename__ = "soft_bounces"
    __table_args__ = (Index("ix_soft_bounces_address", "workspace_id", "address", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    message_pk: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_ws_created", "workspace_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    message_pk: Mapped[str | None] = mapped_column(String(40))
    conversation_id: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SupportAddress(Base):
    """An address mailgate receives for (support@acme.com), verified by a round trip."""

    __tablename__ = "addresses"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(320), unique=True)
    transport_id: Mapped[str | None] = mapped_column(
        ForeignKey("transports.id", ondelete="SET NULL")
    )
    verify_token: Mapped[str | None] = mapped_column(String(80))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The last verification mail sent (its delivery is the last check's result).
    verify_message_pk: Mapped[str | None] = mapped_column(String(40))
    #: The default From of the workspace (or of its team) when a message names none.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Its mail server was disconnected: replies no longer go out through it.
    disconnected_at: Mapped[datetime | None]


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_ws_updated", "workspace_id", "updated_at"),
        Index("ix_conversations_reference", "workspace_id", "reference_type", "reference_id"),
        Index("ix_conversations_assignee", "assignee_id", "updated_at"),
        UniqueConstraint("tag", name="uq_conversations_tag"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    address_id: Mapped[str | None] = mapped_column(ForeignKey("addresses.id", ondelete="SET NULL"))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    #: The console user (admin or agent of the workspace) working it; None: unassigned.
    assignee_id: Mapped[str | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL", name="fk_conversations_assignee")
    )
    subject: Mapped[str] = mapped_column(Text, default="")
    # Short random handle for reply addresses and subject tags ("[#k3j9x2m4qz]").
    tag: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    reference_type: Mapped[str | None] = mapped_column(String(60))
    reference_id: Mapped[str | None] = mapped_column(String(200))
    participants: Mapped[list[Any]] = mapped_column(default=list)
    #: The thread a stranger answered, when their answer opened this conversation.
    related_id: Mapped[str | None] = mapped_column(String(40))
    #: Why this conversation was opened instead of joining ``related_id`` because its
    #: first message failed DMARC (inbound/routing.py); None otherwise.
    auth_warning: Mapped[str | None] = mapped_column(Text)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Source(Base):
    """An inbound source a workspace configured: imap, pop3, mailgun (webhook)."""

    __tablename__ = "sources"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. {"uidvalidity": 17}
    last_polled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The one worker polling this source, across every process (queue.lease).
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: An operator saved its host: it may reach networks the policy refuses a workspace.
    private_network: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CorrespondentBreaker(Base):
    """RFC 3834 §2: automatic mail from one correspondent, counted per window."""

    __tablename__ = "correspondent_breakers"
    __table_args__ = (
        UniqueConstraint("workspace_id", "address", name="uq_correspondent_breakers"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    window_start: Mapped[datetime] = mapped_column(default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=0)
    tripped_until: Mapped[datetime | None]


class SourceItem(Base):
    """What a source has taken (UIDVALIDITY:UID, a UIDL, a webhook token): never twice."""

    __tablename__ = "source_items"
    __table_args__ = (UniqueConstraint("source_id", "item_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(40))
    item_key: Mapped[str] = mapped_column(String(300))
    message_pk: Mapped[str | None] = mapped_column(String(40))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(Text)  # encrypted (crypto.SecretBox)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: An operator saved its host: it may reach networks the policy refuses a workspace.
    private_network: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_sub", "subscription_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    last_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendingDomain(Base):
    """A domain a workspace sends from: the DNS records to publish and their last check."""

    __tablename__ = "sending_domains"
    __table_args__ = (
        UniqueConstraint("name", name="uq_sending_domains_name"),
        Index("ix_sending_domains_due", "next_check_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(253))  # lower-case A-labels
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|verified|degraded
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    records: Mapped[list[Any]] = mapped_column(default=list)  # the last check, per record
    verified_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sending limits for mail from this domain (queue/limits.py); None is no limit.
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    rate_per_second: Mapped[int | None] = mapped_column(Integer)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)
    max_connections: Mapped[int | None] = mapped_column(Integer)
    warmup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    warmup_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AliasDomain(Base):
    """A company's domain inside a workspace (Odoo's alias domains, multi-company).

    Mail whose From is on it leaves through its transport, and carries its default
    Reply-To (the company's catch-all) when the caller gives none.
    """

    __tablename__ = "alias_domains"
    __table_args__ = (UniqueConstraint("workspace_id", "domain", name="uq_alias_domains"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))  # lower-case A-labels
    transport_id: Mapped[str | None] = mapped_column(
        ForeignKey("transports.id", ondelete="SET NULL")
    )
    reply_to: Mapped[str | None] = mapped_column(String(320))
    #: False for a support domain whose replies must not go to a catch-all.
    catchall: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DmarcReport(Base):
    """One DMARC aggregate report (RFC 7489 §7.2) a receiver sent about a sending domain."""

    __tablename__ = "dmarc_reports"
    __table_args__ = (
        # A reporter re-sends a report it is unsure arrived: it is stored once.
        UniqueConstraint("domain_id", "org_name", "report_id", name="uq_dmarc_reports"),
        Index("ix_dmarc_reports_domain", "domain_id", "begin_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    domain_id: Mapped[str] = mapped_column(ForeignKey("sending_domains.id", ondelete="CASCADE"))
    message_pk: Mapped[str | None] = mapped_column(String(40))  # the mail that carried it
    org_name: Mapped[str] = mapped_column(String(255))
    report_id: Mapped[str] = mapped_column(String(255))
    begin_at: Mapped[datetime]
    end_at: Mapped[datetime]
    policy: Mapped[str] = mapped_column(String(16), default="")
    messages: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)  # DKIM or SPF aligned pass
    rows: Mapped[list[Any]] = mapped_column(default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DkimKey(Base):
    """One DKIM key of a sending domain; rotation adds a second selector."""

    __tablename__ = "dkim_keys"
    __table_args__ = (
        UniqueConstraint("domain_id", "selector", "algorithm", name="uq_dkim_keys_selector"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    domain_id: Mapped[str] = mapped_column(ForeignKey("sending_domains.id", ondelete="CASCADE"))
    selector: Mapped[str] = mapped_column(String(63))
    algorithm: Mapped[str] = mapped_column(String(16))  # rsa-sha256 | ed25519-sha256
    private_key: Mapped[str] = mapped_column(Text)  # encrypted (crypto.SecretBox)
    public_key: Mapped[str] = mapped_column(Text)  # the p= value
    #: pending (published, not yet verified) → active → retiring → retired
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]
    retire_after: Mapped[datetime | None]


class SendCounter(Base):
    """Messages counted in one window of one limited scope, shared by every worker.

    ``scope_key`` is ``transport:<id>`` or ``domain:<id>``; ``window`` is ``day``,
    ``minute`` or ``second``. Incremented with one upsert per scope and claim.
    """

    __tablename__ = "send_counters"
    scope_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window: Mapped[str] = mapped_column(String(8), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    #: ``quota.exhausted`` was emitted for this window (once per scope and day).
    exhausted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class DestinationThrottle(Base):
    """A receiving domain that asked one transport to slow down (421, 4.7.28, TS01...)."""

    __tablename__ = "destination_throttles"
    __table_args__ = (
        UniqueConstraint("transport_id", "domain", name="uq_destination_throttles"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transport_id: Mapped[str] = mapped_column(ForeignKey("transports.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    #: Nothing goes to the domain before this.
    until: Mapped[datetime]
    #: Throttling replies in a row: the backoff doubles with each.
    strikes: Mapped[int] = mapped_column(Integer, default=1)
    #: Messages per claim to the domain while ``cut_until`` has not passed.
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    cut_until: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- console: users, sessions, login throttling (web/, services/users.py) ---------------


class ConsoleUser(Base):
    """A person who signs in to the console: an operator, or a workspace admin or agent."""

    __tablename__ = "console_users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-case
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id (argon2-cffi)
    role: Mapped[str] = mapped_column(String(16))  # operator | admin | agent
    #: None for operators, who see every workspace.
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    language: Mapped[str | None] = mapped_column(String(16))  # None: Accept-Language
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the workspace's
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in browser: only the sha256 of the cookie's value is stored."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_user", "user_id"),)
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class LoginThrottle(Base):
    """Failed sign-ins per account (``account:EMAIL``) or per client (``ip:ADDRESS``)."""

    __tablename__ = "login_throttles"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]


class Campaign(Base):
    """A bulk send: templates rendered per recipient at send time (campaigns/)."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_ws", "workspace_id", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    from_addr: Mapped[str] = mapped_column(String(998))
    reply_to: Mapped[str | None] = mapped_column(String(998))
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    #: Bumped on every template change: a sent recipient records the version it got.
    template_version: Mapped[int] = mapped_column(Integer, default=1)
    transports: Mapped[list[Any]] = mapped_column(default=list)  # transport ids, in turn
    category: Mapped[str] = mapped_column(String(16), default="bulk")
    send_at: Mapped[datetime | None]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)
    # draft | scheduled | sending | paused | done | cancelled
    state: Mapped[str] = mapped_column(String(16), default="draft")
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: Seconds spent sending before the last pause, and when sending last (re)started.
    active_seconds: Mapped[float] = mapped_column(default=0.0)
    resumed_at: Mapped[datetime | None]
    progress_at: Mapped[datetime | None]  # the last campaign.progress event
    waiting: Mapped[str | None] = mapped_column(Text)  # why nothing leaves now (a quota)
    blocked_until: Mapped[datetime | None]  # a full quota or rate window resets then
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class CampaignRecipient(Base):
    """One person of a campaign: variables in, and the proof of what was sent out."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "email", name="uq_campaign_recipients_email"),
        # The dispatch scan: one campaign's due rows in upload order.
        Index("ix_campaign_recipients_due", "campaign_id", "state", "id"),
        # Only sent rows have one: a list being uploaded adds nothing to this index.
        Index(
            "ix_campaign_recipients_message_id",
            "message_id",
            sqlite_where=text("message_id IS NOT NULL"),
            postgresql_where=text("message_id IS NOT NULL"),
        ),
        Index(
            "ix_campaign_recipients_provider_message_id",
            "provider_message_id",
            sqlite_where=text("provider_message_id IS NOT NULL"),
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # lower-cased: one send per address
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # pending | sent | deferred | failed | bounced | complained | unsubscribed | suppressed
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(255))
    template_version: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # The transport it went out through and the id an HTTP provider gave it.
    transport_id: Mapped[str | None] = mapped_column(String(40))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))


class OAuthClient(Base):
    """An OAuth2 client registration (docs/oauth.md): the installation's (no
    workspace, set by an operator) or one workspace's own. The secret is encrypted."""

    __tablename__ = "oauth_clients"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(20))  # google | microsoft | generic
    client_id: Mapped[str] = mapped_column(String(400))
    secrets: Mapped[str | None] = mapped_column(Text)  # encrypted {"client_secret"}
    #: Endpoints and scopes for ``generic``; ``tenant``/``scopes`` overrides otherwise.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OAuthConnection(Base):
    """Tokens for one transport or source (services/oauth.py). ``state``: ok |
    refreshing | reauth_required. The lease makes one worker refresh at a time."""

    __tablename__ = "oauth_connections"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    client_ref: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    transport_id: Mapped[str | None] = mapped_column(
        ForeignKey("transports.id", ondelete="CASCADE"), unique=True
    )
    source_id: Mapped[str | None] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), unique=True
    )
    tokens: Mapped[str | None] = mapped_column(Text)  # encrypted {"access_token", "refresh_token"}
    expires_at: Mapped[datetime | None]
    scope: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="ok")
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
