"""Engine set-up and schema migration for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, bindparam, create_engine, event, insert, update
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE = "mailgate_write"
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, _WriterLock] = weakref.WeakKeyDictionary()


class _WriterLock:
    """One SQLite writer at a time: the threads of this process, then every process.

    SQLite's busy handler sleeps in growing steps (up to 100 ms) while another
    connection writes, longer than a commit takes: with the API and a delivery worker
    in two processes most of the time went to sleeping. Threads queue on a lock, and
    processes on ``flock`` of a file beside the database, which wakes the next writer
    the moment the lock is free (and is released by the kernel if its holder dies).
    """

    def __init__(self, database: str | None) -> None:
        self._thread = threading.Lock()
        self._path = f"{database}.writer" if database and database != ":memory:" else None
        self._fd: int | None = None
        self._pid = 0

    def __enter__(self) -> None:
        self._thread.acquire()
        if self._path is None:
            return
        try:
            if self._pid != os.getpid():  # a forked child needs its own open file
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()
                weakref.finalize(self, os.close, self._fd)
            assert self._fd is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:
            self._path = None  # a read-only directory: SQLite's own busy handler then
        except BaseException:
            self._thread.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._path is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()


def make_engine(url: str) -> Engine:
    """An engine tuned per backend; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed row survives power loss, which is what acknowledging promises.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that later
        # writes can fail with SQLITE_BUSY instead of waiting. Readers never block
        # anyone in WAL mode, so they begin deferred.
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    _WRITE_LOCKS[engine] = _WriterLock(engine.url.database)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (always migrations, never create_all)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A write session: committed on success, rolled back on error.

    On SQLite, writers also queue on a lock first, in this process and across
    processes (:class:`_WriterLock`): SQLite's own busy handler sleeps in growing
    steps (up to 100 ms) while it waits, which wastes most of the time when the API,
    the workers and the listener all write.
    """
    engine = factory.kw["bind"]
    lock = _WRITE_LOCKS.get(engine)
    with lock or nullcontext(), factory() as session:
        session.connection(execution_options={_WRITE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_rows(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT many rows in one executemany through Core.

    The ORM's bulk path (``insert(Model)``) costs several times more per row and adds
    nothing for plain rows; the hot paths (sending, recording, receiving) use this.
    """
    if rows:
        session.execute(insert(model.__table__), list(rows))


def update_rows(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE many rows by primary key ``id`` in one executemany through Core.

    Every row dict has ``id`` and the same other keys: the columns to set.
    """
    if not rows:
        return
    table = model.__table__
    columns = [k for k in rows[0] if k != "id"]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({c: bindparam(f"_{c}") for c in columns})
    )
    session.execute(stmt, [{f"_{k}": v for k, v in r.items()} for r in rows])
