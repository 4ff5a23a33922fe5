"""A real ``mailgate serve`` process, configured through ``MAILGATE_*`` like a user's.

:func:`start_serve` runs ``mailgate init`` and then ``mailgate serve`` (the venv's
entry point) in a temporary data directory: SQLite store, files blob store, HTTP and
SMTP listener on free loopback ports. It waits for ``/readyz`` (which is 503 until
the listener accepts connections), and on exit sends SIGTERM, waits, and raises if
the process did not exit 0 or left a traceback on its stderr. :meth:`Serve.cli`
runs any other ``mailgate`` command against the same installation, as an operator
would in a second terminal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers.smtpsink import free_port

MAILGATE = Path(sys.executable).with_name("mailgate")


@dataclass
class Serve:
    """A running ``mailgate serve``: its URL, its SMTP listener, its environment."""

    url: str
    smtp_host: str
    smtp_port: int
    env: dict[str, str]
    directory: Path
    proc: subprocess.Popen[bytes]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``mailgate ARGS`` against this installation; its stdout, or raise with stderr."""
        return _run([str(MAILGATE), *args], self.env, stdin)

    @property
    def stderr(self) -> str:
        return (self.directory / "serve.stderr").read_text("utf-8", "replace")


def _run(argv: list[str], env: dict[str, str], stdin: str | None) -> str:
    done = subprocess.run(
        argv, env=env, input=stdin or "", capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise AssertionError(f"{argv[1:]} exited {done.returncode}: {done.stderr}")
    return done.stdout


def serve_env(data_dir: Path, http_port: int, smtp_port: int, **extra: str) -> dict[str, str]:
    """The environment of a user's installation in ``data_dir`` (docs/configuration.md)."""
    env = dict(os.environ)  # with the suite's defaults (tests/conftest.py)
    env.update(
        MAILGATE_DATA_DIR=str(data_dir),
        MAILGATE_DATABASE_URL=f"sqlite:///{data_dir / 'mailgate.db'}",
        MAILGATE_BLOB_STORE="files",
        MAILGATE_HTTP=f"127.0.0.1:{http_port}",
        MAILGATE_SMTP=f"127.0.0.1:{smtp_port}",
        MAILGATE_HOSTNAME="mailgate.example.com",
        # Admins point their mail servers at the tests' loopback smtp-sink.
        MAILGATE_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8",
        # No DNS here: received mail gets no SPF/DKIM/DMARC verdicts.
        MAILGATE_INBOUND_AUTH="off",
        MAILGATE_RETRY_BASE="1",
        MAILGATE_LOG_FORMAT="json",
        MAILGATE_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


@contextmanager
def start_serve(directory: Path, **extra_env: str) -> Iterator[Serve]:
    """``mailgate init`` then ``mailgate serve`` in ``directory``; stopped with SIGTERM."""
    http_port, smtp_port = free_port(), free_port()
    env = serve_env(directory / "data", http_port, smtp_port, **extra_env)
    _run([str(MAILGATE), "init"], env, None)
    stdout = (directory / "serve.stdout").open("wb")
    stderr = (directory / "serve.stderr").open("wb")
    proc = subprocess.Popen(
        [str(MAILGATE), "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    stdout.close()
    stderr.close()
    serve = Serve(f"http://127.0.0.1:{http_port}", "127.0.0.1", smtp_port, env, directory, proc)
    try:
        _wait_ready(serve)
        yield serve
    finally:
        _stop(serve)


def _wait_ready(serve: Serve, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    with httpx.Client(timeout=5) as client:
        while True:
            if serve.proc.poll() is not None:
                raise RuntimeError(f"mailgate serve exited {serve.proc.returncode}: {serve.stderr}")
            try:
                if client.get(serve.url + "/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mailgate serve not ready in {limit} s: {serve.stderr}")
            time.sleep(0.05)


def _stop(serve: Serve) -> None:
    """SIGTERM and wait, as a service manager does; a hang, a non-zero exit or a
    traceback on stderr fails the test that owns the server."""
    proc = serve.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"serve ignored SIGTERM for 20 s: {serve.stderr}") from None
    try:  # serve's own children (listener processes) must be gone with it
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("mailgate serve exited and left processes of its group running")
    if proc.returncode != 0 or "Traceback" in serve.stderr:
        raise AssertionError(f"mailgate serve exited {proc.returncode}: {serve.stderr}")
