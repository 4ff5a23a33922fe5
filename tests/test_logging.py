"""Structured log lines: one per delivery, receipt and routing decision; no secret, no body."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from mailgate.config import Settings
from mailgate.runtime import logs
from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport, wait_for, wait_status
from tests.servers.mailgate import Server

PASSWORD = "pw-MARKER-7f1c2a9e"
BODY = "body-MARKER-3be0d5"
SUBJECT = "subject-MARKER-91aa"
INBOUND = (
    "From: Olga Customer <olga@customer.example.net>\r\n"
    "To: support@acme.example.com\r\n"
    f"Subject: Re: {SUBJECT}\r\n"
    "Message-ID: <log-test-1@customer.example.net>\r\n\r\n"
    f"{BODY} inbound\r\n"
).encode()


@pytest.fixture
def captured(tmp_path: Any) -> Iterator[io.StringIO]:
    """Everything logged at DEBUG, as `mailgate serve` writes it (JSON), into a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    touched = [logging.getLogger(n) for n in (*logs.QUIET, "uvicorn", "uvicorn.error")]
    levels = [(lg, lg.level, lg.handlers[:], lg.propagate) for lg in touched]
    stream = io.StringIO()
    settings = Settings(
        data_dir=tmp_path, database_url="sqlite://", secret_key="x", log_format="json",
        log_level="DEBUG",
    )
    logs.configure(settings, stream=stream)
    try:
        yield stream
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for lg, level, handlers, propagate in levels:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
        structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_send_and_receive_log_ids_never_secrets_or_bodies(
    server: Server, captured: io.StringIO
) -> None:
    """A send through a password-protected server and an inbound message: ids, no secrets."""
    with ScriptedSMTPServer(auth=("app", PASSWORD)) as smtp, server.client() as c:
        body = smtp_transport(smtp.port, config={"username": "app", "password": PASSWORD})
        assert c.post("/v1/transports", json=body).status_code == 201
        sent = c.post(
            "/v1/messages",
            json={"to": ["olga@customer.example.net"], "subject": SUBJECT, "text": BODY},
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["id"]
        wait_status(c, message_id, "sent")
        up = c.post("/v1/inbound", content=INBOUND, headers={"Content-Type": "message/rfc822"})
        assert up.status_code == 202, up.text
        inbound_id = up.json()["id"]
        wait_for(
            lambda: any(
                line.get("event") == "routed" and line.get("message_id") == inbound_id
                for line in lines(captured)
            ),
            what="the routing decision to be logged",
        )
    text = captured.getvalue()
    assert smtp.messages and BODY in smtp.messages[0].data.decode(), "the marker was sent"
    assert PASSWORD not in text
    assert BODY not in text
    assert SUBJECT not in text
    every = lines(captured)  # every line is JSON
    by_event = {(line["event"], line.get("message_id")): line for line in every}
    delivery = by_event[("delivery", message_id)]
    assert delivery["status"] == "sent" and delivery["workspace_id"] == server.workspace_id
    assert delivery["transport_kind"] == "smtp" and delivery["recipients"] == {"sent": 1}
    assert "conversation_id" in delivery
    receipt = by_event[("receipt", inbound_id)]
    assert receipt["source"] == "api" and receipt["result"] == "stored"
    routed = by_event[("routed", inbound_id)]
    assert routed["workspace_id"] == server.workspace_id and routed["kind"] == "normal"
    assert routed["conversation_id"].startswith("cv_")
    assert {"ts", "level", "logger"} <= routed.keys()


def test_secret_fields_are_redacted_whatever_a_caller_passes(captured: io.StringIO) -> None:
    """A field named like a secret or a body is printed as [redacted]."""
    logging.getLogger("mailgate.somewhere").warning(
        "careless", extra={"password": PASSWORD, "body": BODY, "message_id": "msg_1"}
    )
    structlog.get_logger("mailgate.other").info("careless too", token=PASSWORD)
    text = captured.getvalue()
    assert PASSWORD not in text and BODY not in text
    first, second = lines(captured)
    assert first["password"] == "[redacted]" and first["message_id"] == "msg_1"
    assert second["token"] == "[redacted]" and second["logger"] == "mailgate.other"


def test_console_format_and_bad_settings(tmp_path: Any) -> None:
    """MAILGATE_LOG_FORMAT and MAILGATE_LOG_LEVEL are checked and name themselves."""
    from mailgate.errors import ConfigurationError

    key = "Qx7Lp2Zr9Vt4Wm1Yn6Bc3Hd8-k5Jf0Ga2Ue"
    env = {"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_SECRET_KEY": key}
    assert Settings.from_env({**env, "MAILGATE_LOG_FORMAT": "Console"}).log_format == "console"
    assert Settings.from_env({**env, "MAILGATE_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    with pytest.raises(ConfigurationError, match="MAILGATE_LOG_FORMAT"):
        Settings.from_env({**env, "MAILGATE_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigurationError, match="MAILGATE_METRICS_PUBLIC"):
        Settings.from_env({**env, "MAILGATE_METRICS_PUBLIC": "maybe"})
