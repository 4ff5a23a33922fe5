"""CaptureTransport, and the transport registry (kinds, validation, secrets, schema)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mailgate.errors import InvalidInput
from mailgate.outbound.base import CheckResult, Envelope
from mailgate.outbound.capture import CaptureTransport
from mailgate.outbound.mailgun import MailgunTransport
from mailgate.outbound.registry import (
    TRANSPORTS,
    build_transport,
    config_schema,
    secret_fields,
)
from mailgate.outbound.sendcloud import SendCloudTransport
from mailgate.outbound.sendmail import SendmailTransport
from mailgate.outbound.smtp import SmtpTransport


def test_capture_accepts_every_recipient() -> None:
    """Every recipient is accepted with 250 captured; nothing is sent."""
    t = CaptureTransport()
    result = asyncio.run(t.deliver(Envelope("", ("a@x.test", "b@x.test")), b"Subject: x\r\n\r\n"))
    assert [(r.address, r.accepted, r.code, r.text) for r in result.recipients] == [
        ("a@x.test", True, 250, "captured"),
        ("b@x.test", True, 250, "captured"),
    ]
    assert asyncio.run(t.check()) == CheckResult(True, "connect success")
    asyncio.run(t.close())


def test_registry_lists_every_kind() -> None:
    """smtp, sendmail, capture and the HTTP providers are registered under their kind names."""
    expected = {
        "smtp": SmtpTransport,
        "sendmail": SendmailTransport,
        "capture": CaptureTransport,
        "mailgun": MailgunTransport,
        "sendcloud": SendCloudTransport,
    }
    assert expected == TRANSPORTS
    assert all(getattr(cls, "kind", None) == kind for kind, cls in TRANSPORTS.items())


def test_build_transport_validates_and_applies_defaults() -> None:
    """A mapping from the store becomes a transport with its defaults filled in."""
    t = build_transport("smtp", {"host": "smtp.example.test", "security": "starttls"})
    assert isinstance(t, SmtpTransport)
    assert (t.config.port, t.config.timeout, t.config.max_connections, t.config.auth) == (
        25,
        30,
        4,
        "auto",
    )
    assert isinstance(build_transport("capture", {}), CaptureTransport)
    sendmail = build_transport("sendmail", {"args": ["-C", "/etc/postfix-out"]})
    assert isinstance(sendmail, SendmailTransport)
    assert sendmail.config.path == "/usr/sbin/sendmail"


def test_unknown_kind_names_the_kind_field() -> None:
    """An unknown kind is invalid input on the field 'kind'."""
    with pytest.raises(InvalidInput) as caught:
        build_transport("pigeon", {})
    assert caught.value.field == "kind"
    assert "pigeon" in caught.value.message


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("smtp", {"host": "h", "port": "not a port"}, "config.port"),
        ("smtp", {"host": "h", "port": 70000}, "config.port"),
        ("smtp", {"port": 25}, "config.host"),
        ("smtp", {"host": "h", "security": "ssl3"}, "config.security"),
        ("smtp", {"host": "h", "colour": "red"}, "config.colour"),
        ("sendmail", {"timeout": -1}, "config.timeout"),
        ("capture", {"anything": 1}, "config.anything"),
    ],
)
def test_invalid_config_names_the_field(kind: str, config: dict[str, Any], field: str) -> None:
    """A pydantic validation error becomes InvalidInput naming config.<field>."""
    with pytest.raises(InvalidInput) as caught:
        build_transport(kind, config)
    assert caught.value.field == field


def test_secret_fields() -> None:
    """Only the SMTP password is write-only."""
    assert secret_fields("smtp") == {"password"}
    assert secret_fields("sendmail") == set()
    assert secret_fields("capture") == set()


def test_config_schema_marks_secrets_for_the_console() -> None:
    """The JSON schema carries defaults, choices and the secret marker."""
    schema = config_schema("smtp")
    props = schema["properties"]
    assert schema["required"] == ["host"]
    assert props["password"]["secret"] is True
    assert props["port"]["default"] == 25
    assert props["security"]["enum"] == ["none", "starttls", "tls"]
    assert config_schema("capture")["properties"] == {}


def test_password_is_not_in_repr() -> None:
    """The password never shows up in a repr (logs, tracebacks)."""
    t = build_transport("smtp", {"host": "h", "username": "u", "password": "hunter2"})
    assert isinstance(t, SmtpTransport)
    assert "hunter2" not in repr(t.config)
