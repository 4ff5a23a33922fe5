"""What every command shares: settings, the app graph, clean error exits."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

from mailgate.config import Settings
from mailgate.errors import ConfigurationError, MailgateError
from mailgate.runtime import Mailgate, build

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


def open_app(*, migrate: bool = True) -> Mailgate:
    return build(Settings.from_env(), run_migrations=migrate)
