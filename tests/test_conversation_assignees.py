"""Conversations assigned to console users: the service's rules, the filter, the API,
and what happens when a user is disabled or deleted, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import delete, inspect, select

from mailgate.errors import Forbidden, InvalidInput
from mailgate.inbound.routing import new_tag
from mailgate.runtime import Mailgate
from mailgate.services import console, tenancy, users
from mailgate.services import conversations as svc
from mailgate.store.db import MIGRATIONS, make_engine, migrate, transaction
from mailgate.store.models import ConsoleSession, ConsoleUser, Conversation, Event, new_id, utcnow
from tests.servers.mailgate import Server


@dataclass
class Desk:
    ws: str
    other_ws: str
    admin: str
    agent: str
    agent2: str
    stranger: str  # an agent of the other workspace
    operator: str


def _user(app: Mailgate, email: str, role: str, ws: str | None) -> str:
    """A user who never signs in here: no argon2 hash to compute (0.1-0.7 s each)."""
    with transaction(app.sessions) as session:
        user = ConsoleUser(
            id=new_id("usr"), email=email, password_hash="-", role=role, workspace_id=ws
        )
        session.add(user)
        return user.id


def _desk(app: Mailgate, ws: str) -> Desk:
    with transaction(app.sessions) as session:
        other = tenancy.create_workspace(session, "globex").id
    return Desk(
        ws=ws,
        other_ws=other,
        admin=_user(app, "admin@acme.example.com", "admin", ws),
        agent=_user(app, "wang@acme.example.com", "agent", ws),
        agent2=_user(app, "li@acme.example.com", "agent", ws),
        stranger=_user(app, "mallory@globex.example.com", "agent", other),
        operator=_user(app, "ops@example.com", "operator", None),
    )


def conversation(app: Mailgate, ws: str, subject: str) -> str:
    """A conversation row as routing would open it (no mail needed to assign it)."""
    with transaction(app.sessions) as session:
        now = utcnow()
        conv = Conversation(
            id=new_id("cv"), workspace_id=ws, subject=subject, tag=new_tag(), status="open",
            participants=[{"name": "", "address": "kunde@customer.example.org"}],
            message_count=0, created_at=now, updated_at=now,
        )
        session.add(conv)
        return conv.id


def assignee_of(app: Mailgate, conv_id: str) -> str | None:
    with app.sessions() as session:
        return session.get(Conversation, conv_id).assignee_id  # type: ignore[union-attr]


def assigned_events(app: Mailgate, conv_id: str) -> list[dict[str, object]]:
    with app.sessions() as session:
        return [
            e.payload
            for e in session.scalars(
                select(Event)
                .where(Event.type == "conversation.assigned", Event.conversation_id == conv_id)
                .order_by(Event.created_at, Event.id)
            )
        ]


@pytest.fixture
def desk(mailgate_app: Mailgate) -> Desk:
    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme").id
    return _desk(mailgate_app, ws)


def _assign(app: Mailgate, conv_id: str, who: str | None, actor: svc.Actor | None) -> bool:
    with transaction(app.sessions) as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        return svc.assign(session, conv, who, actor)


def test_admin_assigns_agent_takes_and_gives_up(mailgate_app: Mailgate, desk: Desk) -> None:
    """Admins give a conversation to anyone of the workspace; an agent takes it or gives
    up their own, never moves it to a colleague or drops a colleague's; each change is
    one ``conversation.assigned`` event."""
    app, conv = mailgate_app, conversation(mailgate_app, desk.ws, "发票 / invoice")
    admin = svc.Actor(desk.admin, "admin")
    agent, agent2 = svc.Actor(desk.agent, "agent"), svc.Actor(desk.agent2, "agent")
    assert _assign(app, conv, desk.agent, admin) is True
    assert assignee_of(app, conv) == desk.agent
    assert _assign(app, conv, desk.agent, admin) is False  # no change, no event
    with pytest.raises(Forbidden) as drop:
        _assign(app, conv, None, agent2)  # a colleague's conversation
    assert drop.value.field == "assignee_id"
    with pytest.raises(Forbidden):
        _assign(app, conv, desk.admin, agent)  # giving it to someone else
    assert assignee_of(app, conv) == desk.agent
    assert _assign(app, conv, desk.agent2, agent2) is True  # "assign to me"
    assert _assign(app, conv, None, agent2) is True  # gives up their own
    assert _assign(app, conv, None, agent) is False  # nothing to give up: no refusal
    assert [(e["assignee"], e["previous"], e["by"]) for e in assigned_events(app, conv)] == [
        ({"id": desk.agent, "email": "wang@acme.example.com"}, None, desk.admin),
        ({"id": desk.agent2, "email": "li@acme.example.com"}, desk.agent, desk.agent2),
        (None, desk.agent2, desk.agent2),
    ]
    with app.sessions() as session:
        shown = svc.public(session, session.get(Conversation, conv))  # type: ignore[arg-type]
    assert shown["assignee"] is None


def test_refusals_name_the_field(mailgate_app: Mailgate, desk: Desk) -> None:
    """Another workspace's user, an operator, an unknown id, a disabled user, an empty
    id: each a 422 naming ``assignee_id``, and the conversation stays as it was."""
    app, conv = mailgate_app, conversation(mailgate_app, desk.ws, "refusals")
    _assign(app, conv, desk.agent, None)
    with transaction(app.sessions) as session:
        users.disable_user(session, desk.ws, desk.agent2)
    for who, words in [
        (desk.stranger, "no user"),
        (desk.operator, "operator"),
        ("usr_does_not_exist", "no user"),
        (desk.agent2, "disabled"),
        ("", "null to unassign"),
        ("   ", "null to unassign"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            _assign(app, conv, who, svc.Actor(desk.admin, "admin"))
        assert refused.value.field == "assignee_id" and refused.value.status == 422
        assert words in refused.value.message, who
    # The agent of the other workspace cannot take it either: they are not of this one.
    with pytest.raises(InvalidInput):
        _assign(app, conv, desk.stranger, svc.Actor(desk.stranger, "agent"))
    assert assignee_of(app, conv) == desk.agent
    assert len(assigned_events(app, conv)) == 1


def test_filters_stay_in_the_workspace(mailgate_app: Mailgate, desk: Desk) -> None:
    """assignee=<id>|me|none, in the API's listing and the console's search; another
    workspace's user id matches nothing, and ``me`` without a user is a 422."""
    app = mailgate_app
    mine = conversation(app, desk.ws, "mine")
    theirs = conversation(app, desk.ws, "theirs")
    nobodys = conversation(app, desk.ws, "nobody's")
    foreign = conversation(app, desk.other_ws, "globex's")
    _assign(app, mine, desk.agent, None)
    _assign(app, theirs, desk.agent2, None)
    _assign(app, foreign, desk.stranger, None)
    with app.sessions() as session:

        def listed(assignee: str, me: str | None = None) -> set[str]:
            rows, _ = svc.listing(session, desk.ws, assignee=assignee, me=me)
            found = {r.id for r in rows}
            searched = console.search_conversations(session, desk.ws, assignee=assignee, me=me)
            assert {r.id for r in searched} == found
            return found

        assert listed(desk.agent) == {mine}
        assert listed("me", me=desk.agent2) == {theirs}
        assert listed("none") == {nobodys}
        assert listed(desk.stranger) == set()
        assert listed("me", me=desk.stranger) == set()
        assert {r.id for r in svc.listing(session, desk.other_ws, assignee=desk.agent)[0]} == set()
        with pytest.raises(InvalidInput) as me:
            svc.listing(session, desk.ws, assignee="me")
        assert me.value.field == "assignee"
        assert [u.id for u in svc.assignees(session, desk.ws)] == [
            desk.admin, desk.agent2, desk.agent,  # by e-mail; no operator, no stranger
        ]


def test_disabled_or_deleted_users_conversations_become_unassigned(
    mailgate_app: Mailgate, desk: Desk
) -> None:
    """Disabling signs the user out and unassigns (with events); deleting does too, and
    the database's SET NULL covers a row removed by anything else."""
    app = mailgate_app
    first, second = conversation(app, desk.ws, "one"), conversation(app, desk.ws, "two")
    third = conversation(app, desk.ws, "three")
    _assign(app, first, desk.agent, None)
    _assign(app, second, desk.agent, None)
    _assign(app, third, desk.agent2, None)
    with transaction(app.sessions) as session:
        user = session.get(ConsoleUser, desk.agent)
        assert user is not None
        token = users.start_session(session, user)
    with transaction(app.sessions) as session:
        with pytest.raises(Exception) as own:
            users.disable_user(session, desk.ws, desk.admin, by=desk.admin)
        assert getattr(own.value, "status", None) == 409
    with transaction(app.sessions) as session:
        users.disable_user(session, desk.ws, desk.agent, by=desk.admin)
    assert assignee_of(app, first) is None and assignee_of(app, second) is None
    assert assigned_events(app, first)[-1] == {
        "conversation": first, "assignee": None, "previous": desk.agent, "by": None,
    }
    with app.sessions() as session:
        assert users.signed_in(session, token) is None
        assert session.scalars(select(ConsoleSession).where(
            ConsoleSession.user_id == desk.agent)).all() == []
        assert users.public_user(session.get(ConsoleUser, desk.agent))["disabled_at"]  # type: ignore[arg-type]
    # Another workspace's admin cannot reach this workspace's users.
    with transaction(app.sessions) as session, pytest.raises(Exception) as across:
        users.disable_user(session, desk.other_ws, desk.agent2)
    assert getattr(across.value, "status", None) == 404
    assert assignee_of(app, third) == desk.agent2
    with transaction(app.sessions) as session:
        users.delete_user(session, desk.ws, desk.agent2)
    assert assignee_of(app, third) is None
    # The foreign key itself: a user row deleted behind the service's back.
    _assign(app, third, desk.admin, None)
    with transaction(app.sessions) as session:
        session.execute(delete(ConsoleUser).where(ConsoleUser.id == desk.admin))
    assert assignee_of(app, third) is None


def test_migration_0014_goes_down_and_up(store_url: str) -> None:
    """The column, its foreign key and index come and go with the revision, on both stores."""
    engine = make_engine(store_url)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))

        def state() -> tuple[bool, bool, bool]:
            insp = inspect(engine)
            return (
                "assignee_id" in {c["name"] for c in insp.get_columns("conversations")},
                any(fk["referred_table"] == "console_users"
                    for fk in insp.get_foreign_keys("conversations")),
                "ix_conversations_assignee"
                in {i["name"] for i in insp.get_indexes("conversations")},
            )

        assert state() == (True, True, True)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0013")
        assert state() == (False, False, False)
        migrate(engine)
        assert state() == (True, True, True)
    finally:
        engine.dispose()


# --- the API ------------------------------------------------------------------------------


def test_api_assignee_field_filter_and_tenancy(server: Server) -> None:
    """PATCH assignee_id (null unassigns), the ``assignee`` in every representation,
    ?assignee=, and the other workspace's key and users refused or seeing nothing."""
    app = server.app
    desk = _desk(app, server.workspace_id)
    other_key = None
    with transaction(app.sessions) as session:
        _, other_key = tenancy.create_api_key(session, desk.other_ws, "globex")
    conv = conversation(app, desk.ws, "API assign")
    spare = conversation(app, desk.ws, "left alone")
    with server.client() as c, server.client(other_key) as other:
        # The event type is one a subscription may name (disabled: nothing is sent out).
        hook = c.post(
            "/v1/webhooks",
            json={
                "url": "https://hooks.example.com/x",
                "events": ["conversation.assigned"],
                "enabled": False,
            },
        )
        assert hook.status_code == 201, hook.text
        r = c.patch(f"/v1/conversations/{conv}", json={"assignee_id": desk.agent})
        assert r.status_code == 200, r.text
        assert r.json()["assignee"] == {"id": desk.agent, "email": "wang@acme.example.com"}
        assert c.get(f"/v1/conversations/{conv}").json()["assignee"]["id"] == desk.agent
        assert c.get(f"/v1/conversations/{spare}").json()["assignee"] is None

        def ids(params: dict[str, str], client: object = c) -> set[str]:
            answer = client.get("/v1/conversations", params=params)  # type: ignore[attr-defined]
            assert answer.status_code == 200, answer.text
            return {i["id"] for i in answer.json()["items"]}

        assert ids({"assignee": desk.agent}) == {conv}
        assert ids({"assignee": "none"}) == {spare}
        assert ids({"assignee": desk.stranger}) == set()
        assert ids({"assignee": desk.agent}, other) == set()
        me = c.get("/v1/conversations", params={"assignee": "me"})
        assert me.status_code == 422 and me.json()["error"]["field"] == "assignee"
        for hostile in (desk.stranger, desk.operator, "usr_nobody", ""):
            refused = c.patch(f"/v1/conversations/{conv}", json={"assignee_id": hostile})
            assert refused.status_code == 422, hostile
            assert refused.json()["error"]["field"] == "assignee_id"
        # The other workspace's key: A's conversation does not exist for it.
        assert other.patch(
            f"/v1/conversations/{conv}", json={"assignee_id": desk.stranger}
        ).status_code == 404
        assert c.get(f"/v1/conversations/{conv}").json()["assignee"]["id"] == desk.agent
        r = c.patch(f"/v1/conversations/{conv}", json={"assignee_id": None})
        assert r.status_code == 200 and r.json()["assignee"] is None
        # A PATCH without the field leaves the assignee alone.
        c.patch(f"/v1/conversations/{conv}", json={"assignee_id": desk.agent2})
        c.patch(f"/v1/conversations/{conv}", json={"status": "pending"})
        assert c.get(f"/v1/conversations/{conv}").json()["assignee"]["id"] == desk.agent2
        # Started by the business app with its assignee; a foreign one refused before any mail.
        capture = {"name": "cap", "kind": "capture", "default": True, "mode": "queued",
                   "sender": "help@acme.example.com"}
        assert c.post("/v1/transports", json=capture).status_code == 201
        started = {"to": ["kunde@customer.example.org"], "subject": "Ticket 7", "text": "Hallo"}
        before = len(c.get("/v1/conversations").json()["items"])
        refused = c.post("/v1/conversations", json={**started, "assignee_id": desk.stranger})
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "assignee_id"
        assert len(c.get("/v1/conversations").json()["items"]) == before
        made = c.post("/v1/conversations", json={**started, "assignee_id": desk.agent})
        assert made.status_code == 201, made.text
        assert made.json()["assignee"] == {"id": desk.agent, "email": "wang@acme.example.com"}
    assert len(assigned_events(app, conv)) == 3
    assert assigned_events(app, made.json()["id"])[0]["by"] is None
