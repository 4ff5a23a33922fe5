"""What every command shares: settings, the app graph, clean error exits.

Nothing heavy is imported here at module level: SQLAlchemy, the runtime and the
transports load inside the functions that need them, so that commands which do
not touch the database (``mailgate parse``) start fast.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from mailgate.config import Settings
from mailgate.errors import ConfigurationError, MailgateError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from mailgate.runtime import Mailgate

console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(fn: F) -> F:
    """Turn mailgate's errors into a message and an exit status, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigurationError as e:
            err.print(f"[red]configuration error:[/red] {e}")
            sys.exit(2)
        except MailgateError as e:
            where = f" ({e.field})" if e.field else ""
            err.print(f"[red]error{where}:[/red] {e.message}")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """``mailgate.store.db.transaction``, imported when a command first writes."""
    from mailgate.store.db import transaction as _transaction

    with _transaction(factory) as session:
        yield session


def open_app(*, migrate: bool = True) -> Mailgate:
    """The installation ``mailgate init`` prepared; refuses (exit 2) when there is none."""
    from mailgate.runtime import build

    settings = Settings.from_env(create=False)
    require_prepared(settings)
    return build(settings, run_migrations=migrate)


def prepare_app() -> Mailgate:
    """``mailgate init``: the data directory (0700), key, schema and database file (0600)."""
    from mailgate.runtime import build

    settings = Settings.from_env(create=True)
    os.chmod(settings.data_dir, 0o700)  # also when it existed with a laxer mode
    path = _sqlite_path(settings.database_url)
    if path is not None:
        if not path.parent.is_dir():
            raise ConfigurationError(
                "MAILGATE_DATABASE_URL", f"{path.parent} does not exist (the database's directory)"
            )
        path.touch(mode=0o600)  # exists with its final mode before any row is written
    mg = build(settings)
    if path is not None:
        # SQLite gives -wal and -shm the database file's mode when it creates them.
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if p.exists():
                os.chmod(p, 0o600)
    return mg


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "MAILGATE_DATABASE_URL",
            f"{url!r} is not a database URL (e.g. postgresql://user@host/db)",
        ) from None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def require_prepared(settings: Settings) -> None:
    """Refuse a database that ``mailgate init`` did not prepare (wrong directory, typo).

    Without this, ``mailgate worker`` run from the wrong directory made a new ``./data``
    with a new key and an empty database, and ran happily against it.
    """
    from sqlalchemy import inspect, make_url, text
    from sqlalchemy.exc import OperationalError

    from mailgate.store.db import make_engine

    path = _sqlite_path(settings.database_url)  # first: it checks the URL's syntax
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    hint = (
        f"(MAILGATE_DATA_DIR={settings.data_dir}, MAILGATE_DATABASE_URL={shown}): set both "
        "to the installation's, or run `mailgate init` to prepare a new one"
    )
    if path is not None and not path.exists():
        raise ConfigurationError("MAILGATE_DATABASE_URL", f"no database at {path} {hint}")
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            prepared = inspect(conn).has_table("alembic_version") and conn.execute(
                text("SELECT count(*) FROM alembic_version")
            ).scalar_one()
    except OperationalError as e:
        raise ConfigurationError(
            "MAILGATE_DATABASE_URL", f"cannot open the database: {e.orig} {hint}"
        ) from None
    finally:
        engine.dispose()
    if not prepared:
        raise ConfigurationError(
            "MAILGATE_DATABASE_URL", f"the database has no mailgate schema {hint}"
        )
