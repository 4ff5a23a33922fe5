"""Request bodies. Unknown fields are refused so that a typo never passes silently."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# JSON's "\ud800" decodes to a lone surrogate, which no UTF-8 encoder writes (a
# surrogate pair decodes to one character, so any surrogate left alone is broken text).
_SURROGATE = re.compile("[\ud800-\udfff]")
UNICODE_ERROR = "invalid_unicode"


def lone_surrogate(value: object, path: str = "") -> str | None:
    """The path (``to[0]``, ``headers.X-Tag``) of the first broken string in ``value``."""
    if isinstance(value, str):
        # isascii() is a fast scan: base64 attachments never pay for the regex.
        return path if not value.isascii() and _SURROGATE.search(value) else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := lone_surrogate(item, f"{path}[{i}]")) is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SURROGATE.search(key):
                return where
            if (found := lone_surrogate(item, where)) is not None:
                return found
    return None


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so is text that is not Unicode."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        where = lone_surrogate(data)
        if where is not None:
            # api/errors.py joins ``where`` to the location, so the error names the field.
            raise PydanticCustomError(
                UNICODE_ERROR,
                "not valid Unicode: a lone surrogate such as \\ud800; send whole characters",
                {"where": where},
            )
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


class BatchIn(Strict):
    messages: list[MessageIn] = Field(max_length=1000)
