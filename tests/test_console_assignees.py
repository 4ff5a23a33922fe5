"""The console's assignees over plain HTTP: the inbox filter, "assign to me", the admin's
selector, refusals beside the field, another workspace kept out, and disabling a user.

One mailgate for the module (tests/servers/console.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from mailgate.store.models import ConsoleUser
from tests.servers.console import ConsoleServer, csrf_of
from tests.test_conversation_assignees import assignee_of, conversation


@dataclass
class Team:
    ws: str
    other_ws: str
    admin: str
    agent: str
    agent2: str
    stranger: str


def _id(server: ConsoleServer, email: str) -> str:
    with server.app.sessions() as session:
        return str(session.scalar(select(ConsoleUser.id).where(ConsoleUser.email == email)))


@pytest.fixture(scope="module")
def team(console_server: ConsoleServer) -> Team:
    ws = console_server.workspace("assignees-acme")
    other = console_server.workspace("assignees-globex")
    for email, role, where in [
        ("boss@assign.example.com", "admin", ws),
        ("wang@assign.example.com", "agent", ws),
        ("li@assign.example.com", "agent", ws),
        ("mallory@globex-assign.example.com", "agent", other),
    ]:
        console_server.user(email, role, where)
    return Team(
        ws, other,
        *(_id(console_server, e) for e in (
            "boss@assign.example.com", "wang@assign.example.com", "li@assign.example.com",
            "mallory@globex-assign.example.com",
        )),
    )


@pytest.fixture(scope="module")
def signed_in(console_server: ConsoleServer, team: Team) -> Iterator[dict[str, httpx.Client]]:
    """One signed-in client per user for the module: each sign-in costs an argon2 check."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(console_server.login(f"{name}@{domain}"))
            for name, domain in [
                ("boss", "assign.example.com"),
                ("wang", "assign.example.com"),
                ("li", "assign.example.com"),
                ("mallory", "globex-assign.example.com"),
            ]
        }


def _post(c: httpx.Client, path: str, conv: str, **data: str) -> httpx.Response:
    token = csrf_of(c.get(f"/conversations/{conv}").text)
    return c.post(path, data={"csrf": token, **data})


def _inbox(c: httpx.Client, **params: str) -> set[str]:
    page = c.get("/conversations", params=params)
    assert page.status_code == 200, page.text
    return set(re.findall(r'href="/conversations/(cv_[^"]+)"', page.text))


def test_inbox_filters_by_assignee(
    console_server: ConsoleServer, team: Team, signed_in: dict[str, httpx.Client]
) -> None:
    """anyone / me / unassigned / each agent of the workspace; nobody of another one."""
    app, boss, wang = console_server.app, signed_in["boss"], signed_in["wang"]
    mine = conversation(app, team.ws, "Filter: Wang's")
    theirs = conversation(app, team.ws, "Filter: Li's")
    nobodys = conversation(app, team.ws, "Filter: nobody's")
    for conv, who in ((mine, team.agent), (theirs, team.agent2)):
        r = _post(boss, f"/conversations/{conv}/assignee", conv, assignee_id=who)
        assert r.status_code == 303, r.text
    page = boss.get("/conversations").text
    assert 'name="assignee"' in page
    assert "wang@assign.example.com" in page and "li@assign.example.com" in page
    assert "mallory@" not in page  # the other workspace's agent is no choice here
    assert {mine, theirs, nobodys} <= _inbox(boss)
    assert _inbox(boss, assignee=team.agent2) == {theirs}
    unassigned = _inbox(boss, assignee="none")
    assert nobodys in unassigned and mine not in unassigned
    assert _inbox(boss, assignee=team.stranger) == set()
    assert _inbox(wang, assignee="me") == {mine}
    zh = {"Accept-Language": "zh-CN"}
    page = wang.get("/conversations", headers=zh).text
    assert "负责人" in page and "未分配" in page and ">我<" in page
    thread = wang.get(f"/conversations/{mine}", headers=zh).text
    assert "已分配给 wang@assign.example.com" in thread and "取消分配" in thread


def test_thread_assign_to_me_and_the_admins_selector(
    console_server: ConsoleServer, team: Team, signed_in: dict[str, httpx.Client]
) -> None:
    """An agent takes a conversation and gives it up; moving it to a colleague is the
    admin's (403 beside the field for the agent); the admin's refusals are shown too."""
    app, boss, wang, li = (console_server.app, *(signed_in[n] for n in ("boss", "wang", "li")))
    conv = conversation(app, team.ws, "Thread: printer on fire")
    path = f"/conversations/{conv}/assignee"
    page = wang.get(f"/conversations/{conv}").text
    assert "Unassigned" in page and "Assign to me" in page
    assert 'name="assignee_id" value="me"' in page
    assert '<select name="assignee_id">' not in page  # the selector is the admin's
    assert wang.post(path, data={"assignee_id": "me"}).status_code == 403  # no CSRF token
    assert assignee_of(app, conv) is None
    assert _post(wang, path, conv, assignee_id="me").status_code == 303
    assert assignee_of(app, conv) == team.agent
    page = wang.get(f"/conversations/{conv}").text
    assert "Assigned to wang@assign.example.com" in page and "Unassign" in page
    moved = _post(wang, path, conv, assignee_id=team.agent2)
    assert moved.status_code == 403
    assert "an admin assigns it to others" in moved.text and "field-error" in moved.text
    # Li may take it over, but not drop Wang's assignment for him.
    assert _post(li, path, conv, assignee_id="").status_code == 403
    assert assignee_of(app, conv) == team.agent
    page = boss.get(f"/conversations/{conv}").text
    assert '<select name="assignee_id">' in page
    for hostile in (team.stranger, "usr_unknown"):
        refused = _post(boss, path, conv, assignee_id=hostile)
        assert refused.status_code == 422
        assert "in this workspace" in refused.text and "field-error" in refused.text
    assert assignee_of(app, conv) == team.agent
    assert _post(boss, path, conv, assignee_id=team.agent2).status_code == 303
    assert assignee_of(app, conv) == team.agent2
    assert _post(boss, path, conv, assignee_id="").status_code == 303
    assert assignee_of(app, conv) is None
    mallory = signed_in["mallory"]
    token = csrf_of(mallory.get("/conversations").text)
    assert mallory.post(path, data={"csrf": token, "assignee_id": "me"}).status_code == 404
    assert mallory.get(f"/conversations/{conv}").status_code == 404
    assert assignee_of(app, conv) is None


def test_disabling_a_user_unassigns_their_conversations(
    console_server: ConsoleServer, team: Team, signed_in: dict[str, httpx.Client]
) -> None:
    """The admin disables an agent on /users: signed out, their conversations unassigned;
    an admin cannot disable themselves, nor a user of another workspace."""
    app, boss = console_server.app, signed_in["boss"]
    console_server.user("leaver@assign.example.com", "agent", team.ws)
    leaver = _id(console_server, "leaver@assign.example.com")
    conv = conversation(app, team.ws, "Disable: leaver's")
    with console_server.login("leaver@assign.example.com") as gone:
        taken = _post(gone, f"/conversations/{conv}/assignee", conv, assignee_id="me")
        assert taken.status_code == 303
        assert assignee_of(app, conv) == leaver
        listing = boss.get("/users").text
        token = csrf_of(listing)
        assert f"/users/{leaver}/disable" in listing
        assert f"/users/{team.admin}/disable" not in listing  # no button for oneself
        assert boss.post(f"/users/{leaver}/disable", data={"csrf": token}).status_code == 303
        own = boss.post(f"/users/{team.admin}/disable", data={"csrf": token})
        assert own.status_code == 409 and "your own account" in own.text
        across = boss.post(f"/users/{team.stranger}/disable", data={"csrf": token})
        assert across.status_code == 404
        assert gone.get("/conversations").status_code == 303  # signed out: to /login
    assert assignee_of(app, conv) is None
    assert "leaver@" not in boss.get("/conversations").text  # no longer a choice
