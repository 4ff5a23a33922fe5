"""Failover: after N attempts through a transport, send through its fallback.

A transport with ``fallback_transport_id`` and ``failover_after`` = N hands a
message to the fallback from its N-th retry on (``attempts >= N``: N transient
failures through the primary). The fallback must be enabled; a deleted or disabled
fallback means no failover, and the primary keeps trying. The message keeps its
transport (journals and quotas count it there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar


class _Row(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def fallback_transport_id(self) -> str | None: ...
    @property
    def failover_after(self) -> int | None: ...


def fallback_ids(rows: Mapping[str, _Row]) -> set[str]:
    """Fallbacks the batch may need that are not loaded yet."""
    return {
        r.fallback_transport_id
        for r in rows.values()
        if r.fallback_transport_id and r.failover_after and r.fallback_transport_id not in rows
    }


R = TypeVar("R", bound=_Row)


def route(row: R, rows: Mapping[str, R], attempts: int) -> R:
    """The transport to use for a message already tried ``attempts`` times through ``row``."""
    if not row.fallback_transport_id or not row.failover_after or attempts < row.failover_after:
        return row
    fallback = rows.get(row.fallback_transport_id)
    return fallback if fallback is not None and fallback.enabled else row
