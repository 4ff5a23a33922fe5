"""``mailgate listen``: the SMTP/LMTP listener alone, sharing its port with others.

``serve`` starts ``MAILGATE_LISTENER_PROCESSES - 1`` of these itself
(runtime/listeners.py); run it by hand or from a unit of its own to add listener
processes beside ``serve --no-smtp`` or another ``listen`` (docs/deploy.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from mailgate.cli.common import clean_errors, open_app


@clean_errors
def listen(
    parent: Annotated[
        int | None, typer.Option(hidden=True, help="The serve process that started this one.")
    ] = None,
) -> None:
    """Run only the SMTP/LMTP listener on MAILGATE_SMTP (SO_REUSEPORT: several may share it)."""
    import asyncio

    from mailgate.runtime.listeners import listen as run
    from mailgate.runtime.process import prepare as prepare_process

    mg = open_app(migrate=parent is None)  # serve has migrated before it starts these
    prepare_process(mg.settings, answers_metrics=False)  # JSON logs, metrics beside serve's
    try:
        asyncio.run(run(mg, parent=parent))
    finally:
        mg.dispose()
