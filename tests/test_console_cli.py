"""``mailgate user``: the first console user from a script, refusals that name the problem.

In-process (Typer's CliRunner): a subprocess per command costs seconds on a busy machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from mailgate.cli.main import app as cli
from mailgate.config import Settings
from mailgate.runtime import build
from mailgate.services import users


@pytest.fixture(scope="module")
def mailgate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliRunner]:
    """One installation for the module (``mailgate init`` once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAILGATE_DATA_DIR", str(tmp_path_factory.mktemp("cli") / "data"))
        patch.delenv("MAILGATE_DATABASE_URL", raising=False)
        runner = CliRunner()
        assert runner.invoke(cli, ["init"]).exit_code == 0
        yield runner


def test_user_create_from_stdin_and_sign_in(mailgate: CliRunner) -> None:
    """--password-stdin for scripts; the stored hash is argon2id and signs the user in."""
    made = mailgate.invoke(
        cli, ["user", "create", "--email", "Ops@Example.com", "--operator", "--password-stdin"],
        input="a long passphrase\n",
    )
    assert made.exit_code == 0, made.output
    assert "ops@example.com" in made.output
    agent = mailgate.invoke(
        cli,
        ["user", "create", "--email", "agent@example.com", "--workspace", "default",
         "--role", "agent", "--password-stdin"],
        input="another passphrase\n",
    )
    assert agent.exit_code == 0, agent.output
    prompted = mailgate.invoke(
        cli, ["user", "create", "--email", "admin@example.com", "-w", "default", "--role", "admin"],
        input="typed passphrase\ntyped passphrase\n",
    )
    assert prompted.exit_code == 0, prompted.output
    listed = mailgate.invoke(cli, ["user", "list"])
    assert listed.exit_code == 0 and "operator" in listed.output  # a narrow table wraps e-mails
    app = build(Settings.from_env(create=False))
    try:
        with app.sessions() as session:
            user = users.authenticate(session, "ops@example.com", "a long passphrase", None)
            assert user.role == "operator" and user.workspace_id is None
            assert user.password_hash.startswith("$argon2id$")
            admin = users.authenticate(session, "admin@example.com", "typed passphrase", None)
            assert admin.role == "admin" and admin.workspace_id is not None
    finally:
        app.dispose()


@pytest.mark.parametrize(
    ("args", "stdin", "code", "says"),
    [
        (["--operator", "--workspace", "default"], "long enough pw\n", 2, "--operator"),
        (["--workspace", "default", "--role", "boss"], "long enough pw\n", 2, "--role"),
        (["--operator"], "short\n", 1, "password"),
        (["--workspace", "nowhere", "--role", "agent"], "long enough pw\n", 1, "nowhere"),
    ],
)
def test_user_create_refusals(
    mailgate: CliRunner, args: list[str], stdin: str, code: int, says: str
) -> None:
    """Each bad call exits non-zero with a message naming the problem, never a traceback."""
    result = mailgate.invoke(
        cli, ["user", "create", "--email", "x@example.com", "--password-stdin", *args], input=stdin
    )
    assert result.exit_code == code, result.output
    assert says in result.output and "Traceback" not in result.output


def test_user_disable_unassigns_their_conversations(mailgate: CliRunner) -> None:
    """``mailgate user disable``: the user can no longer sign in and what they had is
    unassigned; an unknown address is refused naming ``email``."""
    from mailgate.errors import Unauthorized
    from mailgate.services import conversations, tenancy
    from mailgate.store.db import transaction
    from tests.test_conversation_assignees import assignee_of, conversation

    made = mailgate.invoke(
        cli,
        ["user", "create", "--email", "leaving@example.com", "-w", "default", "--role", "agent",
         "--password-stdin"],
        input="leaving passphrase\n",
    )
    assert made.exit_code == 0, made.output
    app = build(Settings.from_env(create=False))
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.workspace_by_name(session, "default").id
            agent = users.user_by_email(session, "leaving@example.com").id
        conv = conversation(app, ws, "left behind")
        with transaction(app.sessions) as session:
            row = conversations.get(session, ws, conv)
            conversations.assign(session, row, agent, conversations.Actor(agent, "agent"))
        done = mailgate.invoke(cli, ["user", "disable", "--email", "Leaving@Example.com"])
        assert done.exit_code == 0 and "leaving@example.com" in done.output, done.output
        assert assignee_of(app, conv) is None
        with app.sessions() as session, pytest.raises(Unauthorized):
            users.authenticate(session, "leaving@example.com", "leaving passphrase", None)
        unknown = mailgate.invoke(cli, ["user", "disable", "--email", "nobody@example.com"])
        assert unknown.exit_code == 1 and "(email)" in unknown.output
    finally:
        app.dispose()
