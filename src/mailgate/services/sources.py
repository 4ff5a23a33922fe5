"""Inbound sources of a workspace: IMAP and POP3 mailboxes, Mailgun routes.

Each kind's settings are its pydantic ``Config`` model; fields marked
``json_schema_extra={"secret": True}`` (the mailbox password, the Mailgun signing
key) are kept apart, encrypted with :class:`mailgate.crypto.SecretBox`, and never
returned: :func:`public` only says which are set.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailgate.crypto import SecretBox
from mailgate.errors import Conflict, InvalidInput, NotFound
from mailgate.inbound.base import PollResult
from mailgate.inbound.kinds import PUSH_KINDS, SOURCE_KINDS
from mailgate.inbound.pollers import POLLERS, build_poller, record_error, record_pass
from mailgate.inbound.pollers import validate_config as _validate
from mailgate.outbound.netguard import NetGuard, approve_host, target
from mailgate.services import roles
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import Source, SourceItem, new_id

#: kind → settings model: the one registry of source kinds (inbound/kinds.py).
KINDS: dict[str, type[BaseModel]] = SOURCE_KINDS


def config_model(kind: str) -> type[BaseModel]:
    try:
        return KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise InvalidInput(f"unknown source kind {kind!r} (known: {known})", field="kind") from None


def secret_fields(kind: str) -> set[str]:
    """Names of write-only settings of ``kind``."""
    return {
        name
        for name, info in config_model(kind).model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("secret")
    }


def public(row: Source, box: SecretBox) -> dict[str, Any]:
    """The API view: everything but the secrets, which are only said to be set."""
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "enabled": row.enabled,
        "config": dict(row.config),
        **box.describe(row.secrets),  # secrets_set, secrets_readable
        # An operator chose the host: the network policy does not apply to it.
        "private_network": bool(row.private_network),
        "state": dict(row.state or {}),
        "last_polled_at": row.last_polled_at.isoformat() if row.last_polled_at else None,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
    }
    if row.kind == "mailgun":
        out["webhook_path"] = f"/v1/inbound/mailgun/{row.id}"
    if row.kind in PUSH_KINDS:  # every push kind; absolute under MAILGATE_PUBLIC_URL (api)
        out["push_path"] = PUSH_KINDS[row.kind].webhook_path(row.id)
    return out


def _split_config(
    box: SecretBox, kind: str, config: dict[str, Any], old_token: str | None
) -> tuple[dict[str, Any], str | None]:
    """Validate a kind's config, keep secrets apart, encrypted; absent secrets are kept."""
    plain, secrets = box.merge(config, secret_fields(kind), old_token)
    _validate(config_model(kind), {**plain, **secrets})
    return plain, box.seal(secrets)


def create(
    session: Session,
    box: SecretBox,
    workspace_id: str,
    data: dict[str, Any],
    *,
    operator: bool = False,
    guard: NetGuard | None = None,
) -> Source:
    """Add a source from the API's JSON shape ``{name, kind, enabled, config}``.

    ``operator`` is the caller's role: only an operator may name local files
    (services/roles.py).
    """
    row = Source(id=new_id("src"), workspace_id=workspace_id, config={}, state={})
    _apply(box, row, {"enabled": True, **data}, creating=True, operator=operator, guard=guard)
    session.add(row)
    session.flush()
    return row


def update(
    box: SecretBox,
    row: Source,
    data: dict[str, Any],
    *,
    operator: bool = False,
    guard: NetGuard | None = None,
) -> None:
    """PATCH semantics: only the fields given change; secrets not given are kept.

    ``guard`` is the network policy a workspace's host must pass (outbound/netguard.py).
    """
    if "kind" in data and data["kind"] != row.kind:
        raise InvalidInput("kind cannot change: create a new source", field="kind")
    _apply(box, row, data, creating=False, operator=operator, guard=guard)


def _apply(
    box: SecretBox,
    row: Source,
    data: dict[str, Any],
    *,
    creating: bool,
    operator: bool,
    guard: NetGuard | None = None,
) -> None:
    if creating or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            raise InvalidInput("a source needs a name", field="name")
        row.name = name
    if creating:
        row.kind = str(data.get("kind") or "")
        config_model(row.kind)
    if "enabled" in data and data["enabled"] is not None:
        row.enabled = bool(data["enabled"])
    if creating or data.get("config") is not None:
        config = data.get("config") or {}
        if not isinstance(config, dict):
            raise InvalidInput("config must be an object", field="config")
        # Role checks on what the request sets; network-address policy keys on ``operator`` too.
        current = {} if creating else dict(row.config)
        roles.require_operator_for_paths(config_model(row.kind), config, current, operator)
        if not creating:
            config = {**row.config, **config}
        plain, sealed = _split_config(box, row.kind, config, None if creating else row.secrets)
        connects = "host" in config_model(row.kind).model_fields
        approve_host(
            row,
            before=None if creating else target(row.config or {}),
            after=target(plain) if connects else None,
            host=plain.get("host") if connects else None,
            field="config.host",
            operator=operator,
            guard=guard,
            creating=creating,
        )
        row.config, row.secrets = plain, sealed


def list_(session: Session, workspace_id: str) -> list[Source]:
    q = select(Source).where(Source.workspace_id == workspace_id).order_by(Source.created_at)
    return list(session.scalars(q))


def get(session: Session, workspace_id: str, source_id: str) -> Source:
    """A source of this workspace; another workspace's is as absent as a missing one."""
    row = session.get(Source, source_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no source {source_id}", field="source")
    return row


def remove(session: Session, row: Source) -> None:
    """Delete a source and what it remembers having taken (the messages stay)."""
    session.execute(delete(SourceItem).where(SourceItem.source_id == row.id))
    session.delete(row)


def poll_now(app: Context, workspace_id: str, source_id: str) -> PollResult:
    """One pass over a mailbox now (blocking); the running poller may go on beside it."""
    with app.sessions() as session:
        row = get(session, workspace_id, source_id)
    if row.kind not in POLLERS:
        raise Conflict(f"a {row.kind} source is pushed to, not polled", field="source")
    try:
        result = build_poller(app, row).poll_once()
    except Exception as exc:
        record_error(app, row.id, exc)
        raise
    record_pass(app, row.id)
    return result


def save(
    app: Context, workspace_id: str, data: dict[str, Any], *, operator: bool = False
) -> Source:
    """Create in its own transaction and tell the pollers (API and console share it)."""
    with transaction(app.sessions) as session:
        row = create(
            session,
            app.secrets,
            workspace_id,
            data,
            operator=operator,
            guard=NetGuard.from_settings(app.settings),
        )
    app.wake_workers()
    return row
