"""Start-up: serve and worker run only on what `mailgate init` prepared, and init locks it down.

Run from the wrong directory, `mailgate worker` used to create a new ./data with a
new key and an empty database and run happily against it.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.postgres import Postgres

MAILGATE = str(Path(sys.executable).parent / "mailgate")
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """`mailgate ARGS` in an empty working directory, with only the MAILGATE_* given."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}

    def call(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MAILGATE, *args],
            cwd=cwd,
            env={**clean, "COLUMNS": "300", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    return call


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("command", [["worker", "--once"], ["serve"]])
def test_refuses_a_data_directory_init_did_not_make(
    run: Run, tmp_path: Path, command: list[str]
) -> None:
    """No ./data is created; exit 2 naming both settings and `mailgate init`."""
    done = run(*command)
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    for needle in ("MAILGATE_DATA_DIR", "MAILGATE_DATABASE_URL", "mailgate init"):
        assert needle in message
    assert "Traceback" not in done.stderr
    assert list((tmp_path / "cwd").iterdir()) == []


def test_refuses_a_data_directory_without_its_database(run: Run, tmp_path: Path) -> None:
    """A data directory (even with a key) but no database: refused, nothing created."""
    data = tmp_path / "data"
    assert run("init", MAILGATE_DATA_DIR=str(data)).returncode == 0
    (data / "mailgate.db").unlink()
    done = run("worker", "--once", MAILGATE_DATA_DIR=str(data))
    assert done.returncode == 2
    assert "MAILGATE_DATABASE_URL" in " ".join(done.stderr.split())
    assert not (data / "mailgate.db").exists()


def test_refuses_an_empty_postgres_database(run: Run, postgres: Postgres, tmp_path: Path) -> None:
    """A database with no mailgate schema is refused, not migrated into a new installation."""
    url = postgres.create_database()
    env = {
        "MAILGATE_DATA_DIR": str(tmp_path / "data"),
        "MAILGATE_DATABASE_URL": url,
        # A second machine: the key comes from the environment, nothing lives in DATA_DIR.
        "MAILGATE_SECRET_KEY": secrets.token_urlsafe(32),
    }
    done = run("worker", "--once", **env)
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "no mailgate schema" in message and "mailgate init" in message
    assert run("init", **env).returncode == 0
    assert run("worker", "--once", **env).returncode == 0


def test_init_makes_the_data_private(run: Run, tmp_path: Path) -> None:
    """init fixes an existing 0755 directory to 0700; the database and its WAL are 0600."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    assert run("init", MAILGATE_DATA_DIR=str(data)).returncode == 0
    assert mode(data) == 0o700
    assert mode(data / "mailgate.db") == 0o600
    assert mode(data / "secret.key") == 0o600
    done = run("worker", "--once", MAILGATE_DATA_DIR=str(data))
    assert done.returncode == 0, done.stderr
    for extra in ("mailgate.db-wal", "mailgate.db-shm"):
        if (data / extra).exists():
            assert mode(data / extra) == 0o600


def test_a_weak_key_stops_every_command(run: Run, tmp_path: Path) -> None:
    """MAILGATE_SECRET_KEY=short: exit 2 naming the variable and how to make a good one."""
    done = run("init", MAILGATE_DATA_DIR=str(tmp_path / "data"), MAILGATE_SECRET_KEY="short")
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "MAILGATE_SECRET_KEY" in message and "token_urlsafe" in message
