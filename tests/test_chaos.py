"""Nothing lost, proven small: a chaos round with SIGKILLs on SQLite and PostgreSQL.

Not in ``make test`` (minutes, the whole machine): ``make chaos`` or
``.venv/bin/pytest -m chaos``. The full-size run (10,000 messages each way, 100
kills) is ``benchmarks/chaos.py`` itself; docs/performance.md has its counts.

What must hold after any round (docs/queue.md, "Crashes"):

* every message the API accepted reached the sink; every message the listener
  acknowledged is stored exactly once, in exactly one conversation; nothing is left
  in ``sending``, ``queued``/``deferred``, ``received`` or ``processing``;
* extra copies come only from SIGKILLs: a kill repeats at most the killed process's
  delivery window (``MAILGATE_DELIVERY_WINDOW``, set to :data:`WINDOW` here), so
  the round's duplicates are at most ``kills × WINDOW``, and each one is explained
  by a kill between its first copy and the next (none by a lease taken over from a
  live worker).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

WINDOW = 8


@pytest.mark.chaos
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_chaos_round_loses_nothing(
    store: str, chaos_round: Callable[..., dict[str, Any]]
) -> None:
    r = chaos_round(
        "--store", store, "--messages", "600", "--kills", "8", "--seed", "2026",
        env={"MAILGATE_DELIVERY_WINDOW": str(WINDOW)},
    )  # fmt: skip
    kills = r["kills_total"]
    assert kills == 8
    # Outbound: at least once.
    assert (r["out_accepted"], r["out_delivered_distinct"], r["out_lost"]) == (600, 600, 0)
    assert r["out_duplicate_copies"] <= kills * WINDOW
    causes = r["out_duplicate_causes"]
    assert causes.get("stale_takeover", 0) == 0, causes  # a live worker kept its leases
    assert causes.get("unexplained", 0) == 0, causes
    # Inbound: acknowledged means stored, once, in one conversation.
    assert (r["in_acked"], r["in_stored_acked"], r["in_lost"]) == (600, 600, 0)
    assert r["in_stored_twice"] == 0
    assert r["duplicate_conversations"] == 0
    assert r["inbound_without_conversation"] == 0
    assert r["stuck"] == {}
    assert r["ok"] is True
