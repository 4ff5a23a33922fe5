"""/metrics: who may read it, what it counts, and multiprocess mode (docs/deploy.md)."""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from mailgate.queue import lease
from mailgate.runtime import Mailgate
from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.store.models import Source, new_id, utcnow
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for, wait_status
from tests.servers.listener import RunningListener
from tests.servers.mailgate import Server
from tests.servers.postgres import free_port

RCPT = "metrics-reader@customer.example.net"
RAW = (
    b"From: Ann Example <ann@customer.example.net>\r\nTo: support@acme.example.com\r\n"
    b"Subject: counted\r\nMessage-ID: <metrics-1@customer.example.net>\r\n\r\nhello\r\n"
)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: Server, key: str) -> Samples:
    r = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert RCPT not in r.text and "ann@" not in r.text, "an address became a label"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    want = tuple(sorted(labels.items()))
    return samples.get((name, want), 0.0)


BAD = ("retrying", "failed")


#: Tests whose subject does not depend on the store run the server on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_metrics_need_an_operator_key(server: Server) -> None:
    """401 without a key, 403 for a workspace key: metrics span every workspace."""
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    r = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.key}"})
    assert r.status_code == 403


def test_deliveries_inbound_and_webhooks_are_counted(server: Server) -> None:
    """A send, an upload and a failing webhook move their counters; depth comes from the store."""
    with server.operator_client() as op:
        key = op.headers["Authorization"].removeprefix("Bearer ")
    before = scrape(server, key)
    dead_port = free_port()  # nothing listens: the webhook attempt fails and is retried
    with ScriptedSMTPServer() as smtp, server.client() as c:
        t = c.post("/v1/transports", json=smtp_transport(smtp.port, name="counted-main"))
        assert t.status_code == 201, t.text
        tid = t.json()["id"]
        hook = c.post(
            "/v1/webhooks",
            json={"url": f"http://127.0.0.1:{dead_port}/hook", "events": ["message.received"]},
        )
        assert hook.status_code == 201, hook.text
        sent = c.post("/v1/messages", json={"to": [RCPT], "subject": "m", "text": "counted"})
        assert sent.status_code == 202, sent.text
        wait_status(c, sent.json()["id"], "sent")
        up = c.post("/v1/inbound", content=RAW, headers={"Content-Type": "message/rfc822"})
        assert up.status_code == 202, up.text

        def routed_and_hooked() -> Samples | None:
            now = scrape(server, key)
            hooks = "mailgate_webhook_deliveries_total"
            tries = sum(value(now, hooks, result=r) - value(before, hooks, result=r) for r in BAD)
            inbound = "mailgate_inbound_messages_total"
            processed = value(now, inbound, source="api", result="processed")
            was = value(before, inbound, source="api", result="processed")
            return now if tries >= 1 and processed > was else None

        after = wait_for(routed_and_hooked, what="routing and a webhook attempt to be counted")
    labels = {"transport_kind": "smtp", "transport": tid, "result": "sent"}
    assert value(after, "mailgate_deliveries_total", **labels) == 1
    smtp_kind = {"transport_kind": "smtp"}
    assert value(after, "mailgate_delivery_attempt_seconds_count", **smtp_kind) >= 1 + value(
        before, "mailgate_delivery_attempt_seconds_count", **smtp_kind
    )
    final = {"transport_kind": "smtp", "result": "sent"}
    assert value(after, "mailgate_delivery_seconds_count", **final) >= 1 + value(
        before, "mailgate_delivery_seconds_count", **final
    )
    stored = {"source": "api", "result": "stored"}
    assert value(after, "mailgate_inbound_messages_total", **stored) == 1 + value(
        before, "mailgate_inbound_messages_total", **stored
    )
    assert value(after, "mailgate_inbound_routed_total", kind="normal") >= 1
    # Queue depth is read from the database: every state is present, the queue is empty.
    assert value(after, "mailgate_queue_depth", queue="outbound", state="queued") == 0
    assert ("mailgate_queue_depth", (("queue", "webhooks"), ("state", "retrying"))) in after


@SQLITE_ONLY
def test_source_health_is_read_at_scrape_time(server: Server) -> None:
    """A failing source shows as failing by id and kind, with no name or host in a label."""
    with transaction(server.app.sessions) as session:
        session.add(
            Source(
                id=new_id("src"),
                workspace_id=server.workspace_id,
                kind="imap",
                name="Private Mailbox Name",
                config={"host": "imap.private.example"},
                state={},
                last_error="login refused",
                last_polled_at=utcnow(),
            )
        )
        push = Source(
            id=new_id("src"), workspace_id=server.workspace_id, kind="mailgun", name="route"
        )
        session.add(push)
    with server.operator_client() as op:
        r = op.get("/metrics")
    assert r.status_code == 200
    assert 'kind="imap",source="src_' in r.text and 'state="failing"} 1.0' in r.text
    # A push source is never polled: without an error it is ok, not waiting.
    assert f'mailgate_source_state{{kind="mailgun",source="{push.id}",state="ok"}} 1.0' in r.text
    assert "Private Mailbox Name" not in r.text and "imap.private.example" not in r.text


def test_lease_takeovers_are_counted(mailgate_app: Mailgate) -> None:
    """Claiming a row whose holder's lease ran out counts one takeover, a fresh row none."""
    from mailgate.store import metrics

    now = utcnow()
    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "leases")
        for owner in ("dead-worker", None):
            session.add(
                Source(
                    id=new_id("src"),
                    workspace_id=ws.id,
                    kind="pop3",
                    name="s",
                    config={},
                    state={},
                    lease_owner=owner,
                    lease_until=now - timedelta(seconds=5) if owner else None,
                )
            )
    counter = metrics.LEASE_TAKEOVERS.labels("sources")
    before = counter._value.get()
    free = (Source.lease_until.is_(None)) | (Source.lease_until < now)
    with transaction(mailgate_app.sessions) as session:
        claimed = lease.claim(
            session, Source, "me", [lease.Walk((free,), Source.id)], limit=10, lease_seconds=30
        )
        assert len(claimed) == 2
        assert counter._value.get() == before, "counted before the commit"
    assert counter._value.get() == before + 1


CHILD = """
import sys
from pathlib import Path
from mailgate.store import metrics
metrics.enable_multiprocess(Path(sys.argv[1]), clear_stale=False)
metrics.DELIVERIES.labels("smtp", "tr_x", "sent").inc(int(sys.argv[2]))
"""


def test_multiprocess_values_add_up_and_stale_files_are_cleared(tmp_path: Path) -> None:
    """Two processes' counters sum in one directory; serve's start drops dead processes' files."""
    from mailgate.store import metrics

    directory = tmp_path / "metrics"
    for n in (3, 2):
        command = [sys.executable, "-c", CHILD, str(directory), str(n)]
        subprocess.run(command, check=True, timeout=60)

    def total() -> float:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            for s in family.samples:
                if s.name == "mailgate_deliveries_total":
                    return s.value
        return 0.0

    assert total() == 5  # both (now dead) processes' counts are kept until a serve starts
    live = next(directory.glob("counter_*.db"))
    shutil.copyfile(live, directory / "counter_1.db")  # pid 1 runs: its file must stay
    metrics.remove_stale_files(directory)
    assert [p.name for p in directory.glob("*.db")] == ["counter_1.db"]


def test_a_worker_without_a_data_directory_makes_none(
    tmp_path: Path, postgres: Any, postgres_template: str
) -> None:
    """A worker on a machine of its own (PostgreSQL, key in the environment) creates no ./data."""
    url = postgres.create_database(template=postgres_template)
    env = {
        **os.environ,
        "MAILGATE_DATABASE_URL": url,
        "MAILGATE_SECRET_KEY": "Qx7Lp2Zr9Vt4Wm1Yn6Bc3Hd8-k5Jf0Ga2Ue",
        "MAILGATE_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mailgate"), "worker", "--once"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data").exists()


@SQLITE_ONLY
def test_listener_counts_stored_mail_and_unknown_recipients(smtp_listener: RunningListener) -> None:
    """One message with a known and an unknown recipient: one stored, one refused recipient."""
    from mailgate.store import metrics

    stored = metrics.INBOUND.labels("smtp", "stored")
    unknown = metrics.INBOUND.labels("smtp", "unknown_recipient")
    before = (stored._value.get(), unknown._value.get())
    raw = RAW.replace(b"metrics-1@", b"metrics-2@")
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        refused = client.sendmail(
            "ann@customer.example.net",
            ["support@acme.example.com", "nobody@acme.example.com"],
            raw,
        )
    assert refused["nobody@acme.example.com"][0] == 550
    assert (stored._value.get(), unknown._value.get()) == (before[0] + 1, before[1] + 1)
