"""Workspaces, teams and API keys (stored hashed, shown once, scoped to a workspace)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.errors import Conflict, InvalidInput, NotFound, Unauthorized
from mailgate.store.models import ApiKey, Team, Workspace, new_id

KEY_PREFIX = "mg_"


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


def create_api_key(session: Session, workspace_id: str, name: str = "") -> tuple[ApiKey, str]:
    """A new key: the row (hash only) and the plaintext, which is never stored."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        workspace_id=workspace_id,
        name=name,
        key_hash=_hash(plaintext),
        prefix=plaintext[:10],
    )
    session.add(key)
    session.flush()
    return key, plaintext


def authenticate(session: Session, plaintext: str) -> Workspace:
    """The workspace an API key belongs to, or Unauthorized."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(plaintext)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key: create one with `mailgate apikey create`")
    ws = session.get(Workspace, row.workspace_id)
    assert ws is not None  # foreign key with ON DELETE CASCADE
    return ws
