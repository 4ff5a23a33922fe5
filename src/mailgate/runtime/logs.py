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

#: Libraries that speak at INFO about every request or connection: warnings only. The
#: access log would also print request paths, and ``/u/{token}`` carries a signed token.
QUIET = ("uvicorn.access", "httpx", "httpcore", "aiosmtpd", "mail.log", "alembic", "asyncio")


def redact(_logger: Any, _name: str, event: EventDict) -> EventDict:
    for key in event.keys() & SECRET_KEYS:
        event[key] = "[redacted]"
    return event


class Formatter(logging.Formatter):
    """Renders a standard-library record with structlog processors.

    structlog's own ``ProcessorFormatter`` copies every record and looks for the calling
    frame; at one line per delivered message that was a third of the worker's time per
    message, so this bridge builds the event dict from the record directly.
    """

    def __init__(self, processors: list[Processor]) -> None:
        super().__init__()
        self.processors = processors

    def format(self, record: logging.LogRecord) -> str:
        event: EventDict = {
            k: v for k, v in record.__dict__.items() if k not in _STANDARD
        }  # the caller's ``extra``
        event["event"] = record.getMessage()
        event["level"] = record.levelname.lower()
        event["logger"] = record.name
        if record.exc_info:
            event["exc_info"] = record.exc_info
        method = record.levelname.lower()
        result: Any = event
        for processor in self.processors:
            result = processor(None, method, result)
        return str(result)


_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def configure(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Route every log record through structlog to ``stream`` (stderr), replacing handlers."""
    out = stream or sys.stderr
    fmt = settings.log_format or ("console" if out.isatty() else "json")
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        redact,
    ]
    if fmt == "json":
        chain.append(structlog.processors.dict_tracebacks)
    handler = logging.StreamHandler(out)
    handler.setFormatter(Formatter([*chain, renderer]))
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
    # structlog's own loggers hand their fields to the standard library as ``extra``,
    # so both kinds of line meet in the one handler above.
    structlog.configure(
        processors=[structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
