"""``sendmail``: hand mail to the local MTA's sendmail program.

Implements :class:`mailgate.outbound.base.Transport`. Runs
``PATH -i -f SENDER [ARGS] -- RCPT...`` and feeds the raw message on stdin
(``-i``: a line with a single dot is data, not the end). The program's exit code
is a sysexits(3) value: 0 is accepted for every recipient, ``EX_TEMPFAIL`` (75)
and a timeout are transient, anything else is permanent with the program's own
error output as the text. sendmail answers for the whole message, never per
recipient.
"""

from __future__ import annotations

import asyncio
import os
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mailgate.outbound.base import CheckResult, DeliveryResult, Envelope

EX_TEMPFAIL = 75  # sysexits.h: "temporary failure; user is invited to retry"


class SendmailConfig(BaseModel):
    """Which sendmail program to run, and extra arguments for it."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        default="/usr/sbin/sendmail",
        min_length=1,
        json_schema_extra={"local_path": True},  # operator only (services/roles.py)
    )
    args: list[str] = Field(
        default_factory=list, description='Extra arguments, e.g. ["-C", "/etc/postfix-out"]'
    )
    timeout: float = Field(default=60, gt=0, description="Seconds the program may take")


class SendmailTransport:
    """Deliver through a local sendmail binary; see :class:`~mailgate.outbound.base.Transport`."""

    kind: ClassVar[str] = "sendmail"
    Config: ClassVar[type[BaseModel]] = SendmailConfig

    def __init__(self, config: SendmailConfig) -> None:
        self.config = config

    def command(self, envelope: Envelope) -> list[str]:
        """The argument vector for one message (``--`` keeps recipients from being options)."""
        cfg = self.config
        return [cfg.path, "-i", "-f", envelope.mail_from, *cfg.args, "--", *envelope.recipients]

    async def deliver(self, envelope: Envelope, raw: bytes) -> DeliveryResult:
        """Run the program once for the whole message."""
        if not envelope.recipients:
            return DeliveryResult()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command(envelope),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            text = f"cannot run {self.config.path}: {exc.strerror or exc}"
            return DeliveryResult.all(envelope, accepted=False, code=None, text=text)
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(raw), self.config.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            text = f"{self.config.path} did not finish within {self.config.timeout:g} s"
            return DeliveryResult.all(envelope, accepted=False, code=None, text=text)
        status = proc.returncode
        if status == 0:
            return DeliveryResult.all(envelope, accepted=True, code=0, text="accepted by sendmail")
        text = stderr.decode("utf-8", "replace").strip() or f"{self.config.path} exited {status}"
        return DeliveryResult.all(
            envelope, accepted=False, code=status, text=text, permanent=status != EX_TEMPFAIL
        )

    async def check(self) -> CheckResult:
        """The program exists and is executable (nothing is sent)."""
        path = self.config.path
        if not os.path.isfile(path):
            return CheckResult(False, f"{path} does not exist", "config")
        if not os.access(path, os.X_OK):
            return CheckResult(False, f"{path} is not executable", "config")
        return CheckResult(True, "connect success")

    async def close(self) -> None:
        """Nothing is held between messages."""
