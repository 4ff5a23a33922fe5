"""Log lines as JSON (or for a terminal), through structlog, for mailgate and its libraries.

Every module logs with the standard library (``logging.getLogger``) and passes its
fields as ``extra``; one structlog :class:`~structlog.stdlib.ProcessorFormatter` on the
root handler renders mailgate's lines and those of uvicorn, SQLAlchemy, aiosmtpd and
httpx alike. Format: ``MAILGATE_LOG_FORMAT=json|console`` (default json unless stderr is
a terminal), level ``MAILGATE_LOG_LEVEL``. docs/deploy.md, "Logs".

What a line may carry is decided where it is written (ids, kinds, codes; never an
address list, a body or a setting); :func:`redact` is the second line of defence for
keys that must never be printed whatever a caller passes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor

from mailgate.config import Settings

#: Field names whose values are never printed (a caller's ``extra`` or a bound value).
SECRET_KEYS = frozenset(
    {
        "password",
        "secret",
        "secrets",
        "token",
        "api_key",
        "authorization",
        "signing_key",
        "private_key",
        "refresh_token",
        "access_token",
        "body",
        "raw",
        "text",
        "html",
        "config",
    }
)

#: Libraries that speak at INFO about every request or connection: warnings only.
QUIET = ("uvicorn.access", "httpx", "httpcore", "aiosmtpd", "mail.log", "alembic", "asyncio")


def redact(_logger: Any, _name: str, event: EventDict) -> EventDict:
    for key in event.keys() & SECRET_KEYS:
        event[key] = "[redacted]"
    return event


def _processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]


def configure(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Route every log record through structlog to ``stream`` (stderr), replacing handlers."""
    out = stream or sys.stderr
    fmt = settings.log_format or ("console" if out.isatty() else "json")
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    tail: list[Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        redact,
    ]
    if fmt == "json":
        tail.append(structlog.processors.dict_tracebacks)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_processors(), structlog.stdlib.ExtraAdder()],
        processors=[*tail, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # uvicorn installs handlers of its own (uvicorn.Config); send its lines through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[*_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

