"""Small helpers the end-to-end tests share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def wait_for(predicate: Callable[[], Any], *, limit: float = 20, what: str = "condition") -> Any:
    """Poll until ``predicate`` returns something truthy; fail with ``what`` after ``limit`` s."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_status(client: httpx.Client, message_id: str, *statuses: str) -> dict[str, Any]:
    """Wait until a message reaches one of ``statuses``; returns its detail."""

    def check() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/v1/messages/{message_id}").json()
        return body if body["status"] in statuses else None

    return wait_for(check, what=f"{message_id} to become {'/'.join(statuses)}")  # type: ignore[no-any-return]


def smtp_transport(port: int, **extra: Any) -> dict[str, Any]:
    """A transport body for an SMTP server on 127.0.0.1:port."""
    config = {"host": "127.0.0.1", "port": port, "security": "none", **extra.pop("config", {})}
    return {
        "name": extra.pop("name", "main"),
        "kind": "smtp",
        "default": extra.pop("default", True),
        "mode": extra.pop("mode", "queued"),
        "sender": extra.pop("sender", "noreply@acme.example.com"),
        "config": config,
        **extra,
    }
