"""Secret key rotation: old keys decrypt and verify, the current one signs; rotate; drop.

The end-to-end test plays an operator rotating ``MAILGATE_SECRET_KEY`` on a live
installation: restart with the new key (old one in ``MAILGATE_OLD_SECRET_KEYS``),
``mailgate secrets rotate`` while serving, restart without the old key. Reply
addresses handed out under the old key thread until it is dropped, and then are
simply not ours (a new conversation, never an error); a secret nobody rotated
becomes a flag in listings and a clear error, never a 500.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import uvicorn

from mailgate.api.app import create_app
from mailgate.config import Settings
from mailgate.crypto import SecretBox
from mailgate.errors import ConfigurationError, SecretUnreadable
from mailgate.inbound import tokens
from mailgate.inbound.pipeline import Incoming, receive
from mailgate.runtime import Mailgate, build
from mailgate.runtime.worker import Worker
from mailgate.services import secrets as secret_service
from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import make_settings
from tests.servers.postgres import free_port

K1, K2, K3 = (secrets.token_urlsafe(32) for _ in range(3))
SUPPORT = "support@acme.example.com"


# --- the box itself ----------------------------------------------------------------------


def test_old_keys_decrypt_and_verify_only_the_current_key_signs() -> None:
    """Under (K2, K1): K1's tokens and MACs are accepted; new ones are K2's alone."""
    old, rotated = SecretBox(K1), SecretBox(K2, K1)
    token = old.encrypt({"password": "hunter2"})
    assert rotated.decrypt(token) == {"password": "hunter2"}
    assert rotated.verify("reply:abc", old.sign("reply:abc"))
    assert rotated.sign("reply:abc") == SecretBox(K2).sign("reply:abc") != old.sign("reply:abc")
    assert not rotated.is_current(token)
    fresh = rotated.rotate(token)
    assert rotated.is_current(fresh) and SecretBox(K2).decrypt(fresh) == {"password": "hunter2"}
    address = tokens.reply_address(old, "k3j9x2m4qz", "acme.example.com")
    assert tokens.parse(rotated, address) == ("reply", "k3j9x2m4qz")
    verp = tokens.verp_address(old, "bounces@acme.example.com", "msg_1")
    assert tokens.parse(rotated, verp) == ("verp", "msg_1")


def test_a_dropped_key_refuses_cleanly() -> None:
    """Without the key: tokens are not ours (None), secrets raise a 409 naming the setting."""
    token = SecretBox(K1).encrypt({"password": "hunter2"})
    address = tokens.reply_address(SecretBox(K1), "k3j9x2m4qz", "acme.example.com")
    box = SecretBox(K2)
    assert tokens.parse(box, address) is None
    with pytest.raises(SecretUnreadable) as refused:
        box.decrypt(token)
    assert refused.value.status == 409 and "MAILGATE_OLD_SECRET_KEYS" in refused.value.message
    assert box.describe(token) == {"secrets_set": [], "secrets_readable": False}
    with pytest.raises(SecretUnreadable):
        box.rotate(token)


def test_verify_refuses_short_and_wrong_macs() -> None:
    """A truncated MAC must have the exact length asked for; a prefix of it is not enough."""
    box = SecretBox(K1)
    mac = box.sign("verp:msg_1")
    assert box.verify("verp:msg_1", mac) and box.verify("verp:msg_1", mac[:12], length=12)
    assert not box.verify("verp:msg_1", mac[:11], length=12)
    assert not box.verify("verp:msg_1", mac[:4], length=4)  # too short to mean anything
    assert not box.verify("verp:msg_1", mac[:12])
    assert not box.verify("verp:msg_2", mac)


@pytest.mark.parametrize("key", ["short", "a" * 64, "ab" * 20, "password" * 5])
def test_weak_secret_key_refused(key: str, tmp_path: Path) -> None:
    """MAILGATE_SECRET_KEY=short (or long but repetitive) is a configuration error naming it."""
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_SECRET_KEY": key})
    assert refused.value.setting == "MAILGATE_SECRET_KEY"
    assert "token_urlsafe" in str(refused.value)


def test_generated_and_random_keys_accepted(tmp_path: Path) -> None:
    """The key init generates and keys from the usual generators pass."""
    assert Settings.from_env({"MAILGATE_DATA_DIR": str(tmp_path)}).secret_key
    for key in (secrets.token_urlsafe(32), secrets.token_hex(32)):
        env = {"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_SECRET_KEY": key}
        assert Settings.from_env(env).secret_key == key
    # A weak key being rotated away from is still read as an old key.
    env["MAILGATE_OLD_SECRET_KEYS"] = "short, older"
    assert Settings.from_env(env).old_secret_keys == ("short", "older")


# --- rotating a live installation --------------------------------------------------------


@contextmanager
def serving(app: Mailgate) -> Iterator[httpx.Client]:
    """``mailgate serve`` on ``app`` (HTTP and workers) in a thread; a client with its key."""
    port = free_port()
    uv = uvicorn.Server(
        uvicorn.Config(
            create_app(app), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        await asyncio.gather(uv.serve(), Worker(app, idle_seconds=0.05).run(stop))
        await app.aclose()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    wait_for(lambda: uv.started or not thread.is_alive(), what="mailgate to start")
    with transaction(app.sessions) as session:
        ws = tenancy.workspace_by_name(session, "acme")
        _, key = tenancy.create_api_key(session, ws.id, "rotation")
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as client:
            yield client
    finally:
        uv.should_exit = True
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
        app.dispose()


def customer_mail(to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Li Lei <li.lei@customer.example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="customer.example.org")
    msg.set_content("hello")
    return msg.as_bytes(policy=email.policy.SMTP)


def arrive(app: Mailgate, client: httpx.Client, to: str, subject: str) -> str:
    """The customer's mail to ``to``, stored and routed; its conversation id."""
    with app.sessions() as session:
        ws = tenancy.workspace_by_name(session, "acme").id
    [got] = receive(app, [Incoming(ws, customer_mail(to, subject), "smtp", "c@x.org", [to])])
    done = wait_for(
        lambda: (m := client.get(f"/v1/messages/{got.id}").json())["status"]
        in ("processed", "dead")
        and m,
        what="inbound processed",
    )
    assert done["status"] == "processed", done  # an unknown token is no error
    return str(done["conversation"])


def reply_address(client: httpx.Client, outbox: ScriptedSMTPServer, conversation: str) -> str:
    r = client.post(f"/v1/conversations/{conversation}/replies", json={"text": "ok"})
    assert r.status_code == 202, r.text
    msg = email.message_from_bytes(outbox.messages[-1].data, policy=email.policy.default)
    return str(msg["Reply-To"].addresses[0].addr_spec)


def test_rotate_while_serving_then_drop_the_old_key(store_url: str, tmp_path: Path) -> None:
    """Old reply addresses and secrets work across rotation; dropped, they refuse cleanly."""
    base = make_settings(tmp_path, store_url)
    app1 = build(replace(base, secret_key=K1))
    with transaction(app1.sessions) as session:
        tenancy.create_workspace(session, "acme")
    with ScriptedSMTPServer() as outbox:
        # Before: key K1. A transport and a Mailgun source with secrets, a conversation.
        with serving(app1) as c:
            main = smtp_transport(outbox.port, mode="immediate")
            assert c.post("/v1/transports", json=main).status_code == 201
            relay_body = smtp_transport(
                outbox.port,
                name="relay",
                default=False,
                mode="immediate",
                config={"username": "app", "password": "hunter2"},
            )
            relay = c.post("/v1/transports", json=relay_body).json()["id"]
            source = c.post(
                "/v1/sources",
                json={"name": "mg", "kind": "mailgun", "config": {"signing_key": "key-1"}},
            )
            assert source.status_code == 201, source.text
            hook = c.post(
                "/v1/webhooks",
                json={"url": f"http://127.0.0.1:{free_port()}/hook", "events": ["*"]},
            )
            assert hook.status_code == 201, hook.text
            assert c.post("/v1/addresses", json={"address": SUPPORT}).status_code == 201
            conv = arrive(app1, c, SUPPORT, "printer")
            old_reply_to = reply_address(c, outbox, conv)

        # Restart with K2, K1 kept as old: everything still works; rotate while serving.
        app2 = build(replace(base, secret_key=K2, old_secret_keys=(K1,)))
        with serving(app2) as c:
            listed = {t["id"]: t for t in c.get("/v1/transports").json()["items"]}
            assert listed[relay]["secrets_set"] == ["password"]
            assert listed[relay]["secrets_readable"] is True
            assert arrive(app2, c, old_reply_to, "no subject tag") == conv
            report = secret_service.rotate_all(app2, batch=1)
            assert (report.rotated, report.unreadable) == (3, [])
            again = secret_service.rotate_all(app2)  # restartable: a re-run only skips
            assert (again.rotated, again.current) == (0, 3)
            new_reply_to = reply_address(c, outbox, conv)
            assert new_reply_to != old_reply_to

        # Restart with K2 alone: rotated secrets read; the old reply address is not ours.
        app3 = build(replace(base, secret_key=K2, old_secret_keys=()))
        with serving(app3) as c:
            r = c.get("/v1/transports")
            assert r.status_code == 200
            assert {t["id"]: t for t in r.json()["items"]}[relay]["secrets_readable"] is True
            assert arrive(app3, c, new_reply_to, "still threads") == conv
            assert arrive(app3, c, old_reply_to, "after the drop") != conv

        # Restart with a key nothing was rotated to: flags and clear errors, never a 500.
        app4 = build(replace(base, secret_key=K3, old_secret_keys=()))
        with serving(app4) as c:
            r = c.get("/v1/transports")
            assert r.status_code == 200, r.text
            flagged = {t["id"]: t for t in r.json()["items"]}[relay]
            assert flagged["secrets_readable"] is False
            r = c.get("/v1/sources")
            assert r.status_code == 200, r.text
            assert [s["secrets_readable"] for s in r.json()["items"]] == [False]
            check = c.post(f"/v1/transports/{relay}/check")
            assert check.status_code == 409, check.text
            assert check.json()["error"]["code"] == "secret_unreadable"
            assert "MAILGATE_OLD_SECRET_KEYS" in check.json()["error"]["message"]
            sent = c.post(
                "/v1/messages",
                json={
                    "to": ["li.lei@customer.example.org"],
                    "from": SUPPORT,
                    "subject": "through relay",
                    "text": "x",
                    "transport": relay,
                },
            )
            assert sent.status_code in (200, 202), sent.text
            detail = wait_for(
                lambda: (m := c.get(f"/v1/messages/{sent.json()['id']}").json())["recipients"][0][
                    "text"
                ]
                and m,
                what="the failed attempt recorded",
            )
            assert detail["status"] != "sent"
            assert "MAILGATE_OLD_SECRET_KEYS" in detail["recipients"][0]["text"]
            sealed = secret_service.rotate_all(app4)
            assert sealed.rotated == 0 and len(sealed.unreadable) == 3
            # A webhook whose secret nobody can read records why; it stops nothing else.
            arrive(app4, c, SUPPORT, "an event for the webhook")
            hook_id = hook.json()["id"]
            errors = wait_for(
                lambda: [
                    d["last_error"]
                    for d in c.get(f"/v1/webhooks/{hook_id}/deliveries").json()["items"]
                    if d["last_error"] and "MAILGATE_OLD_SECRET_KEYS" in d["last_error"]
                ],
                what="the webhook delivery's error",
            )
            assert errors
            # Editing around the lost secret names the problem; setting it again fixes it.
            r = c.patch(f"/v1/transports/{relay}", json={"config": {"timeout": 20}})
            assert r.status_code == 409 and r.json()["error"]["code"] == "secret_unreadable"
            r = c.patch(f"/v1/transports/{relay}", json={"config": {"password": "new-one"}})
            assert r.status_code == 200, r.text
            assert r.json()["secrets_readable"] is True and r.json()["secrets_set"] == ["password"]


def test_secrets_rotate_command(tmp_path: Path) -> None:
    """`mailgate secrets rotate`: a progress bar, a count, harmless to re-run; exit 1 if stuck."""
    data = tmp_path / "data"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    base = {**clean, "MAILGATE_DATA_DIR": str(data), "COLUMNS": "200"}

    def mailgate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(Path(sys.executable).parent / "mailgate"), *args]
        return subprocess.run(
            cmd, env={**base, **env}, capture_output=True, text=True, timeout=60
        )

    assert mailgate("init").returncode == 0
    config = json.dumps({"host": "127.0.0.1", "port": free_port(), "password": "hunter2"})
    added = mailgate("transport", "add", "relay", "--workspace", "default", "--config", config)
    assert added.returncode == 0, added.stderr
    old = (data / "secret.key").read_text().strip()
    rotating = {"MAILGATE_SECRET_KEY": K2, "MAILGATE_OLD_SECRET_KEYS": old}
    first = mailgate("secrets", "rotate", **rotating)
    assert first.returncode == 0, first.stderr
    assert "1 re-encrypted, 0 already under the current key" in first.stdout
    assert "re-encrypting secrets" in first.stderr  # the progress bar
    second = mailgate("secrets", "rotate", **rotating)
    assert "0 re-encrypted, 1 already under the current key" in second.stdout
    stuck = mailgate("secrets", "rotate", MAILGATE_SECRET_KEY=K3)
    assert stuck.returncode == 1
    assert "transports.secrets" in stuck.stderr and "MAILGATE_OLD_SECRET_KEYS" in stuck.stderr
