"""The README's shell examples run as written against a real `mailgate serve`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_for
from tests.servers.authdns import AuthDns
from tests.servers.postgres import free_port
from tests.servers.smtpsink import stop_process_group

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def shell_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.*?)```", text, re.S)


@contextmanager
def serve(tmp_path: Path, **extra_env: str) -> Iterator[tuple[dict[str, str], int]]:
    """`mailgate init` + `mailgate serve` on free ports, the way `make run` does it."""
    port = free_port()
    env = {
        **os.environ,
        "MAILGATE_DATA_DIR": str(tmp_path / "data"),
        "MAILGATE_HTTP": f"127.0.0.1:{port}",
        "MAILGATE_SMTP": f"127.0.0.1:{free_port()}",
        "PATH": f"{BIN}:{os.environ['PATH']}",
        **extra_env,
    }
    subprocess.run([BIN / "mailgate", "init"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [BIN / "mailgate", "serve"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, what="mailgate serve to answer")
        yield env, port
    finally:
        stop_process_group(proc)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], int]]:
    with serve(tmp_path) as running:
        yield running


def test_readme_first_mail_and_smtp_server(
    served: tuple[dict[str, str], int], tmp_path: Path
) -> None:
    """The README walk-throughs work: capture, a real SMTP server, receiving an answer."""
    env, port = served
    _make, first, second, receiving = shell_blocks()[:4]
    sink_port = free_port()
    listener_port = env["MAILGATE_SMTP"].rpartition(":")[2]
    script = "\n".join(
        [
            "set -eu",
            f"cd {tmp_path}",
            f"ln -s {BIN.parent} .venv",
            first,
            # A person types slower than the worker delivers; a loaded CI machine may not.
            second.replace("1025", str(sink_port)).replace(
                ".venv/bin/mailgate journal", "sleep 2; .venv/bin/mailgate journal"
            ),
            "sleep 1",
            "kill %1",
            "echo '<<receiving>>'",
            receiving.replace("2525", listener_port).replace("sleep 1", "sleep 3"),
        ]
    ).replace("8025", str(port))
    done = subprocess.run(
        ["bash", "-c", script],
        env={**env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # The first curl's answer: delivered into the capture transport.
    sent, end = json.JSONDecoder().raw_decode(out)
    captured, _ = json.JSONDecoder().raw_decode(out[end:])
    assert captured["items"][0]["subject"] == "您好 — your invoice"
    assert sent["status"] == "sent" and sent["recipients"][0]["text"] == "captured"
    assert "Subject: Order shipped" in out  # aiosmtpd printed the delivered message
    assert out.count("│ sent ") == 2  # and the journal lists both
    received = out.partition("<<receiving>>\n")[2]
    address, end = json.JSONDecoder().raw_decode(received)
    conversations, _ = json.JSONDecoder().raw_decode(received[end:].strip())
    assert address["address"] == "support@acme.test"
    [conv] = conversations["items"]
    assert conv["subject"] == "打印机坏了" and conv["address"] == "support@acme.test"


def test_readme_sending_domain(tmp_path: Path, authdns: AuthDns) -> None:
    """The sending-domain walk-through: five commands, against a real (empty) DNS server."""
    [block] = [b for b in shell_blocks() if "/v1/domains" in b]
    assert len(block.strip().split("\n\n")) == 5  # commands, one paragraph each
    first = next(b for b in shell_blocks() if "apikey create" in b)
    key_line = next(line for line in first.splitlines() if line.startswith("KEY="))
    dns = f"{authdns.address[0]}:{authdns.address[1]}"
    with serve(tmp_path, MAILGATE_DNS_RESOLVER=dns) as (env, port):
        script = "\n".join(
            ["set -eu", f"cd {tmp_path}", f"ln -s {BIN.parent} .venv", key_line, block]
        ).replace("8025", str(port))
        done = subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # The records to publish, each with its reason.
    assert "_dmarc.news.acme.test TXT v=DMARC1; p=none" in out
    assert "reply.news.acme.test MX 10 localhost." in out
    assert "._domainkey.news.acme.test TXT v=DKIM1; k=rsa; p=" in out
    decoder = json.JSONDecoder()
    start = out.index("{")
    verified, end = decoder.raw_decode(out, start)
    assert verified["state"] == "pending"
    assert {r["status"] for r in verified["records"]} == {"missing"}
    sent, end = decoder.raw_decode(out[end:].lstrip())
    assert sent["status"] == "sent", sent
