"""When to try a deferred message again."""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def next_attempt(
    now: datetime, attempts: int, *, base: float, cap: float, rng: random.Random | None = None
) -> datetime:
    """Exponential backoff with jitter: base·2^(n-1), capped, drawn from [½, 1]× of that.

    The jitter spreads retries of a burst that failed together (a server outage)
    so they do not all come back in the same second.
    """
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    r = (rng or random).uniform(0.5, 1.0)
    return now + timedelta(seconds=delay * r)
