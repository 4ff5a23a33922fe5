"""SQLite writers of several processes queue on one lock file instead of SQLite's busy sleeps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from mailgate.store.db import make_engine, make_sessionmaker, transaction

#: Run in another process: can it take the writer lock right now (without waiting)?
PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""


def probe(lock: Path) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE, str(lock)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_write_transaction_holds_the_lock_file_other_processes_wait_on(tmp_path: Path) -> None:
    """While one process is in a write transaction, another cannot take the writer lock
    (it would block in flock, woken when the first commits); reads take no lock."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    sessions = make_sessionmaker(engine)
    lock = tmp_path / "m.db.writer"
    try:
        with transaction(sessions) as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            assert probe(lock) == "busy"
        assert probe(lock) == "free"
        with sessions() as session:  # a reader
            session.execute(text("SELECT count(*) FROM t")).scalar_one()
            assert probe(lock) == "free"
        # A failed transaction rolls back and lets go of the lock too.
        try:
            with transaction(sessions) as session:
                session.execute(text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert probe(lock) == "free"
    finally:
        engine.dispose()


def test_an_in_memory_database_needs_no_lock_file(tmp_path: Path) -> None:
    engine = make_engine("sqlite://")
    try:
        with transaction(make_sessionmaker(engine)) as session:
            assert session.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
    assert list(tmp_path.iterdir()) == []
