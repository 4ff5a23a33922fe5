"""Request bodies. Unknown fields are refused so that a typo never passes silently."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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
