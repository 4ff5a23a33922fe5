"""The console: one mailgate (HTTP API + console + worker + SMTP listener) per test module.

``console_server`` is module-scoped: the console's tests share one server, one
smtp-sink and one listener, on SQLite, and create what they need (workspaces,
users) with unique names. It runs exactly as ``mailgate serve`` wires it:
``api.app.create_app`` then ``web.app.install``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from mailgate.api.app import create_app
from mailgate.inbound.smtp import Listener, start_listener
from mailgate.runtime import Mailgate, build
from mailgate.runtime.worker import Worker
from mailgate.services import tenancy, users
from mailgate.store.db import transaction
from mailgate.web.app import install
from tests.servers.mailgate import make_settings
from tests.servers.smtpsink import SMTP_SINK, SmtpSink, _start_sink, free_port, stop_process_group

PASSWORD = "correct horse battery"


@dataclass
class ConsoleServer:
    app: Mailgate
    url: str
    listener: Listener
    sink: SmtpSink
    loop: asyncio.AbstractEventLoop

    def workspace(self, name: str) -> str:
        with transaction(self.app.sessions) as session:
            return tenancy.ensure_workspace(session, name).id

    def user(self, email: str, role: str, workspace_id: str | None, **kw: str) -> str:
        with transaction(self.app.sessions) as session:
            users.create_user(session, email, PASSWORD, role, workspace_id, **kw)
        return email

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)

    @contextmanager
    def login(self, email: str, language: str = "en") -> Iterator[httpx.Client]:
        """An httpx client signed in as ``email`` (after the login form's own CSRF round)."""
        with self.client(**{"Accept-Language": language}) as client:
            token = csrf_of(client.get("/login").text)
            answer = client.post(
                "/login", data={"email": email, "password": PASSWORD, "csrf": token, "next": "/"}
            )
            assert answer.status_code == 303, answer.text
            yield client


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture(scope="module")
def console_server(sqlite_template: Path) -> Iterator[ConsoleServer]:
    if not os.path.exists(SMTP_SINK):
        pytest.skip("Postfix smtp-sink is not installed")
    with tempfile.TemporaryDirectory(prefix="mailgate-console-") as tmp:
        os.chmod(tmp, 0o755)
        data = Path(tmp) / "data"
        data.mkdir()
        shutil.copyfile(sqlite_template, data / "mailgate.db")
        sink_dir = Path(tmp) / "sink"
        sink_dir.mkdir()
        sink = _start_sink(sink_dir, ())
        app = build(make_settings(data, f"sqlite:///{data / 'mailgate.db'}"))
        port = free_port()
        api = create_app(app)
        install(api, app)
        uv = uvicorn.Server(
            uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        worker = Worker(app, idle_seconds=0.05)
        started: dict[str, Listener] = {}

        async def main() -> None:
            started["listener"] = await start_listener(app, "127.0.0.1", 0)
            await asyncio.gather(uv.serve(), worker.run(stop))
            await started["listener"].stop()
            await app.aclose()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        try:
            while not uv.started:
                if not thread.is_alive():
                    raise RuntimeError("mailgate did not start")
                threading.Event().wait(0.01)
            yield ConsoleServer(app, f"http://127.0.0.1:{port}", started["listener"], sink, loop)
        finally:
            uv.should_exit = True
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()
            app.dispose()
            stop_process_group(sink.proc)
