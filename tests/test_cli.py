"""The `mailgate` command: clean output, clean errors, scriptable API keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.postgres import free_port
from tests.servers.smtpsink import SmtpSink

Run = Callable[..., subprocess.CompletedProcess[str]]
MAILGATE = str(Path(sys.executable).parent / "mailgate")


@pytest.fixture
def run(tmp_path: Path) -> Run:
    env = {**os.environ, "MAILGATE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}

    def call(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MAILGATE, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            input=stdin.decode() if stdin else None,
        )

    return call


def test_init_is_idempotent_and_keeps_a_private_key(run: Run, tmp_path: Path) -> None:
    """init twice is fine; the generated key file is readable by its owner only."""
    assert run("init").returncode == 0
    assert run("init").returncode == 0
    key = tmp_path / "data" / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    listed = run("transport", "list")
    assert listed.stdout.count("capture") >= 2  # the name and the kind of the one transport


def test_apikey_is_alone_on_the_last_line(run: Run) -> None:
    """Scripts can take the key with `tail -n 1`; a missing workspace is a clear error."""
    run("init")
    done = run("apikey", "create", "--workspace", "default")
    assert done.returncode == 0
    assert done.stdout.strip().splitlines()[-1].startswith("mg_")
    missing = run("apikey", "create", "--workspace", "nope")
    assert missing.returncode == 1
    assert "no workspace named 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_send_and_journal_through_smtp(run: Run, smtp_sink: SmtpSink) -> None:
    """`send` delivers through a named transport and `journal` lists it."""
    run("init")
    added = run(
        "transport",
        "add",
        "sink",
        "--workspace",
        "default",
        "--mode",
        "immediate",
        "--sender",
        "noreply@acme.test",
        "--config",
        json.dumps({"host": "127.0.0.1", "port": smtp_sink.port}),
    )
    assert added.returncode == 0, added.stderr
    transport_id = added.stdout.split()[-1]
    tested = run("transport", "test", transport_id)
    assert tested.returncode == 0 and "connect success" in tested.stdout
    sent = run(
        "send",
        "--to",
        "a@example.net",
        "--subject",
        "CLI 你好",
        "--text",
        "hi",
        "--transport",
        transport_id,
    )
    assert sent.returncode == 0, sent.stderr
    assert " sent " in sent.stdout
    assert len(smtp_sink.messages(expect=1)) == 1
    journal = run("journal", "--status", "sent")
    assert "CLI 你好" in journal.stdout


def test_transport_test_names_the_failure(run: Run) -> None:
    """The test button on the command line exits 1 and says where it failed."""
    run("init")
    added = run(
        "transport",
        "add",
        "dead",
        "--workspace",
        "default",
        "--config",
        json.dumps({"host": "127.0.0.1", "port": free_port()}),
    )
    done = run("transport", "test", added.stdout.split()[-1])
    assert done.returncode == 1
    assert "connect" in done.stderr and "refused" in done.stderr


def test_bad_input_is_a_message_not_a_traceback(run: Run) -> None:
    """Invalid addresses and JSON are reported with the field, exit status 1."""
    run("init")
    bad = run("send", "--to", "not-an-address", "--text", "x")
    assert bad.returncode == 1 and "(to[0])" in bad.stderr and "Traceback" not in bad.stderr
    bad_json = run("transport", "add", "x", "--config", "{nope")
    assert bad_json.returncode == 1 and "--config is not JSON" in bad_json.stderr


def test_parse_prints_json_lines(run: Run, tmp_path: Path) -> None:
    """One JSON object per file, with exactly the contract's keys; a missing file exits 1."""
    eml = tmp_path / "a.eml"
    eml.write_bytes(
        b"From: =?gb2312?B?zfXQocP3?= <w@example.cn>\r\nSubject: =?gbk?B?xOO6ww==?=\r\n"
        b"Content-Type: text/plain; charset=gbk\r\n\r\n\xc4\xe3\xba\xc3\r\n"
    )
    done = run("parse", str(eml), str(eml))
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    obj = json.loads(lines[0])
    assert obj["subject"] == "你好" and obj["from"] == [
        {"name": "王小明", "address": "w@example.cn"}
    ]
    assert set(obj) == {
        "message_id",
        "in_reply_to",
        "references",
        "date",
        "from",
        "sender",
        "reply_to",
        "to",
        "cc",
        "subject",
        "text",
        "html",
        "reply_text",
        "attachments",
        "kind",
        "bounce",
        "errors",
        "warnings",
    }
    missing = run("parse", str(tmp_path / "nope.eml"))
    assert missing.returncode == 1 and "No such file" in missing.stderr


def test_serve_on_a_busy_port_names_the_setting(run: Run, tmp_path: Path) -> None:
    """A port already in use is a configuration error naming MAILGATE_HTTP, exit status 2."""
    import socket

    run("init")  # serve refuses a data directory init did not prepare
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        env = {
            **os.environ,
            "MAILGATE_DATA_DIR": str(tmp_path / "data"),
            "MAILGATE_HTTP": f"127.0.0.1:{port}",
            "MAILGATE_SMTP": f"127.0.0.1:{free_port()}",
        }
        done = subprocess.run(
            [MAILGATE, "serve"], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2
    assert "MAILGATE_HTTP" in done.stderr and "Traceback" not in done.stderr
