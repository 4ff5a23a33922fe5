"""/healthz and /readyz: no key, an answer within a second, 503 with the reason (docs/deploy.md)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mailgate.cli.main import app as cli
from mailgate.config import Settings
from mailgate.runtime import build
from mailgate.services import tenancy
from mailgate.store.db import make_engine, transaction
from tests.helpers import wait_for
from tests.servers.mailgate import Server
from tests.servers.postgres import free_port

MAILGATE = str(Path(sys.executable).parent / "mailgate")
#: Tests that put another engine in place need the server on one store only.
SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    ("store_url", "blob_store"),
    [("sqlite", "database"), ("sqlite", "files"), ("postgres", "database")],
    indirect=["store_url"],
)
def test_probes_answer_ok_without_a_key(server: Server) -> None:
    """Both probes are 200 with every check named, and need no key."""
    for path, checks in (("/healthz", {"database", "blobs"}), ("/readyz", {"migrations"})):
        r = httpx.get(f"{server.url}{path}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ok"
        assert checks <= {k for k, v in body["checks"].items() if v == "ok"}


@SQLITE_ONLY
def test_unreachable_database_is_503_naming_only_the_error_type(server: Server) -> None:
    """A refused database connection: 503, the check and exception type, no host or user."""
    good = server.app.engine
    server.app.engine = make_engine(f"postgresql+psycopg://hidden_user@127.0.0.1:{free_port()}/x")
    try:
        r = httpx.get(f"{server.url}/healthz")
    finally:
        server.app.engine.dispose()
        server.app.engine = good
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "failed (OperationalError)"
    assert body["reason"].startswith("database: failed")
    assert "hidden_user" not in r.text and "127.0.0.1" not in r.text


@SQLITE_ONLY
def test_a_hanging_database_gets_an_answer_in_time(server: Server) -> None:
    """A database that accepts and never answers: the probe still answers, 503 'no answer'."""
    silent = socket.create_server(("127.0.0.1", 0))
    good = server.app.engine
    port = silent.getsockname()[1]
    server.app.engine = make_engine(f"postgresql+psycopg://u@127.0.0.1:{port}/x")
    try:
        r = httpx.get(f"{server.url}/healthz", timeout=10)
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
    finally:
        silent.close()  # the stuck connection attempt fails now and frees its thread
        server.app.engine.dispose()
        server.app.engine = good
    assert r.status_code == 503 and ready.status_code == 503
    assert r.json()["checks"]["database"].startswith("no answer within")
    assert ready.json()["checks"]["migrations"].startswith("no answer within")


@SQLITE_ONLY
@pytest.mark.parametrize("blob_store", ["files"])
def test_unwritable_blob_store_is_503(server: Server, tmp_path: Path) -> None:
    """The file blob store's root cannot hold a file: /healthz says blobs failed."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    blobs = server.app.blobs
    root = blobs.root  # type: ignore[attr-defined]
    blobs.root = blocker / "blobs"  # type: ignore[attr-defined]
    try:
        r = httpx.get(f"{server.url}/healthz")
    finally:
        blobs.root = root  # type: ignore[attr-defined]
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"] == "ok" and checks["blobs"].startswith("failed (")


@SQLITE_ONLY
def test_readyz_waits_for_migrations(server: Server, tmp_path: Path) -> None:
    """A database behind the code's migrations: /readyz is 503 and says where it is."""
    good = server.app.engine
    server.app.engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        r = httpx.get(f"{server.url}/readyz")
    finally:
        server.app.engine.dispose()
        server.app.engine = good
    assert r.status_code == 503
    assert "database at no revision, code expects" in r.json()["checks"]["migrations"]


# --- `mailgate serve` as operators run it ---------------------------------------------------


@dataclass
class Served:
    url: str
    smtp_port: int
    operator_key: str
    data: Path
    process: subprocess.Popen[str]


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`mailgate serve` (HTTP, listener, workers) on SQLite, started the documented way."""
    data = tmp_path_factory.mktemp("served") / "data"
    http, smtp = free_port(), free_port()
    env = {
        **os.environ,
        "MAILGATE_DATA_DIR": str(data),
        "MAILGATE_HTTP": f"127.0.0.1:{http}",
        "MAILGATE_SMTP": f"127.0.0.1:{smtp}",
        "MAILGATE_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # `mailgate init` in this process: an interpreter start costs seconds on a busy machine.
    init = CliRunner().invoke(cli, ["init"], env={k: v for k, v in env.items() if "MAILGATE" in k})
    assert init.exit_code == 0, init.output
    mg = build(Settings.from_env(env, create=False))
    with transaction(mg.sessions) as session:  # `mailgate apikey create --operator`, faster
        _, key = tenancy.create_api_key(session, None, "probe", operator=True)
    mg.dispose()
    stale = data / "metrics" / "counter_999999999.db"  # a process long gone
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    process = subprocess.Popen(
        [MAILGATE, "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{http}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {process.stderr.read() if process.stderr else ''}")
        try:
            return httpx.get(f"{url}/readyz").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, what="mailgate serve to be ready")
        yield Served(url, smtp, key, data, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if process.stderr:
            process.stderr.close()


def test_serve_is_ready_counts_in_the_data_dir_and_logs_json(served: Served) -> None:
    """Ready once the listener accepts; metrics meet in DATA_DIR/metrics; stderr is JSON."""
    ready = httpx.get(f"{served.url}/readyz").json()
    assert ready["checks"] == {"migrations": "ok", "listener": "ok"}
    with socket.create_connection(("127.0.0.1", served.smtp_port), timeout=5) as s:
        assert s.recv(100).startswith(b"220")
    assert not (served.data / "metrics" / "counter_999999999.db").exists(), "stale file kept"
    # Beside the console (which answers HTML), /metrics still answers the API's JSON errors.
    anonymous = httpx.get(f"{served.url}/metrics")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    headers = {"Authorization": f"Bearer {served.operator_key}"}
    with httpx.Client(base_url=served.url, headers=headers, timeout=30) as c:
        ws = c.get("/v1/workspaces").json()["items"][0]["id"]
        c.headers["Mailgate-Workspace"] = ws
        sent = c.post("/v1/messages", json={"to": ["a@example.net"], "text": "x"})
        assert sent.status_code in (200, 202), sent.text  # the capture transport: immediate

        def counted() -> list[str]:
            return [
                line
                for line in c.get("/metrics").text.splitlines()
                if line.startswith("mailgate_deliveries_total{") and 'result="sent"' in line
            ]

        (line,) = wait_for(counted, what="the capture delivery to be counted")
    assert 'transport_kind="capture"' in line and line.endswith(" 1.0")
    assert list((served.data / "metrics").glob("counter_*.db")), "not in multiprocess mode"
    # Stopped, serve's stderr was JSON lines with a level, a logger and a timestamp.
    os.killpg(served.process.pid, signal.SIGTERM)
    served.process.wait(20)
    assert served.process.stderr is not None
    lines = [json.loads(line) for line in served.process.stderr.read().splitlines() if line]
    delivery = [line for line in lines if line.get("event") == "delivery"]
    assert delivery, lines
    assert {"level", "logger", "ts", "message_id", "workspace_id"} <= delivery[0].keys()
