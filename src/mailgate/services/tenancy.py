"""Workspaces, teams and API keys (stored hashed, shown once).

Two kinds of key: a workspace key sees and changes its own workspace only; an
operator key (``operator=True``, no workspace) manages the installation and acts
in any workspace it names (docs/api.md, "Roles").
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from mailgate.errors import Conflict, InvalidInput, NotFound, Unauthorized
from mailgate.store.models import ApiKey, Team, Workspace, new_id, utcnow

KEY_PREFIX = "mg_"
#: ``last_used_at`` is only as precise as this: it saves a write on most requests.
TOUCH_INTERVAL = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_workspace(session: Session, name: str) -> Workspace:
    name = name.strip()
    if not name:
        raise InvalidInput("a workspace needs a name", field="name")
    if session.scalar(select(Workspace).where(Workspace.name == name)):
        raise Conflict(f"workspace {name!r} exists already", field="name")
    ws = Workspace(id=new_id("ws"), name=name)
    session.add(ws)
    session.flush()
    return ws


def workspace_by_name(session: Session, name: str) -> Workspace:
    ws = session.scalar(select(Workspace).where(Workspace.name == name))
    if ws is None:
        raise NotFound(f"no workspace named {name!r}", field="workspace")
    return ws


def ensure_workspace(session: Session, name: str) -> Workspace:
    ws = session.scalar(select(Workspace).where(Workspace.name == name))
    return ws or create_workspace(session, name)


def create_team(session: Session, workspace_id: str, name: str) -> Team:
    if session.scalar(select(Team).where(Team.workspace_id == workspace_id, Team.name == name)):
        raise Conflict(f"team {name!r} exists already", field="name")
    team = Team(id=new_id("team"), workspace_id=workspace_id, name=name)
    session.add(team)
    session.flush()
    return team


def get_team(session: Session, workspace_id: str, team_id: str) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.workspace_id != workspace_id:
        raise NotFound(f"no team {team_id} in this workspace", field="team")
    return team


@dataclass(frozen=True)
class Caller:
    """Who a request acts for: the key, whether it is an operator's, and its workspace.

    ``workspace`` is the workspace the request acts in: a workspace key's own, or the
    one an operator key named (``Mailgate-Workspace``); None for an operator acting on
    the installation. Services take ``operator`` as a plain argument, never a Caller.
    """

    key_id: str
    operator: bool
    workspace: Workspace | None


def create_api_key(
    session: Session, workspace_id: str | None, name: str = "", *, operator: bool = False
) -> tuple[ApiKey, str]:
    """A new key: the row (hash only) and the plaintext, which is never stored.

    An operator key belongs to no workspace; a workspace key to exactly one.
    """
    if operator != (workspace_id is None):
        raise InvalidInput(
            "an operator key has no workspace; a workspace key needs one", field="workspace"
        )
    name = name.strip()
    if len(name) > 200:
        raise InvalidInput("a key name is at most 200 characters", field="name")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        workspace_id=workspace_id,
        operator=operator,
        name=name,
        key_hash=_hash(plaintext),
        prefix=plaintext[:10],
    )
    session.add(key)
    session.flush()
    return key, plaintext


def find_key(session: Session, plaintext: str) -> ApiKey:
    """The live key row for ``plaintext``, or Unauthorized (unknown and revoked look alike)."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(plaintext)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key: create one with `mailgate apikey create`")
    return row


def authenticate(session: Session, plaintext: str) -> Workspace:
    """The workspace a workspace key belongs to, or Unauthorized (operator keys have none)."""
    row = find_key(session, plaintext)
    if row.workspace_id is None:
        raise Unauthorized("an operator key belongs to no workspace")
    ws = session.get(Workspace, row.workspace_id)
    assert ws is not None  # foreign key with ON DELETE CASCADE
    return ws


def touch_key(session: Session, key_id: str, now: datetime) -> None:
    """Record use, at most once a minute: a write per request would serialise SQLite."""
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
    )


def key_is_stale(row: ApiKey, now: datetime) -> bool:
    return row.last_used_at is None or row.last_used_at < now - TOUCH_INTERVAL


def public_key(row: ApiKey) -> dict[str, Any]:
    """The API view of a key: never its hash."""
    return {
        "id": row.id,
        "prefix": row.prefix,
        "name": row.name,
        "operator": row.operator,
        "workspace": row.workspace_id,
        "created_at": row.created_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked": row.revoked_at is not None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def list_keys(session: Session, workspace_id: str | None) -> list[ApiKey]:
    """Keys of one workspace, or every key (operators' too) when ``workspace_id`` is None."""
    q = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if workspace_id is not None:
        q = q.where(ApiKey.workspace_id == workspace_id)
    return list(session.scalars(q))


def get_key(session: Session, workspace_id: str | None, key_id: str) -> ApiKey:
    """A key the caller may see: its workspace's, or any for the installation (None)."""
    row = session.get(ApiKey, key_id)
    if row is None or (workspace_id is not None and row.workspace_id != workspace_id):
        raise NotFound(f"no API key {key_id}", field="id")
    return row


def revoke_key(session: Session, row: ApiKey) -> None:
    """Revoke at once: every request looks the key up, so the next one gets 401."""
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()


def get_workspace(session: Session, workspace_id: str) -> Workspace:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound(f"no workspace {workspace_id}", field="workspace")
    return ws


def list_workspaces(session: Session) -> list[Workspace]:
    return list(session.scalars(select(Workspace).order_by(Workspace.created_at, Workspace.id)))


def public_workspace(ws: Workspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "name": ws.name,
        "thread_admission": ws.thread_admission,
        "timezone": ws.timezone,  # where a daily quota's day begins (services/limits.py)
        "created_at": ws.created_at.isoformat(),
    }
