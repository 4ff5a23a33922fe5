"""Transport kinds by name: build one from stored settings, describe its form.

Adding a provider is one module and one line in :data:`TRANSPORTS`. Each class
takes its own validated ``Config`` instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from pydantic import BaseModel, ValidationError

from mailgate.errors import InvalidInput
from mailgate.outbound.base import Transport
from mailgate.outbound.capture import CaptureTransport
from mailgate.outbound.mailgun import MailgunTransport
from mailgate.outbound.netguard import NetGuard
from mailgate.outbound.sendcloud import SendCloudTransport
from mailgate.outbound.sendmail import SendmailTransport
from mailgate.outbound.smtp import SmtpTransport

TRANSPORTS: dict[str, type] = {
    "smtp": SmtpTransport,
    "sendmail": SendmailTransport,
    "capture": CaptureTransport,
    "mailgun": MailgunTransport,  # HTTP providers: outbound/http.py, docs/providers.md
    "sendcloud": SendCloudTransport,
}


def _transport_class(kind: str) -> Any:  # a class with Config, per TRANSPORTS
    try:
        return TRANSPORTS[kind]
    except KeyError:
        known = ", ".join(sorted(TRANSPORTS))
        raise InvalidInput(
            f"unknown transport kind {kind!r} (known: {known})", field="kind"
        ) from None


def config_model(kind: str) -> type[BaseModel]:
    """The pydantic model of a kind's settings."""
    model: type[BaseModel] = _transport_class(kind).Config
    return model


def build_transport(
    kind: str,
    config: Mapping[str, Any],
    *,
    guard: NetGuard | None = None,
    executor: Executor | None = None,
) -> Transport:
    """Validate ``config`` for ``kind`` and return a ready transport.

    Kinds that connect to a host (``smtp``) take ``guard``, the network policy they
    check every connection against, and ``executor``, where they resolve names.
    Raises :class:`InvalidInput` naming ``kind`` or the offending ``config.<field>``.
    """
    cls = _transport_class(kind)
    try:
        settings = cls.Config.model_validate(dict(config))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        field = f"config.{where}" if where else "config"
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None
    if getattr(cls, "connects", False):
        transport: Transport = cls(settings, guard=guard, executor=executor)
    else:
        transport = cls(settings)
    return transport


def secret_fields(kind: str) -> set[str]:
    """Names of write-only settings (``json_schema_extra={"secret": True}``)."""
    fields = config_model(kind).model_fields
    return {
        name
        for name, info in fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("secret")
    }


def config_schema(kind: str) -> dict[str, Any]:
    """The JSON schema the console renders the settings form from."""
    return config_model(kind).model_json_schema()
