"""``mailgate backup PATH``: a consistent copy of the store while mailgate runs (docs/deploy.md)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from mailgate.cli.common import clean_errors, console, err

#: Pages copied per step: writers get the database between steps, so a backup of a
#: busy installation makes progress without holding them off for its whole length.
PAGES_PER_STEP = 1024


@clean_errors
def backup(
    path: Annotated[Path, typer.Argument(help="The backup file to write (SQLite).")],
    force: Annotated[bool, typer.Option(help="Replace PATH if it exists.")] = False,
) -> None:
    """Copy the SQLite database with SQLite's online backup API (mailgate may keep running).

    On PostgreSQL, prints the pg_dump command to run instead. Keep the secret key
    (DATA_DIR/secret.key or MAILGATE_SECRET_KEY) too, apart from the backup: without
    it the stored passwords and keys cannot be read.
    """
    import sqlite3

    from sqlalchemy import make_url

    from mailgate.cli.common import _sqlite_path, require_prepared
    from mailgate.config import Settings

    settings = Settings.from_env(create=False)
    require_prepared(settings)
    source = _sqlite_path(settings.database_url)
    if source is None:
        url = make_url(settings.database_url).set(drivername="postgresql")
        shown = url.render_as_string(hide_password=True).replace("***", "PASSWORD")
        err.print(
            "[red]mailgate backs up SQLite only:[/red] for PostgreSQL run pg_dump, which takes "
            "a consistent snapshot while mailgate runs (password from PGPASSWORD or ~/.pgpass):"
        )
        print(f"pg_dump --format=custom --file {shlex.quote(str(path))} {shlex.quote(shown)}")
        raise typer.Exit(2)
    target = path.expanduser().resolve()
    if target == source:
        err.print("[red]error (PATH):[/red] that is the database itself")
        raise typer.Exit(1)
    if target.exists() and not force:
        err.print(f"[red]error (PATH):[/red] {target} exists (--force replaces it)")
        raise typer.Exit(1)
    if not target.parent.is_dir():
        err.print(f"[red]error (PATH):[/red] {target.parent} is not a directory")
        raise typer.Exit(1)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds secrets
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=PAGES_PER_STEP)
        # One file: a restore is copying it back, with no -wal beside it to lose.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()
    os.replace(partial, target)
    console.print(f"backup written: [bold]{target}[/bold]")
    if settings.blob_store == "files":
        err.print(
            f"the raw messages are files in {settings.data_dir / 'blobs'}: copy that directory "
            "after this backup (rsync -a), so every message the backup names is in it"
        )
    err.print("keep the secret key (DATA_DIR/secret.key or MAILGATE_SECRET_KEY) apart from it")
