"""Teams of a workspace: the groups that own team-bound mail servers, addresses and
conversations (astercc's "if you assign a team, this team will use this server").

A team's transports go with it in the database (``ON DELETE CASCADE``), so a team
that still has transports is not deleted: the administrator moves or deletes them
first, and nobody loses a mail server by removing a team. Its addresses and
conversations merely lose the team (``SET NULL``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.errors import Conflict, InvalidInput
from mailgate.services import tenancy
from mailgate.store.models import Conversation, SupportAddress, Team, TransportRow


def public(session: Session, team: Team) -> dict[str, Any]:
    def count(model: Any) -> int:
        return int(session.scalar(select(func.count()).where(model.team_id == team.id)) or 0)

    return {
        "id": team.id,
        "name": team.name,
        "transports": count(TransportRow),
        "addresses": count(SupportAddress),
        "conversations": count(Conversation),
        "created_at": team.created_at.isoformat(),
    }


def _name(value: object) -> str:
    name = str(value or "").strip()
    if not name:
        raise InvalidInput("a team needs a name", field="name")
    if len(name) > 200:
        raise InvalidInput("a team name is at most 200 characters", field="name")
    return name


def create(session: Session, workspace_id: str, name: object) -> Team:
    return tenancy.create_team(session, workspace_id, _name(name))


def listing(session: Session, workspace_id: str) -> list[Team]:
    q = select(Team).where(Team.workspace_id == workspace_id).order_by(Team.name)
    return list(session.scalars(q))


def rename(session: Session, workspace_id: str, team_id: str, name: object) -> Team:
    team = tenancy.get_team(session, workspace_id, team_id)
    new = _name(name)
    taken = select(Team.id).where(
        Team.workspace_id == workspace_id, Team.name == new, Team.id != team.id
    )
    if session.scalar(taken):
        raise Conflict(f"team {new!r} exists already", field="name")
    team.name = new
    return team


def delete(session: Session, workspace_id: str, team_id: str) -> None:
    team = tenancy.get_team(session, workspace_id, team_id)
    q = select(func.count()).where(TransportRow.team_id == team.id)
    if servers := int(session.scalar(q) or 0):
        raise Conflict(
            f"team {team.name!r} still has {servers} mail server(s): delete them or create "
            "them again in another scope first",
            field="id",
        )
    session.delete(team)
