"""Small helpers for the console's forms: fields from a posted form, errors beside fields."""

from __future__ import annotations

import base64
from typing import Any

from starlette.datastructures import FormData, UploadFile

from mailgate.errors import MailgateError


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional(form: FormData, name: str) -> str | None:
    return text(form, name) or None


def checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "1", "true")


def addresses(form: FormData, name: str) -> list[str]:
    return [a.strip() for a in text(form, name).replace(";", ",").split(",") if a.strip()]


def errors_of(exc: MailgateError) -> dict[str, str]:
    """The service's own message, keyed by the form field it names (``config.host`` → host)."""
    field = (exc.field or "").removeprefix("config.").split("[", 1)[0] or "_form"
    return {field: exc.message}


def attachments(form: FormData, name: str = "attachments") -> list[dict[str, Any]]:
    """Uploaded files in the API's attachment shape (base64), empty file inputs skipped."""
    out = []
    for item in form.getlist(name):
        if isinstance(item, UploadFile) and item.filename:
            data = item.file.read()
            out.append(
                {
                    "filename": item.filename,
                    "content_type": item.content_type or "application/octet-stream",
                    "content_base64": base64.b64encode(data).decode(),
                }
            )
    return out
