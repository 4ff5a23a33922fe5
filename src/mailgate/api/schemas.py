"""Request bodies and parameters.

Unknown fields are refused so that a typo never passes silently, and text mailgate
could neither send nor store (half a surrogate pair, NUL) is refused naming the field.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from mailgate.errors import InvalidInput

# JSON's "\ud800" decodes to a lone surrogate, which no UTF-8 encoder writes (a
# surrogate pair decodes to one character, so any surrogate left alone is broken text).
_SURROGATE = re.compile("[\ud800-\udfff]")
UNICODE_ERROR = "invalid_unicode"
NUL_ERROR = "nul_character"
#: What is wrong with a string, by error type.
TEXT_ERRORS = {
    UNICODE_ERROR: "not valid Unicode: a lone surrogate such as \\ud800; send whole characters",
    # RFC 5322 §3.5 forbids NUL in a message, and PostgreSQL text cannot hold one.
    NUL_ERROR: "contains a NUL character (\\u0000), which no mail header or stored text may hold",
}


def text_error(value: str) -> str | None:
    """The error type of a string mailgate cannot store or send, or None."""
    if "\0" in value:
        return NUL_ERROR
    # isascii() is a fast scan: base64 attachments never pay for the regex.
    if not value.isascii() and _SURROGATE.search(value):
        return UNICODE_ERROR
    return None


def broken_text(value: object, path: str = "") -> tuple[str, str] | None:
    """(path, error type) of the first bad string in ``value``: ``to[0]``, ``headers.X-Tag``."""
    if isinstance(value, str):
        error = text_error(value)
        return (path, error) if error else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := broken_text(item, f"{path}[{i}]")) is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (error := text_error(key)):
                return where, error
            if (found := broken_text(item, where)) is not None:
                return found
    return None


def plain_params(request: Request) -> None:
    """An app-wide dependency: path and query parameters hold text the store can hold.

    ``/v1/messages/%00`` reached PostgreSQL ("text fields cannot contain NUL") and
    answered 500.
    """
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    for name, value in params:
        if isinstance(value, str) and (error := text_error(value)):
            raise InvalidInput(f"{name}: {TEXT_ERRORS[error]}", field=name)


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so is text that is not Unicode."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        found = broken_text(data)
        if found is not None:
            where, error = found
            # api/errors.py joins ``where`` to the location, so the error names the field.
            raise PydanticCustomError(error, TEXT_ERRORS[error], {"where": where})
        return data


class TransportIn(Strict):
    name: str
    kind: str = "smtp"
    scope: Literal["system", "workspace", "team"] = "workspace"
    team: str | None = None
    default: bool = False
    mode: Literal["immediate", "queued"] = "queued"
    enabled: bool = True
    sender: str | None = None
    sender_policy: Literal["as_is", "on_behalf_of", "restrict_from"] = "as_is"
    bounce_address: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    # Sending limits (docs/transports.md); null is no limit. Typed loosely so the
    # service's refusal names the field in mailgate's own words.
    daily_quota: Any = None
    rate_per_second: Any = None
    rate_per_minute: Any = None
    max_connections: Any = None
    warmup: Any = None
    fallback_transport: Any = None
    failover_after: Any = None


class TransportPatch(Strict):
    name: str | None = None
    kind: str | None = None
    scope: Literal["system", "workspace", "team"] | None = None
    team: str | None = None
    default: bool | None = None
    mode: Literal["immediate", "queued"] | None = None
    enabled: bool | None = None
    sender: str | None = None
    sender_policy: Literal["as_is", "on_behalf_of", "restrict_from"] | None = None
    bounce_address: str | None = None
    config: dict[str, Any] | None = None
    daily_quota: Any = None
    rate_per_second: Any = None
    rate_per_minute: Any = None
    max_connections: Any = None
    warmup: Any = None
    fallback_transport: Any = None
    failover_after: Any = None


class AttachmentIn(Strict):
    filename: str
    content_type: str = "application/octet-stream"
    content_base64: str
    content_id: str | None = None
    inline: bool | None = None


class MessageIn(Strict):
    from_: str | None = Field(default=None, alias="from")
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    reply_to: str | list[str] | None = None
    subject: str = ""
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    transport: str | None = None
    team: str | None = None
    mode: Literal["immediate", "queued"] | None = None
    auto: bool = False
    category: Literal["transactional", "bulk"] = "transactional"
    unsubscribe: bool = False


class BatchIn(Strict):
    messages: list[MessageIn] = Field(max_length=1000)
