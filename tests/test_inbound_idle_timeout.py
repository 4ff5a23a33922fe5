"""The listener's idle timeout follows the last command (one moving timer per session)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from mailgate.inbound.smtp import start_listener
from mailgate.runtime import build
from tests.servers.listener import LoopThread
from tests.servers.mailgate import make_settings

IDLE = 0.8


def test_a_busy_session_stays_and_an_idle_one_is_closed(tmp_path: Path) -> None:
    """Commands keep pushing the deadline on; silence past it ends the session."""
    app = build(make_settings(tmp_path, f"sqlite:///{tmp_path / 'mailgate.db'}"))
    loop = LoopThread()
    listener = loop.run(start_listener(app, "127.0.0.1", 0, idle_timeout=IDLE))
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
            replies = sock.makefile("rb")
            assert replies.readline().startswith(b"220 ")
            # Busy for more than twice the timeout: the first deadline must not end it.
            until = time.monotonic() + IDLE * 2.5
            while time.monotonic() < until:
                sock.sendall(b"NOOP\r\n")
                assert replies.readline().startswith(b"250 ")
                time.sleep(0.05)
            # Then silent: the listener hangs up (EOF) instead of waiting forever.
            assert replies.read() == b""
            replies.close()
    finally:
        loop.run(listener.stop())
        loop.close()
        app.dispose()
