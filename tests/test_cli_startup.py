"""``mailgate parse`` starts fast: the CLI imports heavy modules only in the commands
that need them (measured with ``python -X importtime``; see docs/parsing.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "asyncio", "aiosmtplib")
HEAVY_MAILGATE = (
    "mailgate.runtime", "mailgate.store", "mailgate.services", "mailgate.api",
    "mailgate.outbound", "mailgate.inbound", "mailgate.queue", "mailgate.web",
)  # fmt: skip
PROBE = """
import json, sys
{imports}
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(*statements: str) -> set[str]:
    code = PROBE.format(imports="\n".join(statements))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.partition(".")[0] in HEAVY
        or m.startswith(tuple(p + "." for p in HEAVY_MAILGATE))
        or m in HEAVY_MAILGATE
    )


def test_importing_the_cli_loads_no_database_or_server_code() -> None:
    """The module behind every command, and what it registers, loads no SQLAlchemy etc."""
    assert _heavy(_loaded("import mailgate.cli.main")) == []


def test_parse_command_loads_no_database_or_server_code(tmp_path: Path) -> None:
    """Running ``mailgate parse`` itself imports none of them either, and still parses."""
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n")
    modules = _loaded(
        "import contextlib, io",
        f"sys.argv = ['mailgate', 'parse', {str(eml)!r}]",
        "from mailgate.cli.main import app",
        "buf = io.StringIO()",
        "with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit): app()",
        "assert json.loads(buf.getvalue())['subject'] == 'hi', buf.getvalue()",
    )
    assert _heavy(modules) == []
