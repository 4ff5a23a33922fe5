"""Mail servers (transports): configuration, scope and defaults, and live instances.

A transport belongs to the system, a workspace or a team. At most one default per
scope (a partial unique index). Choosing a transport for a message: the one named,
else the team default, the workspace default, the system default — enabled only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailgate.core import presets
from mailgate.core.addresses import parse_address
from mailgate.core.limits import window
from mailgate.crypto import SecretBox
from mailgate.errors import Conflict, Forbidden, InvalidInput, NotFound, TransportDisabled
from mailgate.events.providers import events_path, provider_class
from mailgate.outbound.http import host_of
from mailgate.outbound.netguard import NetGuard, approve_host, target
from mailgate.outbound.registry import build_transport, config_model, secret_fields
from mailgate.services import limits, receiving_domains, roles
from mailgate.services.tenancy import get_team
from mailgate.store import counters
from mailgate.store.models import AliasDomain, TransportRow, Workspace, new_id, utcnow

SCOPES = ("system", "workspace", "team")
MODES = ("immediate", "queued")
POLICIES = ("as_is", "on_behalf_of", "restrict_from")


def public(row: TransportRow, box: SecretBox) -> dict[str, Any]:
    """The API view: everything but the secrets, which are only said to be set."""
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "scope": row.scope,
        "team": row.team_id,
        "default": row.is_default,
        "mode": row.mode,
        "enabled": row.enabled,
        "sender": row.sender,
        "sender_policy": row.sender_policy,
        "bounce_address": row.bounce_address,
        "config": dict(row.config),
        **box.describe(row.secrets),  # secrets_set, secrets_readable
        # An operator chose the host: the network policy does not apply to it.
        "private_network": bool(row.private_network),
        **limits.public(row),  # daily_quota, rate_per_second, rate_per_minute, max_connections
        "fallback_transport": row.fallback_transport_id,
        "failover_after": row.failover_after,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _split_config(
    box: SecretBox, kind: str, config: dict[str, Any], old_secret_token: str | None
) -> tuple[dict[str, Any], str | None]:
    """Validate a kind's config, keep secrets apart, encrypted; absent secrets are kept."""
    plain, secrets = box.merge(config, secret_fields(kind), old_secret_token)
    build_transport(kind, {**plain, **secrets})  # validates the whole with the kind's model
    return plain, box.seal(secrets)


def _scope_key(scope: str, workspace_id: str | None, team_id: str | None) -> str:
    return {"system": "system", "workspace": workspace_id, "team": team_id}[scope] or ""


def create(
    session: Session,
    box: SecretBox,
    workspace_id: str | None,
    data: dict[str, Any],
    *,
    operator: bool = False,
    allow_system: bool = False,
    guard: NetGuard | None = None,
) -> TransportRow:
    """Add a transport from the API's JSON shape (see docs/api.md).

    ``operator`` is the caller's role (services/roles.py); ``allow_system`` is the
    CLI's older name for it.
    """
    operator = operator or allow_system
    scope = data.get("scope") or "workspace"
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    roles.require_operator_for_scope(scope, operator)
    team_id = data.get("team")
    if scope == "team":
        if not team_id or workspace_id is None:
            raise InvalidInput("a team transport needs a team id", field="team")
        get_team(session, workspace_id, team_id)
    elif team_id:
        raise InvalidInput("team is only for scope 'team'", field="team")
    row = TransportRow(
        id=new_id("tr"),
        workspace_id=None if scope == "system" else workspace_id,
        team_id=team_id if scope == "team" else None,
        scope=scope,
        scope_key=_scope_key(scope, workspace_id, team_id),
        config={},
    )
    _apply(
        session,
        box,
        row,
        {"kind": "smtp", "mode": "queued", **data},
        creating=True,
        operator=operator,
        guard=guard,
    )
    session.add(row)
    _flush_default(session)
    return row


def update(
    session: Session,
    box: SecretBox,
    row: TransportRow,
    data: dict[str, Any],
    *,
    operator: bool = False,
    guard: NetGuard | None = None,
) -> None:
    """PATCH semantics: only the fields given change; secrets not given are kept.

    ``guard`` is the network policy a workspace's host must pass (outbound/netguard.py).
    """
    for frozen in ("scope", "team"):
        current = row.scope if frozen == "scope" else row.team_id
        if frozen in data and data[frozen] != current:
            raise InvalidInput(f"{frozen} cannot change: create a new transport", field=frozen)
    _apply(session, box, row, data, creating=False, operator=operator, guard=guard)
    _flush_default(session)


def _flush_default(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as e:
        if "default" in str(e.orig).lower() or "scope_key" in str(e.orig).lower():
            raise Conflict(
                "this scope has a default transport already: unset it first", field="default"
            ) from None
        raise


def _apply(
    session: Session,
    box: SecretBox,
    row: TransportRow,
    data: dict[str, Any],
    *,
    creating: bool,
    operator: bool,
    guard: NetGuard | None = None,
) -> None:
    # Role checks first, before anything of the row changes (services/roles.py).
    # Network-address policy for the config's host belongs beside them, keyed on ``operator``.
    if not creating:
        roles.require_operator_for_kind(row.kind, operator)  # changing a sendmail transport
    if creating or "kind" in data:
        roles.require_operator_for_kind(str(data.get("kind")), operator)
    if creating or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            raise InvalidInput("a transport needs a name", field="name")
        row.name = name
    if creating or "kind" in data:
        row.kind = str(data.get("kind"))
    if "mode" in data or creating:
        if data.get("mode") not in MODES:
            raise InvalidInput("mode must be 'immediate' or 'queued'", field="mode")
        row.mode = data["mode"]
    if "sender_policy" in data or creating:
        policy = data.get("sender_policy") or "as_is"
        if policy not in POLICIES:
            raise InvalidInput(
                f"sender_policy must be one of {', '.join(POLICIES)}", field="sender_policy"
            )
        row.sender_policy = policy
    for key in ("sender", "bounce_address"):
        if key in data:
            value = data[key]
            row.__setattr__(key, parse_address(value, field=key).address if value else None)
            if key == "bounce_address" and row.bounce_address and row.workspace_id:
                # Mail to it reaches this workspace: the same rule as a support address.
                receiving_domains.claim(
                    session,
                    row.workspace_id,
                    row.bounce_address,
                    operator=operator,
                    field=key,
                    needs_domain=False,
                )
    if "enabled" in data:
        row.enabled = bool(data["enabled"])
    elif creating:
        row.enabled = True
    if "default" in data:
        row.is_default = bool(data["default"])
    elif creating:
        row.is_default = False
    limits.apply(row, data, session)  # quotas and rates: queue/limits.py enforces them
    limits.apply_failover(session, row, data)
    if row.sender_policy == "restrict_from" and not row.sender:
        raise InvalidInput("restrict_from needs the account's sender address", field="sender")
    if creating or "config" in data or "kind" in data:
        config = data.get("config") or {}
        if not isinstance(config, dict):
            raise InvalidInput("config must be an object", field="config")
        config = _with_preset(row.kind, config)
        fresh = creating or "kind" in data
        current = {} if fresh else dict(row.config)
        roles.require_operator_for_paths(config_model(row.kind), config, current, operator)
        if not fresh:
            config = {**row.config, **config}
        old = None if creating or "kind" in data else row.secrets
        before = None if creating else target(row.config or {})
        plain, token = _split_config(box, row.kind, config, old)
        connects = "host" in config_model(row.kind).model_fields
        if "base_url" in config_model(row.kind).model_fields:  # HTTP providers (outbound/http.py)
            approve_host(
                row,
                before=None if creating else (row.config or {}).get("base_url"),
                after=plain.get("base_url") or None,
                host=host_of(str(plain.get("base_url") or "")),
                field="config.base_url",
                operator=operator,
                guard=guard,
                creating=creating,
            )
        else:
            approve_host(
                row,
                before=before,
                after=target(plain) if connects else None,
                host=plain.get("host") if connects else None,
                field="config.host",
                operator=operator,
                guard=guard,
                creating=creating,
            )
        row.config = plain
        row.secrets = token


def probe_sender(row: TransportRow) -> str | None:
    """The envelope sender the *test* button asks the server about: the one its mail
    will carry (the account's address under restrict_from/on_behalf_of, else the
    bounce address), or the login when it is an address."""
    if row.sender_policy in ("restrict_from", "on_behalf_of") and row.sender:
        return row.sender
    user = (row.config or {}).get("username")
    fallback = user if isinstance(user, str) and "@" in user else None
    return row.bounce_address or row.sender or fallback


def _with_preset(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """An SMTP config naming a provider preset gets its host, port and security
    (core/presets.py) unless they are given; the preset stays, for its AUTH hint."""
    name = config.get("preset")
    if kind != "smtp" or name is None:
        return config
    preset = presets.get(name)
    if preset is None:
        raise InvalidInput(
            f"config.preset must be one of {', '.join(presets.PRESETS)}", field="config.preset"
        )
    server = preset.smtp
    return {"host": server.host, "port": server.port, "security": server.security, **config}


def provider_view(row: TransportRow, public_base: str) -> dict[str, Any]:
    """An HTTP provider's extras: what its account API said, and where its events go.

    ``events_url`` is absolute (``MAILGATE_PUBLIC_URL``), ready to paste into the
    provider's webhook settings (docs/providers.md).
    """
    if provider_class(row.kind) is None:
        return {}
    return {
        "provider_state": row.provider_state,
        "events_url": public_base.rstrip("/") + events_path(row.id),
    }


def record_provider_state(session: Session, transport_id: str, state: dict[str, Any]) -> None:
    """Keep what the account API said; a quota also notes today's count at that moment,
    so the queue can tell how much is left later (queue/limits.py, ``_provider_quota``).
    """
    row = session.get(TransportRow, transport_id)
    if row is None:
        return
    state = dict(state)
    if isinstance(state.get("quota"), dict):
        ws = session.get(Workspace, row.workspace_id) if row.workspace_id else None
        day = window("day", utcnow(), (ws.timezone if ws else None) or "UTC")
        key = f"transport:{row.id}"
        used = counters.used(session, [(key, "day", day.start)])[key]
        start = day.start.isoformat()
        state["quota"] = {**state["quota"], "counted": used, "window_start": start}
    row.provider_state = state


def visible(session: Session, workspace_id: str) -> list[TransportRow]:
    """The workspace's own transports (workspace and team scope) and the system ones."""
    q = (
        select(TransportRow)
        .where(or_(TransportRow.workspace_id == workspace_id, TransportRow.scope == "system"))
        .order_by(TransportRow.created_at)
    )
    return list(session.scalars(q))


def get(session: Session, workspace_id: str | None, transport_id: str) -> TransportRow:
    row = session.get(TransportRow, transport_id)
    if row is None or (
        workspace_id is not None and row.scope != "system" and row.workspace_id != workspace_id
    ):
        raise NotFound(f"no transport {transport_id}", field="transport")
    return row


def get_own(session: Session, workspace_id: str, transport_id: str) -> TransportRow:
    """A transport this workspace may change (system ones are the operator's)."""
    row = get(session, workspace_id, transport_id)
    if row.scope == "system":
        raise Forbidden("system transports are managed by the operator", field="scope")
    return row


def require_checkable(row: TransportRow, operator: bool) -> None:
    """The *test* button of a sendmail transport probes the server's files: operator only."""
    roles.require_operator_for_kind(row.kind, operator)


@dataclass(slots=True)
class Choice:
    """The transport for a message, the alias domain its From is on, and why (each rule)."""

    row: TransportRow
    alias: AliasDomain | None = None
    rules: list[str] = field(default_factory=list)


def choose(
    session: Session, workspace_id: str, *, transport_id: str | None, team_id: str | None
) -> TransportRow:
    """The transport for a message: named, else team → workspace → system default."""
    return resolve(session, workspace_id, transport_id=transport_id, team_id=team_id).row


def resolve(
    session: Session,
    workspace_id: str,
    *,
    transport_id: str | None,
    team_id: str | None,
    from_addr: str | None = None,
) -> Choice:
    """The transport for a message, explained: the named one; else the alias domain's of
    the From address (Odoo picks the server by From); else the team's, the workspace's
    and the installation's default, in that order."""
    domain = (from_addr or "").rpartition("@")[2].strip().strip(">").lower()
    alias = (
        session.scalar(
            select(AliasDomain).where(
                AliasDomain.workspace_id == workspace_id, AliasDomain.domain == domain
            )
        )
        if domain
        else None
    )
    if transport_id:
        row = get(session, workspace_id, transport_id)
        if not row.enabled:
            raise TransportDisabled(f"transport {row.name!r} is disabled", field="transport")
        return Choice(row, alias, [f"the request names transport {row.name!r} ({row.id})"])
    rules: list[str] = []
    if alias is not None and alias.transport_id:
        row_ = session.get(TransportRow, alias.transport_id)
        if row_ is not None and row_.enabled:
            rules.append(
                f"the From domain {domain} is an alias domain that sends through "
                f"{row_.name!r} ({row_.id})"
            )
            return Choice(row_, alias, rules)
        rules.append(f"the alias domain {domain}'s transport is disabled: the defaults apply")
    if team_id:
        get_team(session, workspace_id, team_id)  # another workspace's team is not found
    keys = [k for k in (team_id, workspace_id, "system") if k]
    rows = session.scalars(
        select(TransportRow).where(
            TransportRow.is_default.is_(True),
            TransportRow.enabled.is_(True),
            TransportRow.scope_key.in_(keys),
            or_(TransportRow.workspace_id == workspace_id, TransportRow.scope == "system"),
        )
    ).all()
    by_key = {r.scope_key: r for r in rows}
    whose = {team_id: "the team's", workspace_id: "the workspace's", "system": "the installation's"}
    for key in keys:
        if key in by_key:
            row = by_key[key]
            rules.append(f"{whose[key]} default transport {row.name!r} ({row.id})")
            return Choice(row, alias, rules)
    raise Conflict(
        "no default transport is enabled for this workspace: create one with "
        'POST /v1/transports ("default": true) or name one in "transport"',
        field="transport",
    )
