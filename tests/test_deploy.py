"""deploy/ names only commands and settings that exist; `mailgate backup` copies a live store.

Nothing is built or started here (no Docker, no systemd): the files are read and every
``mailgate …`` command they run is looked up in the Typer app, every ``MAILGATE_*``
variable they set in what ``config.Settings.from_env`` reads.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
import sqlite3
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from mailgate import config
from mailgate.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


# --- a reader for the YAML compose.yaml is written in -------------------------------------
# PyYAML is not a dependency. compose.yaml keeps to block mappings, block sequences of
# scalars, plain or quoted scalars and comments; anything else (flow collections,
# anchors, multi-line scalars) is refused here, so the file cannot drift past the reader.


def read_yaml(text: str) -> Any:
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        stripped = _strip_comment(raw).rstrip()
        if stripped.strip():
            lines.append((len(stripped) - len(stripped.lstrip(" ")), stripped.strip()))
    value, rest = _block(lines, 0)
    assert not rest, f"unparsed lines: {rest[:2]}"
    return value


def _strip_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i]
    return line


def _scalar(token: str) -> Any:
    assert not token.startswith(("{", "[", "&", "*", "|", ">")), f"unsupported YAML: {token}"
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token


def _block(lines: list[tuple[int, str]], indent: int) -> tuple[Any, list[tuple[int, str]]]:
    if not lines or lines[0][0] < indent:
        return None, lines
    indent = lines[0][0]
    if lines[0][1].startswith("- "):
        items = []
        while lines and lines[0][0] == indent and lines[0][1].startswith("- "):
            items.append(_scalar(lines[0][1][2:].strip()))
            lines = lines[1:]
        return items, lines
    mapping: dict[str, Any] = {}
    while lines and lines[0][0] == indent:
        key, sep, rest = lines[0][1].partition(":")
        assert sep and not key.startswith("- "), f"not a mapping entry: {lines[0][1]}"
        key = _scalar(key.strip())
        assert key not in mapping, f"duplicate key {key}"
        lines = lines[1:]
        if rest.strip():
            mapping[key] = _scalar(rest.strip())
        else:
            child, lines = _block(lines, indent + 1)
            mapping[key] = child
    assert not lines or lines[0][0] < indent, f"bad indentation at {lines[0][1]}"
    return mapping, lines


# --- what the deployment files name --------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml((DEPLOY / "compose.yaml").read_text())
    return data


def unit_files() -> list[Path]:
    return sorted((DEPLOY / "systemd").glob("*.service"))


def unit_entries(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every mailgate command the deployment runs."""
    found = []
    for name, service in compose()["services"].items():
        if "command" in service:
            found.append((f"compose.yaml {name}", shlex.split(service["command"])))
    for path in unit_files():
        for key, value in unit_entries(path):
            if key == "ExecStart":
                found.append((path.name, shlex.split(value)))
    cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert cmd, "the Dockerfile has no CMD"
    found.append(("Dockerfile CMD", json.loads(cmd.group(1))))
    return found


def variables() -> list[tuple[str, str]]:
    """(where, name) of every MAILGATE_* variable the deployment sets."""
    found = []
    for name, service in compose()["services"].items():
        for var in service.get("environment") or {}:
            found.append((f"compose.yaml {name}", var))
    for path in unit_files():
        for key, value in unit_entries(path):
            if key == "Environment":
                found.append((path.name, value.split("=", 1)[0]))
    for line in (DEPLOY / "mailgate.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            found.append(("mailgate.env.example", line.split("=", 1)[0]))
    docker = _joined((DEPLOY / "Dockerfile").read_text())
    for env in re.findall(r"^ENV (.*?)$", docker, re.M):
        found += [("Dockerfile ENV", part.split("=", 1)[0]) for part in shlex.split(env)]
    return [(where, var) for where, var in found if var.startswith("MAILGATE_")]


def _joined(text: str) -> str:
    return text.replace("\\\n", " ")


def settings_read() -> set[str]:
    """The MAILGATE_* names ``Settings.from_env`` and its helpers look up in ``env``."""
    tree = ast.parse(inspect.getsource(config))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            is_env_get = isinstance(func, ast.Attribute) and func.attr == "get"
            first = node.args[0] if node.args else None
            on_env = isinstance(first, ast.Name) and first.id == "env"
            candidates = node.args[:1] if is_env_get else node.args[1:2] if on_env else []
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            candidates = [node.slice] if node.value.id == "env" else []
        elif isinstance(node, ast.Assign):  # name = "MAILGATE_…", then env.get(name)
            candidates = [node.value]
        else:
            continue
        for c in candidates:
            if isinstance(c, ast.Constant) and str(c.value).startswith("MAILGATE_"):
                names.add(c.value)
    return names


def missing_command(argv: list[str], root: click.Command) -> str | None:
    """Why ``argv`` is not a command of ``root`` (None: it is)."""
    if not argv or Path(argv[0]).name != "mailgate":
        return f"does not run mailgate: {argv}"
    command, args = root, argv[1:]
    # Typer's groups are not click.Group subclasses in every version: look for subcommands.
    while getattr(command, "commands", None) is not None and args and not args[0].startswith("-"):
        sub = command.commands.get(args[0])  # type: ignore[attr-defined]
        if sub is None:
            return f"no command {args[0]!r} in {' '.join(argv)}"
        command, args = sub, args[1:]
    if getattr(command, "commands", None) is not None:
        return f"{' '.join(argv)} names a group, not a command"
    options = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for arg in args:
        if arg.startswith("-") and arg.split("=")[0] not in options:
            return f"no option {arg} in {' '.join(argv)}"
    return None


# --- the tests -------------------------------------------------------------------------------


def test_every_command_the_deployment_runs_exists() -> None:
    """Compose commands, units' ExecStart and the Dockerfile's CMD are real mailgate commands."""
    root = typer.main.get_command(app)
    found = commands()
    assert {w.split()[0] for w, _ in found} >= {"compose.yaml", "Dockerfile"}
    assert {"serve", "worker", "init"} <= {argv[1] for _, argv in found}
    problems = [f"{where}: {why}" for where, argv in found if (why := missing_command(argv, root))]
    assert not problems, problems


def test_every_variable_the_deployment_sets_is_a_setting() -> None:
    """Every MAILGATE_* in compose.yaml, the units, the env example and the Dockerfile is read."""
    known = settings_read()
    assert {"MAILGATE_DATABASE_URL", "MAILGATE_MAX_NAME_LENGTH", "MAILGATE_METRICS_DIR"} <= known
    found = variables()
    assert len({w for w, _ in found}) >= 4
    problems = [f"{where}: {var}" for where, var in found if var not in known]
    assert not problems, f"not read by Settings.from_env: {problems}"


def test_the_checks_catch_a_wrong_command_a_wrong_option_and_an_unknown_setting() -> None:
    """The checker is not vacuous: typos are reported."""
    root = typer.main.get_command(app)
    assert missing_command(["mailgate", "serve", "--no-smtp"], root) is None
    typo = missing_command(["mailgate", "serve", "--smpt"], root)
    assert typo == "no option --smpt in mailgate serve --smpt"
    assert missing_command(["mailgate", "serv"], root) == "no command 'serv' in mailgate serv"
    assert missing_command(["mailgate", "worker", "--lane", "3"], root)
    assert missing_command(["/usr/bin/mailgate", "apikey"], root)  # a group
    assert missing_command(["/x/bin/mailgate", "apikey", "create", "--operator"], root) is None
    assert "MAILGATE_NOT_A_SETTING" not in settings_read()
    with pytest.raises(AssertionError, match="unsupported YAML"):
        read_yaml("services:\n  a: {b: c}\n")


def test_hardened_units_and_a_non_root_image() -> None:
    """The units drop privileges and the image runs as a user of its own."""
    for path in unit_files():
        entries = dict(unit_entries(path))
        assert entries["User"] == "mailgate"
        assert entries["NoNewPrivileges"] == "yes" and entries["ProtectSystem"] == "strict"
        assert entries["CapabilityBoundingSet"] == ""
    docker = (DEPLOY / "Dockerfile").read_text()
    assert docker.startswith("#") and "FROM python:3.11-slim" in docker
    assert re.search(r"^USER mailgate$", docker, re.M)
    services = compose()["services"]
    assert services["worker"]["pid"] == "service:serve"  # unique pids for shared metrics
    assert set(services) >= {"postgres", "serve", "worker"}


# --- mailgate backup ------------------------------------------------------------------------


def _run(tmp_path: Path, *args: str, **env: str) -> Result:
    """The command in this process (an interpreter start per call costs seconds here)."""
    env = {"MAILGATE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", **env}
    return CliRunner().invoke(app, list(args), env=env)


def test_backup_of_a_live_sqlite_store(tmp_path: Path) -> None:
    """The backup is one private file that opens and holds the rows; no overwrite by default."""
    assert _run(tmp_path, "init", "--workspace", "backed-up").exit_code == 0
    live = sqlite3.connect(tmp_path / "data" / "mailgate.db")  # a reader holding the db open
    live.execute("SELECT count(*) FROM workspaces").fetchone()
    target = tmp_path / "copy.db"
    done = _run(tmp_path, "backup", str(target))
    assert done.exit_code == 0, done.output
    assert target.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("copy.db-*")), "the backup must be one file"
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT name FROM workspaces").fetchall() == [("backed-up",)]
        assert copy.execute("SELECT count(*) FROM transports").fetchone() == (1,)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone()
    live.close()
    again = _run(tmp_path, "backup", str(target))
    assert again.exit_code == 1 and "exists (--force replaces it)" in again.stderr
    assert _run(tmp_path, "backup", "--force", str(target)).exit_code == 0


def test_backup_on_postgres_prints_pg_dump_without_the_password(
    tmp_path: Path, postgres_template: str, postgres: Any
) -> None:
    """PostgreSQL: refused with the pg_dump command to run, the password never printed."""
    url = postgres.create_database(template=postgres_template)
    # The test server trusts loopback, so any password connects: this one must not be shown.
    user_at = url.removeprefix("postgresql+psycopg://").split("@", 1)
    password_url = f"postgresql://{user_at[0]}:pw-MARKER-5e1f@{user_at[1]}"
    done = _run(
        tmp_path,
        "backup",
        str(tmp_path / "x.dump"),
        MAILGATE_DATA_DIR=str(tmp_path / "nowhere"),
        MAILGATE_DATABASE_URL=password_url,
        MAILGATE_SECRET_KEY="Qx7Lp2Zr9Vt4Wm1Yn6Bc3Hd8-k5Jf0Ga2Ue",
    )
    assert done.exit_code == 2, done.output
    assert done.stdout.startswith("pg_dump --format=custom --file ")
    assert "postgresql://" in done.stdout and "+psycopg" not in done.stdout
    assert "pw-MARKER-5e1f" not in done.output and ":PASSWORD@" in done.stdout
