"""Postfix ``smtp-sink`` on a free loopback port: ``smtp_sink`` and ``smtp_sink_factory``.

smtp-sink accepts every message (or fails on purpose: ``-f CMD`` answers 5xx,
``-r CMD`` 4xx, ``-q CMD`` hangs up, ``-Q CMD`` says 421 and hangs up) and with
``-d`` dumps each transaction to its own file, which :meth:`SmtpSink.messages`
reads back. A reject applies to every recipient; per-recipient replies need
:class:`mailgate.testing.ScriptedSMTPServer`.

Also home of two small helpers the other server fixtures use: :func:`free_port`
and :func:`wait_for_port`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, limit: float = 10
) -> None:
    """Wait until something accepts connections on 127.0.0.1:port (or the process dies)."""
    deadline = time.monotonic() + limit
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


def stop_process_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the process group started with ``start_new_session``; SIGKILL if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            proc.wait()


@dataclass(frozen=True)
class SinkMessage:
    """One transaction smtp-sink dumped: envelope from its X- headers, and the whole dump."""

    mail_from: str
    rcpt_tos: list[str]
    dump: bytes


def _parse_dump(dump: bytes) -> SinkMessage:
    mail_from, rcpts = "", []
    for line in dump.split(b"\n"):
        if not line.startswith(b"X-"):
            break
        name, _, value = line.decode("utf-8", "replace").partition(": ")
        address = value.split(">", 1)[0].lstrip("<")
        if name == "X-Mail-Args":
            mail_from = address
        elif name == "X-Rcpt-Args":
            rcpts.append(address)
    return SinkMessage(mail_from, rcpts, dump)


@dataclass
class SmtpSink:
    """A running smtp-sink: where it listens and where it dumps."""

    host: str
    port: int
    dump_dir: Path
    proc: subprocess.Popen[bytes]

    def messages(self, expect: int = 0, limit: float = 10) -> list[SinkMessage]:
        """Dumped transactions, oldest first; waits until at least ``expect`` exist."""
        deadline = time.monotonic() + limit
        while True:
            files = sorted(self.dump_dir.glob("m.*"), key=lambda p: p.stat().st_mtime_ns)
            if len(files) >= expect or time.monotonic() > deadline:
                return [_parse_dump(p.read_bytes()) for p in files]
            time.sleep(0.02)


def _start_sink(directory: Path, flags: tuple[str, ...]) -> SmtpSink:
    dump_dir = directory / "dump"
    dump_dir.mkdir()
    os.chmod(directory, 0o755)
    os.chmod(dump_dir, 0o777)  # smtp-sink writes as nobody when run as root
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    argv = [SMTP_SINK, *user, "-h", "sink.test", "-d", f"{dump_dir}/m.", *flags]
    log = (directory / "smtp-sink.log").open("wb")
    proc = subprocess.Popen(
        [*argv, f"127.0.0.1:{port}", "32"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        wait_for_port(port, proc)
    except RuntimeError:
        stop_process_group(proc)
        raise
    return SmtpSink("127.0.0.1", port, dump_dir, proc)


@pytest.fixture
def smtp_sink_factory() -> Iterator[Callable[..., SmtpSink]]:
    """Start smtp-sink with extra flags: ``smtp_sink_factory("-f", "RCPT")``; stopped after."""
    if not os.path.exists(SMTP_SINK):
        pytest.skip("Postfix smtp-sink is not installed")
    started: list[SmtpSink] = []
    with tempfile.TemporaryDirectory(prefix="mailgate-sink-") as tmp:
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; nobody must reach the dump directory

        def start(*flags: str) -> SmtpSink:
            directory = Path(tmp) / str(len(started))
            directory.mkdir()
            sink = _start_sink(directory, flags)
            started.append(sink)
            return sink

        try:
            yield start
        finally:
            for sink in started:
                stop_process_group(sink.proc)


@pytest.fixture
def smtp_sink(smtp_sink_factory: Callable[..., SmtpSink]) -> SmtpSink:
    """An smtp-sink that accepts everything and dumps each message."""
    return smtp_sink_factory()
