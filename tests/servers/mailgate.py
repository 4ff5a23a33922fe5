"""mailgate itself, as a real HTTP server with its workers, on either store."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from mailgate.api.app import create_app
from mailgate.config import Settings
from mailgate.runtime import Mailgate, build
from mailgate.runtime.worker import Worker
from mailgate.services import tenancy
from mailgate.store.db import make_engine, migrate, transaction
from tests.servers.postgres import Postgres, free_port

T = TypeVar("T")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per run; each test gets a copy of the file.

    Running every migration costs about 0.2 s, a copy 0.01 s: over a thousand
    store tests that is minutes of the suite.
    """
    path = tmp_path_factory.mktemp("template") / "mailgate.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as conn:  # everything into the main file, so a copy is whole
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: Postgres) -> str:
    """A PostgreSQL database migrated once per run, the template of each test's database."""
    url = postgres.create_database()
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()  # CREATE DATABASE … TEMPLATE needs it free of connections
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs twice: on embedded SQLite and on a real PostgreSQL.

    The database starts migrated (a copy of a template); ``build`` finds it at head.
    """
    if request.param == "sqlite":
        path = tmp_path / "mailgate.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.create_database(template=request.getfixturevalue("postgres_template"))


def make_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    settings = Settings(
        data_dir=tmp_path,
        database_url=url,
        secret_key="test-secret-key-9f3Kq2Lm7Xv4Bn8Rt1Wy6Zp0Hc5Jd",
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        lease_seconds=30,
        hostname="mailgate.example.com",
        # Every test server listens on loopback; a workspace may use it only when allowed.
        allow_private_networks=("127.0.0.0/8", "::1/128"),
        # No DNS but the tests' own: inbound authentication computes only when asked.
        inbound_auth="off",
    )
    for k, v in overrides.items():
        setattr(settings, k, v)
    return settings


@pytest.fixture
def blob_store() -> str:
    """The blob store ``mailgate_app`` uses (MAILGATE_BLOB_STORE).

    Run a test on both with ``@pytest.mark.parametrize("blob_store", BLOB_STORES)``:
    a direct parametrization overrides this fixture.
    """
    return "database"


BLOB_STORES = ["database", "files"]


@pytest.fixture
def mailgate_app(store_url: str, tmp_path: Path, blob_store: str) -> Iterator[Mailgate]:
    app = build(make_settings(tmp_path, store_url, blob_store=blob_store))
    try:
        yield app
    finally:
        app.dispose()


@dataclass
class Server:
    """A running mailgate: HTTP API on ``url`` and a worker, in one event loop thread."""

    app: Mailgate
    url: str
    key: str
    workspace_id: str
    loop: asyncio.AbstractEventLoop
    worker: Worker

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key or self.key}"},
            timeout=30,
        )

    def operator_client(self) -> httpx.Client:
        """An operator key acting in this server's workspace: for operator-only settings

        such as a transport's or a source's ``ca_file`` (docs/api.md, "Roles").
        """
        with transaction(self.app.sessions) as session:
            _, key = tenancy.create_api_key(session, None, "operator", operator=True)
        client = self.client(key)
        client.headers["Mailgate-Workspace"] = self.workspace_id
        return client

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the server's loop (where the transports' pools live)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def new_workspace(self, name: str) -> tuple[str, str]:
        with transaction(self.app.sessions) as session:
            ws = tenancy.create_workspace(session, name)
            _, key = tenancy.create_api_key(session, ws.id)
        return ws.id, key


@pytest.fixture
def server(mailgate_app: Mailgate) -> Iterator[Server]:
    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        _, key = tenancy.create_api_key(session, ws.id, "tests")
    port = free_port()
    api = create_app(mailgate_app)
    uv = uvicorn.Server(
        uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    worker = Worker(mailgate_app, idle_seconds=0.05)

    async def main() -> None:
        await asyncio.gather(uv.serve(), worker.run(stop))
        await mailgate_app.aclose()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    while not uv.started:
        if not thread.is_alive():
            raise RuntimeError("mailgate did not start")
        threading.Event().wait(0.01)
    try:
        yield Server(mailgate_app, f"http://127.0.0.1:{port}", key, ws.id, loop, worker)
    finally:
        uv.should_exit = True
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
